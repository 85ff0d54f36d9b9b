package helper

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The copy keeps modes (set-id bits too), owners, symlinks and hard links,
// and no time in it is later than the epoch.
func TestCopyTreeClampedKeepsTheTreeAndClampsTimes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755))
	must(os.WriteFile(filepath.Join(src, "usr/bin/tool"), []byte("tool"), 0o755))
	must(unix.Chmod(filepath.Join(src, "usr/bin/tool"), 0o4755))
	must(os.Link(filepath.Join(src, "usr/bin/tool"), filepath.Join(src, "usr/bin/tool2")))
	must(os.Symlink("tool", filepath.Join(src, "usr/bin/link")))
	must(os.Lchown(filepath.Join(src, "usr/bin/link"), 0, 0))
	old := time.Unix(1000, 0)
	must(os.Chtimes(filepath.Join(src, "usr/bin/tool2"), old, old))

	const epoch = 1700000000
	must(CopyTreeClamped(src, dst, epoch))

	st, err := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	must(err)
	if st.Mode()&os.ModeSetuid == 0 || st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want setuid 0755", st.Mode())
	}
	var a, b unix.Stat_t
	must(unix.Stat(filepath.Join(dst, "usr/bin/tool"), &a))
	must(unix.Stat(filepath.Join(dst, "usr/bin/tool2"), &b))
	if a.Ino != b.Ino {
		t.Error("the hard link became two files")
	}
	if a.Mtim.Sec != 1000 {
		t.Errorf("an older time changed: %d, want 1000 (clamping only lowers)", a.Mtim.Sec)
	}
	if target, err := os.Readlink(filepath.Join(dst, "usr/bin/link")); err != nil || target != "tool" {
		t.Errorf("symlink: %q %v", target, err)
	}
	must(filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.ModTime().Unix() > epoch {
			t.Errorf("%s: mtime %v is after the epoch", p, info.ModTime())
		}
		return nil
	}))
}
