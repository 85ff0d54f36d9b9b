package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runAgent measures the Rust program of testdata/recipes/rust built as a
// Kata agent, in its persistent cargo target cache: a no-op rebuild and a
// rebuild after one source file changed, against cargo natively on the
// same source with the same crates (the environment's Debian registry).
func runAgent(kforge, buildkitd, fixtures string) error {
	f, err := lockedFixture(kforge, buildkitd, filepath.Join(fixtures, "rust"), "rust.yaml")
	if err != nil {
		return err
	}
	defer f.close()
	work, dir, recipe, kf := f.work, f.dir, f.recipe, f.kforge
	envTar := filepath.Join(work, "env.tar")
	if _, err := kf("build", "-f", recipe, "--target", "rust", "--progress", "quiet", "-o", "type=tar,dest="+envTar); err != nil {
		return err
	}
	build := func() (time.Duration, error) {
		return kf("build", "-f", recipe, "--target", "agent", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "out"))
	}
	if _, err := build(); err != nil { // cold: fills the target cache
		return err
	}
	noop, err := build()
	if err != nil {
		return err
	}
	mainRS := filepath.Join(dir, "hello", "src", "main.rs")
	touch := func() error {
		f, err := os.OpenFile(mainRS, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "// edit %d\n", time.Now().UnixNano())
		return f.Close()
	}
	if err := touch(); err != nil {
		return err
	}
	oneFile, err := build()
	if err != nil {
		return err
	}

	// Native cargo: the host's toolchain, the same crates from the
	// environment's registry, the same options.
	if _, err := exec.LookPath("cargo"); err != nil {
		return fmt.Errorf("the native baseline needs cargo on the host: %w", err)
	}
	env := filepath.Join(work, "env")
	os.MkdirAll(env, 0o755)
	if err := sh("tar", "-xf", envTar, "-C", env, "--wildcards", "usr/share/cargo/registry/*", "usr/lib/x86_64-linux-gnu/libseccomp.a"); err != nil {
		return err
	}
	home := filepath.Join(work, "cargo-home")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, "config.toml"), []byte(fmt.Sprintf(
		"[source.crates-io]\nreplace-with = \"pinned\"\n[source.pinned]\ndirectory = %q\n", filepath.Join(env, "usr", "share", "cargo", "registry"))), 0o644)
	cargo := func() (time.Duration, error) {
		c := exec.Command("cargo", "build", "--offline", "--locked", "--release", "--features", "seccomp")
		c.Dir = filepath.Join(dir, "hello")
		c.Env = append(os.Environ(), "CARGO_HOME="+home, "CARGO_TARGET_DIR="+filepath.Join(work, "native-target"),
			"RUSTFLAGS=-C target-feature=+crt-static", "LIBSECCOMP_LINK_TYPE=static",
			"LIBSECCOMP_LIB_PATH="+filepath.Join(env, "usr", "lib", "x86_64-linux-gnu"))
		return timed(c)
	}
	if _, err := cargo(); err != nil {
		return err
	}
	nativeNoop, err := cargo()
	if err != nil {
		return err
	}
	if err := touch(); err != nil {
		return err
	}
	nativeOneFile, err := cargo()
	if err != nil {
		return err
	}
	printRows("the test agent (libc, serde_json, libseccomp) in its persistent cargo target cache", []row{
		{"no-op rebuild (target < 3 s; vs native cargo)", noop, nativeNoop},
		{"rebuild after one source file changed (vs native cargo)", oneFile, nativeOneFile},
	})
	return nil
}
