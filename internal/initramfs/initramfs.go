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
	"github.com/klauspost/compress/zstd"
)

// WriteDir archives the tree at root (root itself is "/", not included)
// to w, gzip-compressed when gz is set.
func WriteDir(w io.Writer, root string, epoch int64, gz bool) error {
	opt := Options{Epoch: epoch}
	if gz {
		opt.Compression = "gzip"
	}
	return Write(w, root, opt)
}

// Options shape an initrd.
type Options struct {
	Epoch int64 // SOURCE_DATE_EPOCH: the latest mtime an entry may have
	// Compression is "", "gzip" or "zstd"; each is written with a fixed
	// header (no name, no time) and one encoder thread, so that the same
	// tree gives the same bytes.
	Compression string
	// Init, when set and the tree has no /init, adds /init as a symlink to
	// it, as Kata's initrd_builder.sh does (ln -sf /sbin/init init).
	Init string
	// Fast compresses at the fastest level rather than the smallest: for
	// an initrd that is booted once and thrown away, such as a boot
	// test's, where gzip -9 of a large tree costs minutes.
	Fast bool
}

// Write archives the tree at root (root itself is "/", not included) to w.
func Write(w io.Writer, root string, opt Options) error {
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

	out, closeOut, err := compressor(w, opt.Compression, opt.Fast)
	if err != nil {
		return err
	}
	cw := cpio.NewWriter(out)
	clamp := time.Unix(opt.Epoch, 0)
	addInit := opt.Init != ""
	for _, p := range paths {
		name := relName(root, p)
		if name == "init" {
			addInit = false
		}
		// "init" sorts among the others: the link goes where it belongs.
		if addInit && name > "init" {
			if err := writeInitLink(cw, opt.Init, clamp); err != nil {
				return err
			}
			addInit = false
		}
		if err := writeEntry(cw, root, p, clamp); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if addInit {
		if err := writeInitLink(cw, opt.Init, clamp); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return closeOut()
}

func writeInitLink(cw *cpio.Writer, target string, mtime time.Time) error {
	hdr := &cpio.Header{Name: "init", Mode: cpio.TypeSymlink | 0o777, Linkname: target, Links: 1, ModTime: mtime, Size: int64(len(target))}
	if err := cw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := cw.Write([]byte(target))
	return err
}

// compressor wraps w in the named compression; close flushes it.
func compressor(w io.Writer, name string, fast bool) (io.Writer, func() error, error) {
	gzipLevel, zstdLevel := gzip.BestCompression, zstd.SpeedBestCompression
	if fast {
		gzipLevel, zstdLevel = gzip.BestSpeed, zstd.SpeedFastest
	}
	switch name {
	case "":
		return w, func() error { return nil }, nil
	case "gzip":
		zw, _ := gzip.NewWriterLevel(w, gzipLevel)
		zw.Header = gzip.Header{OS: 255} // no name, no time: the same bytes every time
		return zw, zw.Close, nil
	case "zstd":
		// One thread: a parallel encoder may cut blocks differently from run
		// to run.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstdLevel),
			zstd.WithEncoderCRC(true), zstd.WithWindowSize(8<<20))
		if err != nil {
			return nil, nil, err
		}
		return zw, zw.Close, nil
	}
	return nil, nil, fmt.Errorf("compression %q is not gzip or zstd", name)
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
