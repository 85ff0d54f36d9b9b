package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kforge/kforge/internal/initramfs"
)

var (
	kernelFixture = &lockedFixture{dir: "kernel", recipe: "kernel.yaml"}
	kernelOut     string // the installed files of the first tiny build
)

// copyTree copies a directory of test data.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", src, err, out)
	}
}

// lockedFixture is a recipe directory of testdata/recipes, copied and
// locked afresh once for all the tests that use it.
type lockedFixture struct {
	dir, recipe string
	// with names directories of the repository copied beside the recipe
	// (as `make run` copies recipes/fragments beside the test guest).
	with []string
	once sync.Once
	path string
}

func (f *lockedFixture) get(t *testing.T) string {
	t.Helper()
	f.once.Do(func() {
		dir, err := os.MkdirTemp(e2eTmp, "kforge-"+f.dir+"-")
		if err != nil {
			t.Fatal(err)
		}
		copyTree(t, filepath.Join(repoRoot, "testdata", "recipes", f.dir), dir)
		for _, w := range f.with {
			copyTree(t, filepath.Join(repoRoot, w), filepath.Join(dir, filepath.Base(w)))
		}
		p := filepath.Join(dir, f.recipe)
		mustKforge(t, nil, "lock", "-f", p)
		f.path = p
	})
	if f.path == "" {
		t.Fatalf("locking testdata/recipes/%s failed in an earlier test", f.dir)
	}
	return f.path
}

// variant copies the locked recipe's directory (lock included) into a new
// one, replacing text in the recipe once each and writing files beside it.
func (f *lockedFixture) variant(t *testing.T, replace map[string]string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, filepath.Dir(f.get(t)), dir)
	os.RemoveAll(filepath.Join(dir, "out"))
	p := filepath.Join(dir, f.recipe)
	data, _ := os.ReadFile(p)
	text := string(data)
	for old, new := range replace {
		if !strings.Contains(text, old) {
			t.Fatalf("testdata/recipes/%s/%s has no %q", f.dir, f.recipe, old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	os.WriteFile(p, []byte(text), 0o644)
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), content, 0o644)
	}
	return p
}

// lockedKernel returns the tiny-kernel recipe of testdata, locked afresh.
func lockedKernel(t *testing.T) string { return kernelFixture.get(t) }

// tinyKernel builds the tiny kernel once and returns its output directory.
func tinyKernel(t *testing.T) string {
	t.Helper()
	if kernelOut == "" {
		p := lockedKernel(t)
		out := filepath.Join(filepath.Dir(p), "out")
		mustKforge(t, nil, "build", "-f", p, "--target", "tiny", "--progress", "plain", "-o", "type=local,dest="+out)
		kernelOut = out
	}
	return kernelOut
}

// bootInitrd compiles the marker init (static) and packs it as an initrd.
func bootInitrd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(root, 0o755)
	cc := exec.Command("gcc", "-static", "-Os", "-o", filepath.Join(root, "init"), filepath.Join(repoRoot, "testdata", "boot", "init.c"))
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("compiling the test init: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "initrd.img")
	writeInitrd(t, root, img)
	return img
}

// writeInitrd packs a tree as a gzip-compressed newc initrd.
func writeInitrd(t *testing.T, root, img string) {
	t.Helper()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := initramfs.WriteDir(f, root, 1700000000, true); err != nil {
		t.Fatal(err)
	}
}

func TestTinyKernelBuildsUnderKataNamesAndBoots(t *testing.T) {
	e2e(t)
	out := tinyKernel(t)
	for _, link := range []string{"vmlinux.container", "vmlinuz.container"} {
		target, err := os.Readlink(filepath.Join(out, link))
		if err != nil {
			t.Fatalf("%s: %v", link, err)
		}
		if !strings.HasPrefix(target, strings.TrimSuffix(link, ".container")+"-6.1.") || !strings.HasSuffix(target, "-1") {
			t.Errorf("%s -> %s, want <name>-<version>-<config version>", link, target)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(out, "config-6.1.*-1"))
	maps, _ := filepath.Glob(filepath.Join(out, "System.map-6.1.*-1"))
	if len(matches) != 1 || len(maps) != 1 {
		t.Errorf("config and System.map under Kata's names: %v %v", matches, maps)
	}
	vmlinux, _ := os.ReadFile(filepath.Join(out, "vmlinux.container"))
	for _, leak := range []string{"kforge@kforge", "Nov 14 22:13:20 UTC 2023"} {
		if !bytes.Contains(vmlinux, []byte(leak)) {
			t.Errorf("vmlinux lacks the fixed build identity %q", leak)
		}
	}
	r := mustKforge(t, nil, "boot", "--kernel", filepath.Join(out, "vmlinuz.container"), "--initrd", bootInitrd(t),
		"--expect", "KFORGE-BOOT-OK", "--timeout", "180s")
	if !strings.Contains(r.stdout, "Run /init as init process") {
		t.Errorf("the console does not show the kernel starting /init:\n%s", lastLines(r.stdout, 15))
	}
}

// Two builds from clean caches (two daemons with empty state) give the same
// vmlinux and vmlinuz, byte for byte.
func TestKernelIsReproducibleFromCleanCaches(t *testing.T) {
	e2e(t)
	first := tinyKernel(t)
	state := t.TempDir()
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	second := filepath.Join(t.TempDir(), "out")
	// The second daemon pushes its kernel too: the same recipe and lock give
	// the same manifest digest.
	reg := sharedRegistry(t)
	_, firstDigest := kernelArtifact(t)
	r := mustKforge(t, append(env, reg.env()...), "build", "-f", lockedKernel(t), "--target", "tiny", "--progress", "plain", "-o", "type=local,dest="+second,
		"--ca-file", reg.CAFile, "-o", "type=registry,name="+reg.Host+"/kforge/tiny:second-daemon")
	if d := pushDigest(t, r.stdout, reg.Host+"/kforge/tiny"); d != firstDigest {
		t.Errorf("the second daemon's kernel artifact is %s, the first's %s", d, firstDigest)
	}
	for _, f := range []string{"vmlinux.container", "vmlinuz.container", "System.map-*"} {
		a, _ := filepath.Glob(filepath.Join(first, f))
		b, _ := filepath.Glob(filepath.Join(second, f))
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("%s: %v %v", f, a, b)
		}
		da, _ := os.ReadFile(a[0])
		db, _ := os.ReadFile(b[0])
		if len(da) == 0 || !bytes.Equal(da, db) {
			t.Errorf("%s differs between two builds from clean caches (%d and %d bytes)", f, len(da), len(db))
		}
	}
}

func TestArm64KernelCrossBuilds(t *testing.T) {
	e2e(t)
	p := lockedKernel(t)
	out := filepath.Join(t.TempDir(), "out")
	mustKforge(t, nil, "build", "-f", p, "--target", "tiny", "--platform", "linux/arm64", "--progress", "plain", "-o", "type=local,dest="+out)
	image, err := os.ReadFile(filepath.Join(out, "vmlinuz.container"))
	if err != nil {
		t.Fatal(err)
	}
	// The arm64 Image header (Documentation/arm64/booting.rst) carries the
	// magic "ARM\x64" at offset 0x38.
	if len(image) < 0x40 || string(image[0x38:0x3c]) != "ARM\x64" {
		t.Fatalf("vmlinuz.container is not an arm64 Image (%d bytes)", len(image))
	}
	config, _ := filepath.Glob(filepath.Join(out, "config-*"))
	data, _ := os.ReadFile(config[0])
	if !bytes.Contains(data, []byte("CONFIG_ARM64=y")) || !bytes.Contains(data, []byte("CONFIG_SERIAL_AMBA_PL011=y")) {
		t.Error("the arm64 config lacks ARM64 or the arm64 fragment's PL011 console")
	}
}

func TestKernelInputErrorsAreClear(t *testing.T) {
	e2e(t)
	kataLine := "      kata: {tree: fragments}"
	cases := []struct {
		name    string
		replace map[string]string
		files   map[string][]byte
		want    []string
	}{
		{"missing fragment", map[string]string{kataLine: kataLine + "\n      fragments: [tsn.conf]"}, nil,
			[]string{"kernel.yaml:", "fragment tsn.conf", "no such file"}},
		{"fragment outside the recipe", map[string]string{kataLine: kataLine + "\n      fragments: [../../etc/tsn.conf]"}, nil,
			[]string{"kernel.yaml:", "leaves the recipe's directory"}},
		{"patch that does not apply", map[string]string{"    config:\n": "    patches: [broken.patch]\n    config:\n"},
			map[string][]byte{"broken.patch": []byte("--- a/init/version.c\n+++ b/init/version.c\n@@ -1,3 +1,3 @@\n-this line is not in the file\n+nor is this one\n context\n")},
			[]string{"patch broken.patch does not apply", "init/version.c"}},
		{"kernel source checksum mismatch", map[string]string{
			"      deb: {package: linux-source-6.1, path: usr/src/linux-source-6.1.tar.xz}": "      http:\n        urls: [http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb]\n        sha256: " + strings.Repeat("ab", 32)},
			nil, []string{"hello_2.10-3_amd64.deb", "sha256:" + strings.Repeat("ab", 32), "is not on any mirror"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := kernelFixture.variant(t, c.replace, c.files)
			if strings.Contains(c.name, "checksum") {
				mustKforge(t, nil, "lock", "-f", p)
			}
			out := filepath.Join(filepath.Dir(p), "out")
			r := kforge(t, nil, "build", "-f", p, "--target", "tiny", "--progress", "plain", "-o", "type=local,dest="+out)
			if r.code == 0 {
				t.Fatal("the build succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, lastLines(r.stderr, 12))
				}
			}
			noPath(t, out)
		})
	}
}
