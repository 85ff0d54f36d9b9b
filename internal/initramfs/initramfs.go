// Package initramfs writes initrds as newc cpio archives that are the same
// bytes for the same tree: entries sorted by path, owners 0, modification
// times clamped to SOURCE_DATE_EPOCH, inodes numbered in order, and a gzip
// stream with a fixed header.
package initramfs

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cavaliergopher/cpio"
)

// WriteDir archives the tree at root (root itself is "/", not included)
// to w, gzip-compressed when gz is set.
func WriteDir(w io.Writer, root string, epoch int64, gz bool) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(paths, func(i, j int) bool { return relName(root, paths[i]) < relName(root, paths[j]) })

	out := w
	var zw *gzip.Writer
	if gz {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestCompression)
		zw.Header = gzip.Header{OS: 255} // no name, no time: the same bytes every time
		out = zw
	}
	cw := cpio.NewWriter(out)
	clamp := time.Unix(epoch, 0)
	for _, p := range paths {
		if err := writeEntry(cw, root, p, clamp); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

func relName(root, p string) string {
	rel, _ := filepath.Rel(root, p)
	return filepath.ToSlash(rel)
}

func writeEntry(cw *cpio.Writer, root, p string, clamp time.Time) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	mtime := fi.ModTime()
	if mtime.After(clamp) {
		mtime = clamp
	}
	hdr := &cpio.Header{Name: relName(root, p), ModTime: mtime, Mode: cpio.FileMode(fi.Mode().Perm())}
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= cpio.ModeSetuid
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= cpio.ModeSetgid
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= cpio.ModeSticky
	}
	var data []byte
	switch {
	case fi.IsDir():
		hdr.Mode |= cpio.TypeDir
		hdr.Links = 2
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Mode |= cpio.TypeSymlink
		hdr.Linkname = target
		hdr.Links = 1
		data = []byte(target)
	case fi.Mode().IsRegular():
		hdr.Mode |= cpio.TypeReg
		hdr.Links = 1
		if data, err = os.ReadFile(p); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported file type %s (device nodes come from the kernel's built-in initramfs)", fi.Mode().Type())
	}
	hdr.Size = int64(len(data))
	if err := cw.WriteHeader(hdr); err != nil {
		return err
	}
	// A symlink's target is its data in newc.
	_, err = cw.Write(data)
	return err
}
