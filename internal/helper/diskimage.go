package helper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kforge/kforge/internal/diskimage"
	"github.com/kforge/kforge/internal/ext4image"
)

const mib = 1 << 20

// DiskImageOptions shape kata-containers.img.
type DiskImageOptions struct {
	Epoch   int64
	SizeMiB int64 // the whole image; 0 computes it from the content
	FreeMiB int64 // room left free in a computed size
	DAX     bool
	Stage   string // scratch directory (a tmpfs in the build step)
}

// DiskImage makes a Kata disk image of the rootfs: an ext4 filesystem that
// fills the partition of Kata's layout, made from the tree without loop
// devices or mounts, placed behind the MBRs and the DAX header. The image
// appears at out only when complete.
func DiskImage(rootfs, out string, opt DiskImageOptions, log io.Writer) error {
	start := time.Now()
	reportPrivileges(log)
	overhead := int64(diskimage.PartitionStart + diskimage.TailReserve)
	if opt.DAX {
		overhead += diskimage.DAXHeaderSize
	}
	// With a journal, as Kata's images have one: its runtime mounts the root
	// with data=ordered, which ext4 refuses on a filesystem without.
	fsOpt := ext4image.Options{Epoch: opt.Epoch, Label: "rootfs", Staging: opt.Stage, Journal: true}
	if opt.SizeMiB > 0 {
		fsSize := opt.SizeMiB*mib - overhead
		if fsSize <= 0 {
			return fmt.Errorf("an image of %d MiB has no room for a filesystem", opt.SizeMiB)
		}
		fsOpt.SizeBytes = fsSize / 4096 * 4096
	} else {
		// The filesystem fills Kata's partition: the content plus the free
		// space, sized so that with the 4 MiB around it (MBRs, DAX header,
		// tail) the image is a multiple of 128 MiB.
		fsOpt.FreeBytes = opt.FreeMiB * mib
		fsOpt.AlignBytes = diskimage.ImageAlignment
		fsOpt.AlignOffset = diskimage.PartitionStart + diskimage.TailReserve + diskimage.DAXHeaderSize
	}
	// The filesystem is made in place, at the partition's offset of a file
	// beside out that becomes the image once its headers are added: it is
	// written once, never copied.
	fsOpt.Offset = diskimage.PartStartOf(opt.DAX)
	fsFile := out + ".partial"
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	res, err := ext4image.Build(rootfs, fsFile, fsOpt)
	built := time.Now()
	var small *ext4image.TooSmallError
	if errors.As(err, &small) && opt.SizeMiB > 0 {
		return fmt.Errorf("the rootfs (%d MiB of data in %d inodes) does not fit the fixed image size of %d MiB: raise the image's size, or leave it out to size the image from its content",
			(small.DataBytes+mib-1)/mib, small.Inodes, opt.SizeMiB)
	}
	if err != nil {
		return err
	}
	defer os.Remove(fsFile)
	fmt.Fprintf(log, "kforge: ext4 of %d MiB: %d MiB of data in %d inodes, %d MiB free (filled by %s)\n",
		res.SizeBytes/mib, res.DataBytes/mib, res.Inodes, res.FreeBytes/mib, fillMethod[res.Method])
	if layout, err := diskimage.NewLayout(res.SizeBytes, opt.DAX); err != nil {
		return err
	} else if opt.SizeMiB == 0 && layout.PartSize != res.SizeBytes {
		return fmt.Errorf("the filesystem (%d bytes) does not fill the partition of Kata's layout (%d bytes)", res.SizeBytes, layout.PartSize)
	}
	f, err := os.OpenFile(fsFile, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := diskimage.AddHeaders(f, res.SizeBytes, opt.DAX, [16]byte{}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(fsFile, out); err != nil {
		return err
	}
	// What the image took, scan to headers: the step's own work, which the
	// bench sets against mkfs.ext4 -d on the same tree.
	tm := res.Times
	fmt.Fprintf(log, "kforge: kata-containers.img made in %.2fs (scan %.2fs, sizing %.2fs, fill %.2fs with %.2fs for the tarball, check %.2fs, headers %.2fs)\n",
		time.Since(start).Seconds(), tm.Scan.Seconds(), tm.Size.Seconds(), tm.Fill.Seconds(), tm.Tarball.Seconds(), tm.Check.Seconds(), time.Since(built).Seconds())
	return nil
}

// fillMethod says how each ext4image method fills the filesystem.
var fillMethod = map[string]string{
	ext4image.MethodDirectory: "mke2fs -d from the tree",
	ext4image.MethodTarball:   "mke2fs -d from a tarball of the tree",
	ext4image.MethodDebugfs:   "debugfs, e2fsprogs before 1.47.1",
}

// capSysAdmin is CAP_SYS_ADMIN's bit in the capability sets.
const capSysAdmin = 21

// reportPrivileges says what the step may do: its effective capabilities
// and whether it sees loop devices. An image made here needed neither.
func reportPrivileges(log io.Writer) {
	status, _ := os.ReadFile("/proc/self/status")
	capEff := "unknown"
	admin := "unknown"
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			capEff = strings.TrimSpace(v)
			if n, err := strconv.ParseUint(capEff, 16, 64); err == nil {
				admin = "absent"
				if n&(1<<capSysAdmin) != 0 {
					admin = "present"
				}
			}
		}
	}
	loops, _ := filepath.Glob("/dev/loop*")
	fmt.Fprintf(log, "kforge: image step: CapEff=%s, CAP_SYS_ADMIN %s, loop devices visible: %d\n", capEff, admin, len(loops))
}
