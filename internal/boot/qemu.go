// Package boot starts a kernel under QEMU with its serial console captured
// and waits for a line that proves the guest came up.
package boot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Options describe one boot.
type Options struct {
	Kernel string
	Initrd string
	// Image is a Kata disk image (kata-containers.img), attached as ImageAs
	// says: nvdimm (default) or virtio-blk.
	Image   string
	ImageAs string
	Append  string // kernel command line; a serial console by default
	Expect  string // text whose appearance on the console means success
	Timeout time.Duration
	Memory  int // MiB
	// Accel is QEMU's accelerator: tcg (software emulation, the default:
	// it works everywhere, nested virtual machines included) or kvm.
	Accel string
	// Console receives everything the guest prints, as it comes.
	Console io.Writer
	// CPUs is the number of virtual CPUs; 1 when 0.
	CPUs int
	// NICs are network card models (igb, e1000e, virtio-net-pci), all on
	// one QEMU hub: every port is wired to every other, and to nothing
	// outside the guest. None when empty.
	NICs []string
	// Stop, when set, is asked after every console line (with all lines so
	// far) whether the boot is done; it stands beside Expect for guests
	// whose success is several lines.
	Stop func(console []string) bool
	// Arrived receives, when Run returns, the time each console line
	// arrived, measured from QEMU's start: Arrived[i] is Lines[i]'s.
	Arrived *[]time.Duration
	// Lines receives the whole console when Run returns.
	Lines *[]string
}

// QEMUBinary is the emulator for x86_64 guests.
const QEMUBinary = "qemu-system-x86_64"

// Args is the QEMU command line for the options: a q35 machine without
// display or network, the serial console on stdio, and no reboot, so that a
// guest that reboots or panics (panic=-1) makes QEMU exit.
func Args(o Options) []string {
	machine, memory := "q35", fmt.Sprint(o.Memory)
	var disk []string
	appendLine := o.Append
	switch {
	case o.Image != "" && o.ImageAs == "virtio-blk":
		disk = []string{"-drive", "file=" + o.Image + ",if=none,id=rootfs,format=raw,readonly=on",
			"-device", "virtio-blk-pci,drive=rootfs"}
		appendLine += " root=/dev/vda1 rootfstype=ext4 ro"
	case o.Image != "":
		// As Kata's runtime attaches the image: a file-backed NVDIMM whose
		// first partition the kernel mounts with DAX, reading the guest's
		// pages straight from the host's page cache.
		machine += ",nvdimm=on"
		memory += fmt.Sprintf(",slots=2,maxmem=%dM", int64(o.Memory)+o.imageMiB()+64)
		disk = []string{
			"-object", fmt.Sprintf("memory-backend-file,id=rootfs,mem-path=%s,size=%dM,share=on,readonly=on", o.Image, o.imageMiB()),
			"-device", "nvdimm,id=nv0,memdev=rootfs,unarmed=on",
		}
		appendLine += " root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4"
	}
	args := []string{
		"-machine", machine, "-m", memory, "-nographic", "-no-reboot", "-nodefaults",
		"-serial", "stdio", "-kernel", o.Kernel,
	}
	if o.CPUs > 1 {
		args = append(args, "-smp", fmt.Sprint(o.CPUs))
	}
	if len(o.NICs) == 0 {
		args = append(args, "-nic", "none")
	}
	for i, model := range o.NICs {
		// Fixed MAC addresses and PCI slots: the guest sees the same ports
		// on every boot. The slots are four apart because an igb reserves
		// the functions of its virtual functions sixteen slots above its
		// own (two slots for its eight VFs), where QEMU's next free slot
		// would put the next card's.
		args = append(args, "-netdev", fmt.Sprintf("hubport,id=port%d,hubid=0", i),
			"-device", fmt.Sprintf("%s,netdev=port%d,mac=52:54:00:4b:46:%02x,addr=0x%x", model, i, i+1, nicSlot(i)))
	}
	args = append(args, "-accel", o.Accel)
	if o.Initrd != "" {
		args = append(args, "-initrd", o.Initrd)
	}
	args = append(args, disk...)
	return append(args, "-append", appendLine)
}

// MaxNICs is how many NICs a machine can have in the slots nicSlot gives.
const MaxNICs = 4

// nicSlot is the PCI slot of the i-th NIC: 4, 8, 12, 16, clear of the VF
// slots (20 and up) of igb cards there.
func nicSlot(i int) int { return 4 + 4*i }

// imageMiB is the image's size in MiB, rounded up (QEMU maps whole pages).
func (o Options) imageMiB() int64 {
	st, err := os.Stat(o.Image)
	if err != nil {
		return 0
	}
	return (st.Size() + 1<<20 - 1) >> 20
}

// Run boots and returns nil once Expect was seen (QEMU is then stopped), or
// an error with the end of the console when QEMU exits first or time runs out.
func Run(ctx context.Context, o Options) error {
	if o.Memory == 0 {
		o.Memory = 256
	}
	if o.Accel == "" {
		o.Accel = "tcg"
	}
	if o.Append == "" {
		o.Append = "console=ttyS0 panic=-1"
	}
	if o.Console == nil {
		o.Console = io.Discard
	}
	bin, err := exec.LookPath(QEMUBinary)
	if err != nil {
		return fmt.Errorf("%s not found: install it with `apt-get install qemu-system-x86` (or `make deps`)", QEMUBinary)
	}
	if o.ImageAs != "" && o.ImageAs != "nvdimm" && o.ImageAs != "virtio-blk" {
		return fmt.Errorf("boot: --image-as %q: use nvdimm or virtio-blk", o.ImageAs)
	}
	for _, f := range []string{o.Kernel, o.Initrd, o.Image} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("boot: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, Args(o)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	tail := &lastLines{n: 20}
	found := make(chan struct{})
	read := make(chan struct{})
	var once sync.Once
	var console []string
	var arrived []time.Duration
	started := time.Now()
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(o.Console, line)
			tail.add(line)
			console = append(console, line)
			arrived = append(arrived, time.Since(started))
			if (o.Expect != "" && strings.Contains(line, o.Expect)) || (o.Stop != nil && o.Stop(console)) {
				once.Do(func() { close(found) })
			}
		}
	}()
	if o.Lines != nil || o.Arrived != nil {
		defer func() {
			<-read
			if o.Lines != nil {
				*o.Lines = console
			}
			if o.Arrived != nil {
				*o.Arrived = arrived
			}
		}()
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case <-found:
		cancel()
		<-waitErr
		return nil
	case err := <-waitErr:
		select {
		case <-found:
			return nil
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			what := fmt.Sprintf("%q did not appear", o.Expect)
			if o.Expect == "" {
				what = "the test's lines did not appear"
			}
			return fmt.Errorf("%s on the console within %s; last lines:\n%s", what, o.Timeout, tail)
		}
		if o.Expect == "" && o.Stop == nil && err == nil {
			return nil
		}
		want := fmt.Sprintf("%q appeared", o.Expect)
		if o.Expect == "" {
			want = "the test's lines appeared"
		}
		return fmt.Errorf("QEMU exited (%v) before %s on the console; last lines:\n%s%s", err, want, tail, stderr.String())
	}
}

// lastLines keeps the end of the console for error messages.
type lastLines struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func (l *lastLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > l.n {
		l.lines = l.lines[1:]
	}
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "  " + strings.Join(l.lines, "\n  ")
}

// KernelBanner starts the kernel's first console line ("Linux version 6.12...").
const KernelBanner = "Linux version "

// KernelStart is when the kernel's banner reached the console (from QEMU's
// start), the zero point of a boot's timings; false when it never did.
func KernelStart(lines []string, arrived []time.Duration) (time.Duration, bool) {
	for i, l := range lines {
		if i < len(arrived) && strings.Contains(l, KernelBanner) {
			return arrived[i], true
		}
	}
	return 0, false
}
