package main

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// rustEnv is the Debian Rust environment of the Rust fixture, exported
// once and unpacked in part: the toolchain and the crate registry.
var rustEnv struct {
	once sync.Once
	dir  string
}

func rustEnvTree(t *testing.T) string {
	t.Helper()
	rustEnv.once.Do(func() {
		envTar := filepath.Join(t.TempDir(), "env.tar")
		mustKforge(t, nil, "build", "-f", lockedRust(t), "--target", "rust", "--progress", "plain", "-o", "type=tar,dest="+envTar)
		dir, err := os.MkdirTemp(e2eTmp, "kforge-rust-env-")
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tar", "-xf", envTar, "-C", dir, "--wildcards",
			"usr/bin/rustc", "usr/bin/cargo", "usr/lib/x86_64-linux-gnu/*", "usr/lib/rustlib/*", "usr/share/cargo/registry/*").CombinedOutput()
		if err != nil {
			t.Fatalf("unpacking the Rust environment: %v\n%s", err, out)
		}
		rustEnv.dir = dir
	})
	if rustEnv.dir == "" {
		t.Fatal("exporting the Rust environment failed in an earlier test")
	}
	return rustEnv.dir
}

// glibcLibraries are in every environment that links programs; a dist
// tarball does not carry them.
var glibcLibraries = map[string]bool{"libc.so.6": true, "libm.so.6": true, "libdl.so.2": true, "libpthread.so.0": true,
	"librt.so.1": true, "ld-linux-x86-64.so.2": true, "libgcc_s.so.1": true}

// sharedClosure lists the shared libraries an ELF file needs, recursively,
// found in the environment's library directory, glibc's left out.
func sharedClosure(t *testing.T, libDir, file string, seen map[string]bool) {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	libs, err := f.ImportedLibraries()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if glibcLibraries[l] || seen[l] {
			continue
		}
		p := filepath.Join(libDir, l)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s needs %s, which is not in the environment: %v", file, l, err)
		}
		seen[l] = true
		sharedClosure(t, libDir, p, seen)
	}
}

// rustDistTarball assembles rust-<version>-x86_64-unknown-linux-gnu.tar.gz
// in the upstream layout (install.sh, components, one directory per
// component with its manifest.in) from the Debian toolchain: rustc and
// cargo with the shared libraries they need in lib/ and an RPATH of
// $ORIGIN/../lib, as upstream's binaries have, and the standard library.
func rustDistTarball(t *testing.T, version string) (name string, data []byte) {
	t.Helper()
	env := rustEnvTree(t)
	libDir := filepath.Join(env, "usr", "lib", "x86_64-linux-gnu")
	top := "rust-" + version + "-x86_64-unknown-linux-gnu"
	root := filepath.Join(t.TempDir(), top)
	component := func(name string, files map[string]string, dirs ...string) {
		var manifest []string
		for _, dst := range sortedKeys(files) {
			copyFileTo(t, files[dst], filepath.Join(root, name, dst))
			manifest = append(manifest, "file:"+dst)
		}
		for _, d := range dirs {
			copyTree(t, filepath.Join(env, "usr", d), mkdir(t, filepath.Join(root, name, d)))
			manifest = append(manifest, "dir:"+d)
		}
		os.WriteFile(filepath.Join(root, name, "manifest.in"), []byte(strings.Join(manifest, "\n")+"\n"), 0o644)
	}
	for _, bin := range []string{"rustc", "cargo"} {
		libs := map[string]bool{}
		sharedClosure(t, libDir, filepath.Join(env, "usr", "bin", bin), libs)
		files := map[string]string{"bin/" + bin: filepath.Join(env, "usr", "bin", bin)}
		for l := range libs {
			files["lib/"+l] = filepath.Join(libDir, l)
		}
		component(bin, files)
		// DT_RPATH (not RUNPATH) also serves the libraries' own needs.
		if out, err := exec.Command("patchelf", "--force-rpath", "--set-rpath", "$ORIGIN/../lib", filepath.Join(root, bin, "bin", bin)).CombinedOutput(); err != nil {
			t.Fatalf("patchelf (make test-deps installs it): %v\n%s", err, out)
		}
	}
	component("rust-std-x86_64-unknown-linux-gnu", nil, "lib/rustlib/x86_64-unknown-linux-gnu")
	os.WriteFile(filepath.Join(root, "components"), []byte("rustc\ncargo\nrust-std-x86_64-unknown-linux-gnu\n"), 0o644)
	os.WriteFile(filepath.Join(root, "rust-installer-version"), []byte("3\n"), 0o644)
	copyFileTo(t, filepath.Join(repoRoot, "testdata", "rust-dist", "install.sh"), filepath.Join(root, "install.sh"))
	name = top + ".tar.gz"
	tarball := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("sh", "-c", `tar -cf - -C "$1" "$2" | gzip -1 > "$3"`, "sh", filepath.Dir(root), top, tarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	os.RemoveAll(root)
	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	return name, data
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFileTo(t *testing.T, src, dst string) {
	t.Helper()
	mkdir(t, filepath.Dir(dst))
	if out, err := exec.Command("cp", "-L", "--preserve=mode", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v\n%s", src, err, out)
	}
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lockedPackageVersion reads a package's upstream version from a lock.
func lockedPackageVersion(t *testing.T, lockPath, env, pkg string) string {
	t.Helper()
	var lock struct {
		Environments map[string]struct {
			Packages []struct{ Name, Version string }
		}
	}
	data, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &lock)
	for _, p := range lock.Environments[env].Packages {
		if p.Name == pkg {
			v := p.Version
			if i := strings.IndexAny(v, "+-~"); i >= 0 {
				v = v[:i]
			}
			return v
		}
	}
	return ""
}

// distVariant is the Rust fixture with the program built in the dist
// environment, which has no Rust, from the toolchain tarball served by srv.
func distVariant(t *testing.T, srvURL, name, sha string) string {
	return rustFixture.variant(t, map[string]string{
		"  hello:\n    builder: rust\n": "  hello:\n    builder: dist\n    toolchain:\n      dist:\n        version: " +
			strings.TrimSuffix(strings.TrimPrefix(name, "rust-"), "-x86_64-unknown-linux-gnu.tar.gz") +
			"\n        mirrors: [" + srvURL + "/dist]\n        files: {" + name + ": \"" + sha + "\"}\n",
	}, nil)
}

func TestRustProgramBuildsWithDistToolchain(t *testing.T) {
	e2e(t)
	lockPath := strings.TrimSuffix(lockedRust(t), ".yaml") + ".lock"
	if v := lockedPackageVersion(t, lockPath, "dist", "rustc-web"); v != "" {
		t.Fatalf("the dist environment has Debian's rustc %s: the test would not show the dist toolchain at work", v)
	}
	version := lockedPackageVersion(t, lockPath, "rust", "rustc-web")
	name, data := rustDistTarball(t, version)
	sum := sha256.Sum256(data)
	srv := httptest.NewServer(http.StripPrefix("/dist/", http.FileServer(http.FS(fstest.MapFS{name: {Data: data}}))))
	defer srv.Close()

	t.Run("builds and boots", func(t *testing.T) {
		p := distVariant(t, srv.URL, name, hex.EncodeToString(sum[:]))
		out := filepath.Join(filepath.Dir(p), "out")
		r := mustKforge(t, nil, "build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out)
		if !strings.Contains(r.stderr, "install.sh: installed rustc") || !strings.Contains(r.stderr, "rustc "+version) {
			t.Errorf("the dist toolchain was not installed with its install.sh:\n%s", lastLines(r.stderr, 20))
		}
		bin := filepath.Join(out, "usr", "bin", "hello")
		checkStaticBinary(t, bin)
		bootRust(t, bin)
	})
	t.Run("rustup mirror", func(t *testing.T) {
		p := distVariant(t, srv.URL, name, hex.EncodeToString(sum[:]))
		dir := filepath.Join(t.TempDir(), "mirror")
		mustKforge(t, nil, "mirror", "sync", "-f", p, "--target", "hello", "--rustup", dir)
		dist := filepath.Join(dir, "rustup", "dist")
		manifestPath := filepath.Join(dist, "channel-rust-"+version+".toml")
		manifest, err := os.ReadFile(manifestPath)
		if err != nil {
			t.Fatal(err)
		}
		sha, _ := os.ReadFile(manifestPath + ".sha256")
		if got := fileSHA256(t, manifestPath); !strings.HasPrefix(string(sha), got+"  channel-rust-"+version+".toml") {
			t.Errorf("channel-rust-%s.toml.sha256 is %q; the manifest's sha256 is %s", version, sha, got)
		}
		// Every package the manifest names is there with its sha256.
		pkgs := regexp.MustCompile(`url = "https://static\.rust-lang\.org/dist/([^"]+)"\nhash = "([0-9a-f]{64})"`).FindAllStringSubmatch(string(manifest), -1)
		names := map[string]bool{}
		for _, m := range pkgs {
			names[strings.SplitN(filepath.Base(m[1]), "-"+version, 2)[0]] = true
			if got := fileSHA256(t, filepath.Join(dist, m[1])); got != m[2] {
				t.Errorf("%s: sha256 %s, the manifest says %s", m[1], got, m[2])
			}
		}
		for _, want := range []string{"rust", "rustc", "cargo", "rust-std"} {
			if !names[want] {
				t.Errorf("the manifest has no package %s:\n%s", want, manifest)
			}
		}
	})
	t.Run("wrong sha256", func(t *testing.T) {
		wrong := strings.Repeat("0", 64)
		p := distVariant(t, srv.URL, name, wrong)
		out := filepath.Join(filepath.Dir(p), "out")
		r := kforge(t, nil, "build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out)
		if r.code == 0 {
			t.Fatal("a toolchain with a wrong sha256 was used")
		}
		for _, w := range []string{name, "sha256:" + hex.EncodeToString(sum[:]), wrong, "is not on any mirror"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("error lacks %q:\n%s", w, lastLines(r.stderr, 12))
			}
		}
		noPath(t, out)
	})
}
