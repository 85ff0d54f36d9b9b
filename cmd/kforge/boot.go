package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kforge/kforge/internal/boot"
)

func newBootCommand() *cobra.Command {
	var o boot.Options
	var quiet bool
	cmd := &cobra.Command{
		Use:   "boot --kernel FILE [--initrd FILE | --image FILE] [--expect TEXT] [--timeout S]",
		Short: "Boot a kernel in QEMU and wait for a line on its serial console",
		Long: `boot starts the kernel in qemu-system-x86_64 (software emulation unless
--accel kvm) with its serial console on stdout. With
--expect it passes as soon as TEXT appears on the console and fails when QEMU
exits first or the timeout passes; the guest should reboot or power off when
done (QEMU runs with -no-reboot, and panic=-1 is on the command line).

--image attaches a Kata disk image (kata-containers.img) the way Kata's
runtime does: as an NVDIMM backed by the file (memory-backend-file,
share=on, read-only) with root=/dev/pmem0p1 rootflags=dax, or with
--image-as virtio-blk as a disk with root=/dev/vda1.

The time from the kernel's start (its "Linux version" banner on the
console) to the expected line is measured on the host and printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !quiet {
				o.Console = os.Stdout
			}
			var lines []string
			var arrived []time.Duration
			o.Lines, o.Arrived = &lines, &arrived
			if err := boot.Run(cmd.Context(), o); err != nil {
				return err
			}
			if o.Expect != "" {
				fmt.Fprintf(os.Stderr, "kforge: %q appeared on the console%s\n", o.Expect, expectTiming(o.Expect, lines, arrived))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Kernel, "kernel", "", "kernel image (bzImage or vmlinuz)")
	cmd.Flags().StringVar(&o.Initrd, "initrd", "", "initrd (cpio, optionally compressed)")
	cmd.Flags().StringVar(&o.Image, "image", "", "Kata disk image to boot from (root on its first partition)")
	cmd.Flags().StringVar(&o.ImageAs, "image-as", "nvdimm", "how the image is attached: nvdimm (as Kata does) or virtio-blk")
	cmd.Flags().StringVar(&o.Append, "append", "console=ttyS0 panic=-1", "kernel command line")
	cmd.Flags().StringVar(&o.Expect, "expect", "", "text on the console that means the boot succeeded")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 120*time.Second, "how long to wait for --expect")
	cmd.Flags().IntVar(&o.Memory, "memory", 256, "guest memory in MiB")
	cmd.Flags().StringVar(&o.Accel, "accel", "tcg", "QEMU accelerator: tcg or kvm")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "do not copy the console to stdout")
	_ = cmd.MarkFlagRequired("kernel")
	return cmd
}

// expectTiming says how long after the kernel's banner the expected text
// appeared, or nothing when the console has no banner.
func expectTiming(expect string, lines []string, arrived []time.Duration) string {
	start, ok := boot.KernelStart(lines, arrived)
	if !ok {
		return ""
	}
	for i, l := range lines {
		if i < len(arrived) && strings.Contains(l, expect) {
			return fmt.Sprintf(" %.1f s after the kernel started (its banner came %.1f s after QEMU started)",
				(arrived[i] - start).Seconds(), start.Seconds())
		}
	}
	return ""
}
