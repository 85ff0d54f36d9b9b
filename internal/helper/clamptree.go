package helper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// CopyTreeClamped copies the tree at src into dst (an empty directory) as
// a container image layer wants it: owners, modes, hard links, symlinks,
// device nodes and file capabilities kept, and every time clamped to
// epoch, so that package installs and maintainer scripts that ran at build
// time leave no trace of when they ran. Entries are visited in byte order.
func CopyTreeClamped(src, dst string, epoch int64) error {
	c := &treeCopy{epoch: unix.NsecToTimespec(epoch * 1e9), links: map[inode]string{}}
	if err := c.copyDir(src, dst); err != nil {
		return err
	}
	return nil
}

type inode struct{ dev, ino uint64 }

type treeCopy struct {
	epoch unix.Timespec
	links map[inode]string // first copy of each multiply-linked file
}

func (c *treeCopy) copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, name := range names {
		if err := c.copyEntry(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	return c.finish(src, dst, &st)
}

func (c *treeCopy) copyEntry(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	mode := st.Mode & unix.S_IFMT
	if mode != unix.S_IFDIR && st.Nlink > 1 {
		key := inode{uint64(st.Dev), st.Ino}
		if first, ok := c.links[key]; ok {
			return os.Link(first, dst)
		}
		c.links[key] = dst
	}
	switch mode {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		return c.copyDir(src, dst)
	case unix.S_IFREG:
		if err := copyFile(src, dst); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	default: // sockets belong to running programs, not to an image
		return nil
	}
	return c.finish(src, dst, &st)
}

// finish gives dst the owner, mode, capabilities and clamped times of src.
func (c *treeCopy) finish(src, dst string, st *unix.Stat_t) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// After chown, which clears set-id bits.
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return err
		}
		if err := copyCapabilities(src, dst, st); err != nil {
			return err
		}
	}
	times := []unix.Timespec{c.clamp(st.Atim), c.clamp(st.Mtim)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, times, unix.AT_SYMLINK_NOFOLLOW)
}

func (c *treeCopy) clamp(t unix.Timespec) unix.Timespec {
	if t.Nano() > c.epoch.Nano() {
		return c.epoch
	}
	return t
}

// copyCapabilities keeps file capabilities (setcap in maintainer scripts,
// such as ping's cap_net_raw); other extended attributes are left out, as
// an image layer does.
func copyCapabilities(src, dst string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(src, capabilityXattr, buf)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: reading %s: %w", src, capabilityXattr, err)
	}
	return unix.Lsetxattr(dst, capabilityXattr, buf[:n], 0)
}

const capabilityXattr = "security.capability"

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
