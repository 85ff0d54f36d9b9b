package ext4image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The root and lost+found are inodes mke2fs makes itself: each method must
// still give them the tree's mode, owner, mtime and xattrs.
func TestMadeInodesTakeTheTreesAttributes(t *testing.T) {
	eachMethod(t, testMadeInodes)
}

func testMadeInodes(t *testing.T, method string) {
	if os.Geteuid() != 0 {
		t.Skip("the tree's owners need root")
	}
	src := t.TempDir()
	lf := filepath.Join(src, "lost+found")
	must(t, os.Mkdir(lf, 0o711))
	must(t, os.WriteFile(filepath.Join(src, "file"), []byte("data\n"), 0o644))
	must(t, os.Chmod(src, 0o750))
	must(t, os.Chown(src, 1000, 1001))
	must(t, os.Chown(lf, 3, 4))
	xattrs := unix.Setxattr(src, "user.root", []byte("top"), 0) == nil
	old := time.Unix(testEpoch-3600, 250)
	for _, p := range []string{lf, src} {
		must(t, os.Chtimes(p, old, old))
	}
	img, res := build(t, src, Options{Epoch: testEpoch, Staging: staging(t), Method: method})
	if res.Method != method {
		t.Errorf("filled by %s, want %s", res.Method, method)
	}
	fsck(t, img)
	epoch := [2]uint32{testEpoch, 0}
	for _, c := range []struct {
		path      string
		mode      int
		uid, gid  int
		wantMtime [2]uint32
	}{
		{"/", 0o750, 1000, 1001, [2]uint32{uint32(old.Unix()), 250 << 2}},
		{"/lost+found", 0o711, 3, 4, [2]uint32{uint32(old.Unix()), 250 << 2}},
		{"/file", 0o644, 0, 0, epoch}, // written now: clamped
	} {
		in := statImage(t, img, c.path)
		if in.mode != c.mode || in.uid != c.uid || in.gid != c.gid {
			t.Errorf("%s: %04o %d:%d, want %04o %d:%d", c.path, in.mode, in.uid, in.gid, c.mode, c.uid, c.gid)
		}
		if in.times["mtime"] != c.wantMtime {
			t.Errorf("%s: mtime %v, want %v", c.path, in.times["mtime"], c.wantMtime)
		}
		for _, f := range []string{"atime", "ctime", "crtime"} {
			if in.times[f] != epoch {
				t.Errorf("%s: %s %v, want the epoch", c.path, f, in.times[f])
			}
		}
	}
	if xattrs {
		if got := strings.TrimSpace(debugfs(t, img, "ea_get -V / user.root")); got != "top" {
			t.Errorf("root's user.root = %q, want top", got)
		}
	}
}

// mke2fs -d on a directory copies atimes and ctimes; whatever the source's
// (before the epoch, after it, with nanoseconds), the image has the epoch.
func TestDirectoryRewritesSourceTimes(t *testing.T) {
	requireTools(t)
	src := t.TempDir()
	past, future := time.Unix(testEpoch-86400, 999), time.Unix(testEpoch+86400, 5)
	for i, at := range []time.Time{past, future} {
		p := filepath.Join(src, "f"+string(rune('0'+i)))
		must(t, os.WriteFile(p, []byte("x"), 0o644))
		must(t, os.Chtimes(p, at, past))
	}
	img, res := build(t, src, Options{Epoch: testEpoch, Staging: staging(t), Method: MethodDirectory})
	fsck(t, img)
	if res.Method != MethodDirectory {
		t.Fatalf("filled by %s", res.Method)
	}
	for _, p := range []string{"/f0", "/f1", "/"} {
		in := statImage(t, img, p)
		for _, f := range []string{"atime", "ctime", "crtime"} {
			if in.times[f] != [2]uint32{testEpoch, 0} {
				t.Errorf("%s: %s %v, want the epoch", p, f, in.times[f])
			}
		}
	}
	if in := statImage(t, img, "/f0"); in.times["mtime"] != [2]uint32{uint32(past.Unix()), 999 << 2} {
		t.Errorf("/f0: mtime %v, want the source's with its nanoseconds", in.times["mtime"])
	}
}

// Unless told, a tree is filled from the directory; a tree with the build
// host's xattrs, which mke2fs would copy, from a tarball, and asking for
// the directory then is an error that names the file.
func TestMethodFollowsTheTree(t *testing.T) {
	requireTools(t)
	if p, err := findTools(); err != nil || !p.tarball {
		t.Fatalf("mkfs.ext4 is e2fsprogs %s: install 1.47.1 or later", p.version)
	}
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "plain"), []byte("x"), 0o644))
	if _, res := build(t, src, Options{Epoch: testEpoch, Staging: staging(t)}); res.Method != MethodDirectory {
		t.Errorf("default method %s, want %s", res.Method, MethodDirectory)
	}
	if os.Geteuid() != 0 {
		return // trusted.* xattrs need CAP_SYS_ADMIN
	}
	marked := filepath.Join(src, "marked")
	must(t, os.WriteFile(marked, []byte("y"), 0o644))
	if err := unix.Setxattr(marked, "trusted.overlay.origin", []byte{0}, 0); err != nil {
		t.Skipf("the test directory takes no trusted xattrs: %v", err)
	}
	img, res := build(t, src, Options{Epoch: testEpoch, Staging: staging(t)})
	if res.Method != MethodTarball {
		t.Errorf("with trusted.overlay.origin: method %s, want %s", res.Method, MethodTarball)
	}
	if got := debugfs(t, img, "ea_list /marked"); strings.Contains(got, "overlay") {
		t.Errorf("the overlay xattr was copied: %s", got)
	}
	_, err := Build(src, filepath.Join(t.TempDir(), "x.img"), Options{Epoch: testEpoch, Method: MethodDirectory})
	if err == nil || !strings.Contains(err.Error(), marked) || !strings.Contains(err.Error(), "tarball") {
		t.Errorf("directory method over host xattrs: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
