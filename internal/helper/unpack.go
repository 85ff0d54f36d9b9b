// Package helper holds the logic of the steps that run inside a build graph
// as `kforge helper ...`: the same static binary, mounted into the step.
package helper

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"pault.ag/go/debian/deb"
)

// MergedUsrDirs are the top-level directories that Debian 12 keeps as
// symlinks into /usr, as debootstrap lays them out before unpacking.
var MergedUsrDirs = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// UnpackDebs extracts the data archive of each .deb into root, in the order
// given, the way debootstrap's first stage does: files, directories, links and
// modes land; the package database is left to dpkg in a later step.
func UnpackDebs(root string, debs []string) error {
	if err := layOutMergedUsr(root); err != nil {
		return err
	}
	for _, p := range debs {
		if err := unpackDeb(root, p); err != nil {
			return fmt.Errorf("unpacking %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

func layOutMergedUsr(root string) error {
	for _, d := range MergedUsrDirs {
		if err := os.MkdirAll(filepath.Join(root, "usr", d), 0o755); err != nil {
			return err
		}
		link := filepath.Join(root, d)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink("usr/"+d, link); err != nil {
			return err
		}
	}
	return nil
}

func unpackDeb(root, debPath string) error {
	f, err := os.Open(debPath)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := deb.Load(f, debPath)
	if err != nil {
		return err
	}
	defer d.Close()
	return extractAll(root, d.Data)
}

// extractAll writes every entry of a tar stream below root.
func extractAll(root string, tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := extractEntry(root, tr, hdr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

// extractEntry writes one tar entry below root. Paths are resolved as if root
// were "/", so that a symlink such as /var/run -> /run, or the merged-/usr
// links, lead to the right place inside root and never out of it.
func extractEntry(root string, r io.Reader, hdr *tar.Header) error {
	name := path.Clean("/" + hdr.Name)
	if name == "/" {
		return nil
	}
	parent, err := securejoin.SecureJoin(root, path.Dir(name))
	if err != nil {
		return err
	}
	target := filepath.Join(parent, path.Base(name))
	mode := os.FileMode(hdr.Mode).Perm() | modeBits(hdr.Mode)

	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Stat(target); err == nil && fi.IsDir() {
			return nil // an existing directory (or merged-/usr link) is kept as it is
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(target, 0o755); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := removeNonDir(target); err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		if err := os.Chtimes(target, hdr.ModTime, hdr.ModTime); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := removeNonDir(target); err != nil {
			return err
		}
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		src, err := securejoin.SecureJoin(root, path.Clean("/"+hdr.Linkname))
		if err != nil {
			return err
		}
		if err := removeNonDir(target); err != nil {
			return err
		}
		return os.Link(src, target)
	default:
		return nil // device nodes and fifos are made by maintainer scripts, if at all
	}
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	return os.Chmod(target, mode)
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

func removeNonDir(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	return os.Remove(p)
}

// DebPaths lists the .deb files given on the command line, expanding
// directories to the .deb files they hold, sorted.
func DebPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.deb"))
		if err != nil {
			return nil, err
		}
		out = append(out, matches...)
	}
	for _, p := range out {
		if !strings.HasSuffix(p, ".deb") {
			return nil, fmt.Errorf("%s is not a .deb file", p)
		}
	}
	return out, nil
}
