package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kforge/kforge/recipes"
)

// runKernel measures the first kernel of the recipe: a cold build (the
// builder environment already cached, nothing of the kernel) against
// `make -j$(nproc)` natively on the same source and .config, then a no-op
// rebuild, then a rebuild after one option changed, against the cold build.
func runKernel(kforge, buildkitd, recipePath string) error {
	r, err := recipes.Load(recipePath)
	if err != nil {
		return err
	}
	var name string
	for n := range r.Kernels {
		name = n
		break
	}
	if name == "" {
		return fmt.Errorf("%s has no kernel", recipePath)
	}
	k := r.Kernels[name]
	if err := sh("apt-get", "install", "-y", "-qq", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "make", "gcc", "xz-utils"); err != nil {
		return fmt.Errorf("installing the native baseline's build tools: %w", err)
	}
	work, err := os.MkdirTemp("", "kforge-bench-kernel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "recipe")
	if err := sh("cp", "-a", filepath.Dir(recipePath)+"/.", dir); err != nil {
		return err
	}
	recipe := filepath.Join(dir, filepath.Base(recipePath))
	kenv := []string{"KFORGE_STATE_DIR=" + filepath.Join(work, "state"), "KFORGE_BUILDKITD=" + buildkitd}
	defer cmdEnv(kenv, kforge, "daemon", "stop").Run()
	kf := func(args ...string) (time.Duration, error) { return timed(cmdEnv(kenv, kforge, args...)) }

	if _, err := kf("lock", "-f", recipe); err != nil {
		return err
	}
	if _, err := kf("build", "-f", recipe, "--target", k.Builder, "--progress", "quiet"); err != nil {
		return err
	}
	out := filepath.Join(work, "out")
	// Each timed part starts with nothing left to write back: on these
	// machines the writeback of a build that just ended (its state, the
	// downloaded .deb) slows the next part's writes several times over.
	build := func() (time.Duration, error) {
		writeBack()
		return kf("build", "-f", recipe, "--target", name, "--progress", "quiet", "-o", "type=local,dest="+out)
	}
	cold, err := build()
	if err != nil {
		return err
	}
	noop, err := build()
	if err != nil {
		return err
	}
	// One option more: an extra fragment that turns on the in-kernel config.
	extra := filepath.Join(dir, "bench-one-option.conf")
	os.WriteFile(extra, []byte("CONFIG_IKCONFIG=y\n"), 0o644)
	data, _ := os.ReadFile(recipe)
	text := strings.Replace(string(data), "      kata: {tree: fragments}", "      kata: {tree: fragments}\n      fragments: [bench-one-option.conf]", 1)
	if text == string(data) {
		return fmt.Errorf("cannot add a fragment to %s: no `kata: {tree: fragments}` line", recipePath)
	}
	os.WriteFile(recipe, []byte(text), 0o644)
	oneOption, err := build()
	if err != nil {
		return err
	}

	// The native baseline: the same source and the same .config.
	src := filepath.Join(work, "linux")
	lock, err := recipes.ReadLock(recipes.LockPath(recipe))
	if err != nil {
		return err
	}
	ls := lock.Kernels[name].Source
	if ls.Member == "" {
		return fmt.Errorf("the native baseline needs a deb source")
	}
	deb := filepath.Join(work, "src.deb")
	// From the mirror of the suite it was locked from (linux-source-6.12
	// is in bookworm-security).
	if err := sh("curl", "-sSfo", deb, strings.TrimSuffix(r.Debian.MirrorsOfSuite(ls.Suite)[0], "/")+"/"+ls.Filename); err != nil {
		return err
	}
	os.MkdirAll(src, 0o755)
	// Unpacking the source is part of a cold build on either side: kforge's
	// unpack step does the same from the same .deb.
	writeBack()
	unpack, err := timed(exec.Command("bash", "-c", fmt.Sprintf("set -euo pipefail; dpkg-deb --fsys-tarfile %s | tar -xO ./%s | tar -xJ --strip-components=1 -C %s", deb, ls.Member, src)))
	if err != nil {
		return err
	}
	configs, _ := filepath.Glob(filepath.Join(out, "config-*"))
	if len(configs) == 0 {
		return fmt.Errorf("no config in kforge's output")
	}
	obj := filepath.Join(work, "obj")
	os.MkdirAll(obj, 0o755)
	if err := sh("cp", configs[0], filepath.Join(obj, ".config")); err != nil {
		return err
	}
	writeBack()
	native := exec.Command("make", "-C", src, "O="+obj, fmt.Sprintf("-j%d", nproc()), "bzImage", "vmlinux")
	nativeTime, err := timed(native)
	if err != nil {
		return err
	}
	printRows(fmt.Sprintf("kernel %q of %s", name, recipePath), []row{
		{"cold build (goal <= 1.05; vs unpack + make -j natively, same source and .config)", cold, unpack + nativeTime},
		{"cold build (vs make -j alone, on the unpacked tree)", cold, nativeTime},
		{"no-op rebuild (target < 5 s; vs the cold build)", noop, cold},
		{"rebuild after one option changed (goal <= 0.30 of cold)", oneOption, cold},
	})
	return nil
}

// writeBack writes back every dirty page before a timed part.
func writeBack() {
	exec.Command("sync").Run()
}

func nproc() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 1
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}
