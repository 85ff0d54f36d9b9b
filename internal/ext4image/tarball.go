package ext4image

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// writeTarball writes the scanned tree as the POSIX tar that mke2fs -d
// (e2fsprogs 1.47.1 and later) reads through libarchive: entries in the
// scan's sorted order (mke2fs creates them in the order it reads them, so
// the order fixes the inode numbers and directory layouts), owners as
// numbers, mtimes clamped to the epoch with their nanoseconds, atime and
// ctime the epoch, device numbers, hard links to the first name met, and
// xattrs as SCHILY.xattr records. Sockets were left out by the scan.
func writeTarball(path string, t *tree, epoch int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(w)
	var walk func(n *node) error
	walk = func(n *node) error {
		if err := writeEntry(tw, n, epoch); err != nil {
			return fmt.Errorf("%s: %w", n.src, err)
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	err = walk(t.root)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// tarName is an entry's name in the tarball: "./" for the root (mke2fs
// gives its mode, owner, times and xattrs to the root inode), "./a/b" below.
func tarName(n *node) string {
	if n.path == "/" {
		return "./"
	}
	if n.isDir() {
		return "." + n.path + "/"
	}
	return "." + n.path
}

func writeEntry(tw *tar.Writer, n *node, epoch int64) error {
	at := time.Unix(epoch, 0)
	h := &tar.Header{
		Name:       tarName(n),
		Mode:       int64(n.st.Mode & 07777),
		Uid:        int(n.st.Uid),
		Gid:        int(n.st.Gid),
		ModTime:    time.Unix(n.mtime(epoch)),
		AccessTime: at,
		ChangeTime: at,
		Format:     tar.FormatPAX,
	}
	// Names are bytes in ext4 and need not be UTF-8: hdrcharset=BINARY
	// has libarchive take the path and link records as they are, rather
	// than convert them to the locale.
	h.PAXRecords = map[string]string{"hdrcharset": "BINARY"}
	for _, x := range n.xattrs {
		h.PAXRecords["SCHILY.xattr."+x.name] = string(x.value)
	}
	if n.linkTo != "" {
		h.Typeflag, h.Linkname = tar.TypeLink, "."+n.linkTo
		return tw.WriteHeader(h)
	}
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
	case unix.S_IFLNK:
		h.Typeflag, h.Linkname = tar.TypeSymlink, n.target
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if n.st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(n.st.Rdev)), int64(unix.Minor(n.st.Rdev))
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	case unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, n.st.Size
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		return copyFile(tw, n)
	}
	return tw.WriteHeader(h)
}

// copyFile copies a regular file's content; a file whose size changed since
// the scan is an error rather than a short or long entry.
func copyFile(tw *tar.Writer, n *node) error {
	f, err := os.Open(n.src)
	if err != nil {
		return err
	}
	defer f.Close()
	written, err := io.Copy(tw, f)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("grew while the image was made")
		}
		return err
	}
	if written != n.st.Size {
		return fmt.Errorf("shrank while the image was made (%d of %d bytes)", written, n.st.Size)
	}
	return nil
}

// tarballKeepsXattr reports the xattrs that mke2fs copies from a tarball:
// only file capabilities (e2fsprogs 1.47.2 drops every other name).
func tarballKeepsXattr(name string) bool { return name == "security.capability" }

// writeFixups writes the debugfs commands that give a filesystem filled by
// mke2fs -d (method MethodTarball or MethodDirectory) what mke2fs does not
// take from the tree: the nanoseconds of mtimes; from a tarball, the
// xattrs other than file capabilities; from a directory, the attributes of
// the root and of a top-level lost+found, which mke2fs makes itself. A
// Debian rootfs usually needs none of it (package files carry whole
// seconds, later files are clamped to the epoch, the root is root's and
// 0755), so the run is short or skipped. It reports how many commands it
// wrote.
func writeFixups(path, scratch string, t *tree, epoch int64, method string) (int, error) {
	c, err := newCmdFile(path)
	if err != nil {
		return 0, err
	}
	a := &attrWriter{c: c, t: t, epoch: epoch, scratch: scratch}
	n := 0
	var walk func(x *node)
	walk = func(x *node) {
		if x.linkTo != "" {
			return // the inode is fixed under its first name
		}
		r := quote(x.path)
		made := method == MethodDirectory && (x == t.root || x.path == "/lost+found")
		if made {
			mode := uint32(unix.S_IFDIR | 0o755)
			if x != t.root {
				mode = unix.S_IFDIR | 0o700
			}
			n += a.owner(r, x, mode)
		}
		// mke2fs kept the seconds of the (clamped) mtime.
		if sec, nsec := x.mtime(epoch); nsec != 0 || made {
			a.time(r, "mtime", sec, nsec)
			n++
		}
		for _, xa := range x.xattrs {
			if made || (method == MethodTarball && !tarballKeepsXattr(xa.name)) {
				a.xattr(r, xa)
				n++
			}
		}
		for _, ch := range x.children {
			walk(ch)
		}
	}
	walk(t.root)
	if a.err != nil {
		c.close()
		return 0, a.err
	}
	return n, c.close()
}
