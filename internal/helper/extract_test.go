package helper

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestExtractTarHashed(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := map[string]string{"vmlinux-6.1-1": "kernel", "sub/config": "CONFIG_X=y\n"}
	tw.WriteHeader(&tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, name := range []string{"vmlinux-6.1-1", "sub/config"} {
		tw.WriteHeader(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name]))})
		tw.Write([]byte(files[name]))
	}
	tw.WriteHeader(&tar.Header{Name: "vmlinux.container", Typeflag: tar.TypeSymlink, Linkname: "vmlinux-6.1-1"})
	tw.Close()
	root := t.TempDir()
	sums, err := ExtractTarHashed(root, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 {
		t.Errorf("%d sums for 2 files: %v", len(sums), sums)
	}
	for name, content := range files {
		if sums[name] != digest.FromString(content) {
			t.Errorf("%s: sum %s, want %s", name, sums[name], digest.FromString(content))
		}
		if data, _ := os.ReadFile(filepath.Join(root, name)); string(data) != content {
			t.Errorf("%s holds %q", name, data)
		}
	}
}
