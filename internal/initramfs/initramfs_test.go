package initramfs

import (
	"strings"

	"bytes"
	"compress/gzip"
	"github.com/klauspost/compress/zstd"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

func tree(t *testing.T, mtime time.Time) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "agent"), []byte("agent"), 0o755)
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o644)
	os.Symlink("bin/agent", filepath.Join(root, "init"))
	for _, p := range []string{"bin/agent", "a.txt", "bin", ""} {
		os.Chtimes(filepath.Join(root, p), mtime, mtime)
	}
	return root
}

func TestWriteDirIsReproducibleAndClamped(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteDir(&a, tree(t, time.Now()), 1700000000, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(&b, tree(t, time.Now().Add(time.Hour)), 1700000000, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same tree differ")
	}
	zr, err := gzip.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(zr)
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.ModTime.Unix() != 1700000000 || h.Uid != 0 || h.Guid != 0 {
			t.Errorf("%s: mtime %d owner %d:%d", h.Name, h.ModTime.Unix(), h.Uid, h.Guid)
		}
		if h.Name == "init" && (h.Linkname != "bin/agent" || h.Mode&^cpio.ModePerm != cpio.TypeSymlink) {
			t.Errorf("init symlink: %+v", h)
		}
	}
	if got := filepath.Join(names...); got != filepath.Join("a.txt", "bin", "bin/agent", "init") {
		t.Errorf("entries not sorted: %v", names)
	}
}

func TestZstdWithAddedInitIsReproducible(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "sbin", "init"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(root, "zz"), []byte("last"), 0o644)
	var a, b bytes.Buffer
	for _, buf := range []*bytes.Buffer{&a, &b} {
		if err := Write(buf, root, Options{Epoch: 1700000000, Compression: "zstd", Init: "/sbin/init"}); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two zstd archives of the same tree differ")
	}
	zr, err := zstd.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	r := cpio.NewReader(zr)
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "init" && h.Linkname != "/sbin/init" {
			t.Errorf("/init points at %q", h.Linkname)
		}
	}
	if strings.Join(names, " ") != "init sbin sbin/init zz" {
		t.Errorf("entries: %v", names)
	}
}

// Fast changes only the compression level: the archive inside is the same
// cpio, and the same tree still gives the same bytes.
func TestFastKeepsTheArchive(t *testing.T) {
	root := tree(t, time.Unix(1600000000, 0))
	os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("kforge initrd "), 1<<16), 0o644)
	plain := func(opt Options) []byte {
		var buf bytes.Buffer
		if err := Write(&buf, root, opt); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cpioBytes := plain(Options{Epoch: 1700000000})
	for _, c := range []string{"gzip", "zstd"} {
		small, fast := plain(Options{Epoch: 1700000000, Compression: c}), plain(Options{Epoch: 1700000000, Compression: c, Fast: true})
		if !bytes.Equal(fast, plain(Options{Epoch: 1700000000, Compression: c, Fast: true})) {
			t.Errorf("%s: two fast archives of the same tree differ", c)
		}
		if bytes.Equal(small, fast) {
			t.Errorf("%s: Fast gave the bytes of the default level", c)
		}
		var r io.Reader
		if c == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(fast))
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		} else {
			zr, err := zstd.NewReader(bytes.NewReader(fast))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			r = zr
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, cpioBytes) {
			t.Errorf("%s: the fast archive does not hold the same cpio (%v)", c, err)
		}
	}
}
