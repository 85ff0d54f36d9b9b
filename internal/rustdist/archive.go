package rustdist

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
)

// The rust-installer layout that rustup reads (rustup
// src/dist/component/package.rs): <top>/rust-installer-version holding
// "3", <top>/components with one component name a line, and per component
// <top>/<component>/manifest.in.
const (
	installerVersionFile = "rust-installer-version"
	installerVersion     = "3"
	componentsFile       = "components"
	installScript        = "install.sh"
	manifestIn           = "manifest.in"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// entry is one tar entry below the top directory.
type entry struct {
	typ  byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode int64
	link string
	off  int64 // of a regular file's content in the archive's blob
	size int64
}

// archive is a read dist tarball.
type archive struct {
	path       string
	top        string            // the one top directory
	entries    map[string]*entry // by path below top; "" is top itself
	blob       *os.File          // regular file contents
	components []string          // from <top>/components, in file order
}

// readArchive reads the tarball at p into an archive, storing regular file
// contents in blob.
func readArchive(p string, isXZ bool, blob *os.File) (*archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("rustdist: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(len(xzMagic))
	var r io.Reader
	if isXZ {
		if !bytes.HasPrefix(magic, xzMagic) {
			return nil, fmt.Errorf("rustdist: %s is not xz-compressed", p)
		}
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("rustdist: %s: %w", p, err)
		}
		r = xr
	} else {
		if !bytes.HasPrefix(magic, gzipMagic) {
			return nil, fmt.Errorf("rustdist: %s is not gzip-compressed", p)
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("rustdist: %s: %w", p, err)
		}
		r = zr
	}

	a := &archive{path: p, entries: map[string]*entry{}, blob: blob}
	bw := bufio.NewWriterSize(blob, 1<<20)
	var off int64
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rustdist: %s: reading tar: %w", p, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, fmt.Errorf("rustdist: %s: %w", p, err)
		}
		top, rel, _ := strings.Cut(name, "/")
		if a.top == "" {
			a.top = top
		} else if top != a.top {
			return nil, fmt.Errorf("rustdist: %s is not a dist tarball: it has more than one top directory (%s/ and %s/)", p, a.top, top)
		}
		e := &entry{typ: h.Typeflag}
		switch h.Typeflag {
		case tar.TypeDir:
			e.mode = 0o755
		case tar.TypeReg:
			if rel == "" {
				return nil, fmt.Errorf("rustdist: %s is not a dist tarball: %s is a file at the top", p, name)
			}
			e.mode = 0o644
			if h.Mode&0o111 != 0 {
				e.mode = 0o755
			}
			n, err := io.Copy(bw, tr)
			if err != nil {
				return nil, fmt.Errorf("rustdist: %s: reading %s: %w", p, name, err)
			}
			e.off, e.size = off, n
			off += n
		case tar.TypeSymlink:
			if rel == "" {
				return nil, fmt.Errorf("rustdist: %s is not a dist tarball: %s is a symlink at the top", p, name)
			}
			e.mode, e.link = 0o777, h.Linkname
		default:
			return nil, fmt.Errorf("rustdist: %s: %s is a %s; dist tarballs hold only files, directories and symlinks", p, name, typeName(h.Typeflag))
		}
		if prev, ok := a.entries[rel]; ok {
			if prev.typ == tar.TypeDir && e.typ == tar.TypeDir {
				continue
			}
			return nil, fmt.Errorf("rustdist: %s: %s appears twice", p, name)
		}
		a.entries[rel] = e
	}
	// Read to the end so that the compressed stream's checksum is checked.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("rustdist: %s: %w", p, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("rustdist: %w", err)
	}
	if a.top == "" {
		return nil, fmt.Errorf("rustdist: %s is not a dist tarball: it is empty", p)
	}

	// Add directories that the tarball implies but does not list, so that
	// every output lists each directory before its contents.
	rels := make([]string, 0, len(a.entries))
	for rel := range a.entries {
		rels = append(rels, rel)
	}
	a.entries[""] = &entry{typ: tar.TypeDir, mode: 0o755}
	for _, rel := range rels {
		for d := parentOf(rel); ; d = parentOf(d) {
			if pe, ok := a.entries[d]; ok {
				if pe.typ != tar.TypeDir {
					return nil, fmt.Errorf("rustdist: %s: %s/%s is inside %s/%s, which is not a directory", p, a.top, rel, a.top, d)
				}
				break
			}
			a.entries[d] = &entry{typ: tar.TypeDir, mode: 0o755}
		}
	}
	return a, nil
}

// parentOf is rel's directory, "" for top-level names.
func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// cleanName makes a tar entry name relative and slash-clean, refusing
// names that climb out.
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimRight(n, "/")
	if n == "" || n == "." || strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("tar entry %q is not a relative path", name)
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("tar entry %q leaves the archive", name)
	}
	return c, nil
}

// read returns a small regular file's content.
func (a *archive) read(rel string) ([]byte, error) {
	e := a.entries[rel]
	if e == nil || e.typ != tar.TypeReg {
		return nil, fmt.Errorf("rustdist: %s: no file %s/%s", a.path, a.top, rel)
	}
	if e.size > 1<<20 {
		return nil, fmt.Errorf("rustdist: %s: %s/%s is too big (%d bytes)", a.path, a.top, rel, e.size)
	}
	b := make([]byte, e.size)
	if _, err := a.blob.ReadAt(b, e.off); err != nil && !(errors.Is(err, io.EOF) && e.size == 0) {
		return nil, fmt.Errorf("rustdist: %w", err)
	}
	return b, nil
}

// checkInstaller checks the rust-installer layout and reads the component
// list.
func (a *archive) checkInstaller() error {
	for _, f := range []string{installScript, componentsFile, installerVersionFile} {
		if e := a.entries[f]; e == nil || e.typ != tar.TypeReg {
			return fmt.Errorf("rustdist: %s is not a rust dist tarball: it has no %s/%s", a.path, a.top, f)
		}
	}
	v, err := a.read(installerVersionFile)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(v)); got != installerVersion {
		return fmt.Errorf("rustdist: %s: %s/%s is %q; rustup installs only rust-installer version %s", a.path, a.top, installerVersionFile, got, installerVersion)
	}
	list, err := a.read(componentsFile)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(list), "\n") {
		c := strings.TrimSpace(line)
		if c == "" {
			continue
		}
		if err := checkName("component in "+a.path, c); err != nil {
			return err
		}
		if seen[c] {
			return fmt.Errorf("rustdist: %s: %s/%s lists %s twice", a.path, a.top, componentsFile, c)
		}
		seen[c] = true
		if e := a.entries[c]; e == nil || e.typ != tar.TypeDir {
			return fmt.Errorf("rustdist: %s is not a rust dist tarball: %s/%s lists %s but there is no directory %s/%s/", a.path, a.top, componentsFile, c, a.top, c)
		}
		if e := a.entries[c+"/"+manifestIn]; e == nil || e.typ != tar.TypeReg {
			return fmt.Errorf("rustdist: %s is not a rust dist tarball: it has no %s/%s/%s", a.path, a.top, c, manifestIn)
		}
		a.components = append(a.components, c)
	}
	if len(a.components) == 0 {
		return fmt.Errorf("rustdist: %s is not a rust dist tarball: %s/%s lists no component", a.path, a.top, componentsFile)
	}
	return nil
}

// member is one entry of an output tarball.
type member struct {
	rel  string // below the output's top directory; "" is the top itself
	e    *entry
	data []byte // content in place of e's, when not nil
}

// split is the package for one component: the top directory, its regular
// files (install.sh, rust-installer-version, licences, ...), a components
// file naming just comp, and comp's directory.
func (a *archive) split(comp string) []member {
	var ms []member
	for rel, e := range a.entries {
		switch {
		case rel == componentsFile:
			ms = append(ms, member{rel: rel, e: &entry{typ: tar.TypeReg, mode: 0o644}, data: []byte(comp + "\n")})
		case rel == "", rel == comp, strings.HasPrefix(rel, comp+"/"):
			ms = append(ms, member{rel: rel, e: e})
		case !strings.Contains(rel, "/") && e.typ == tar.TypeReg:
			ms = append(ms, member{rel: rel, e: e})
		}
	}
	sortMembers(ms)
	return ms
}

// whole is every entry of the archive.
func (a *archive) whole() []member {
	ms := make([]member, 0, len(a.entries))
	for rel, e := range a.entries {
		ms = append(ms, member{rel: rel, e: e})
	}
	sortMembers(ms)
	return ms
}

// sortMembers sorts by path; a directory sorts before what it holds since
// its path is a prefix of theirs.
func sortMembers(ms []member) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].rel < ms[j].rel })
}

// writeTarGz writes ms as a gzip-compressed tar with top directory base.
func writeTarGz(w io.Writer, a *archive, base string, ms []member, mtime time.Time) error {
	// The zero gzip.Header: no name, no comment, modification time 0.
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		h := &tar.Header{
			Typeflag: m.e.typ,
			Name:     base,
			Mode:     m.e.mode,
			ModTime:  mtime,
		}
		if m.rel != "" {
			h.Name += "/" + m.rel
		}
		var body io.Reader
		switch m.e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = m.e.link
		case tar.TypeReg:
			if m.data != nil {
				h.Size = int64(len(m.data))
				body = bytes.NewReader(m.data)
			} else {
				h.Size = m.e.size
				body = io.NewSectionReader(a.blob, m.e.off, m.e.size)
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if body != nil {
			if _, err := io.Copy(tw, body); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// bufferedWriter is what writeAtomic hands to fill.
type bufferedWriter = bufio.Writer

// writeAtomic writes dst through a temporary file beside it and renames it
// into place when fill succeeded; it returns the sha256 and size written.
func writeAtomic(dst string, fill func(w *bufferedWriter) error) (string, int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return "", 0, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h, cw), 1<<20)
	if err := fill(bw); err != nil {
		return "", 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	done = true
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
