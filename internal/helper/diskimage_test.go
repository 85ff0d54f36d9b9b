package helper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kforge/kforge/internal/diskimage"
)

// A whole image from a small tree: Kata's size (a multiple of 128 MiB with
// DAX), the filesystem filling the partition, the PFN info block, the same
// bytes twice, and the privileges line.
func TestDiskImageHasKataLayoutAndIsReproducible(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "sbin", "init"), []byte("#!/bin/sh\n"), 0o755)
	var images [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "kata-containers.img")
		var log bytes.Buffer
		if err := DiskImage(root, out, DiskImageOptions{Epoch: 1700000000, DAX: true, Stage: t.TempDir()}, &log); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "loop devices visible:") {
			t.Errorf("no privileges line: %s", log.String())
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, data)
	}
	img := images[0]
	if len(img)%diskimage.ImageAlignment != 0 {
		t.Errorf("image of %d bytes is not a multiple of 128 MiB", len(img))
	}
	if string(img[4096:4096+15]) != "NVDIMM_PFN_INFO" || img[510] != 0x55 || img[511] != 0xaa {
		t.Error("no PFN info block or MBR")
	}
	// The ext4 superblock magic of the filesystem at the partition (3 MiB).
	if sb := 3<<20 + 1024 + 0x38; img[sb] != 0x53 || img[sb+1] != 0xef {
		t.Error("no ext4 filesystem at the partition offset")
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Error("two images of the same tree differ")
	}
}

func TestDiskImageTooSmallLeavesNothing(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte{1}, 12<<20), 0o644)
	out := filepath.Join(t.TempDir(), "kata-containers.img")
	err := DiskImage(root, out, DiskImageOptions{Epoch: 1700000000, DAX: true, SizeMiB: 8, Stage: t.TempDir()}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not fit the fixed image size of 8 MiB") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
