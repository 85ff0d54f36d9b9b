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
