package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kforge/kforge/internal/solve"
)

// farmTargets are what a Kata guest is: the test guest's kernel (the
// built-in Kata kernel's configuration), rootfs, image and initrd.
var farmTargets = []string{"kernel", "rootfs", "image", "initrd"}

// runFarm measures a build farm's second node: node A builds the whole
// test guest cold and exports its cache to a registry on 127.0.0.1; node B,
// a fresh daemon, builds the same targets from that cache. It prints B's
// time against A's and the steps B ran (the goal: no compile, no dpkg).
func runFarm(kforge, buildkitd, fixtures, registryBin string) error {
	f, err := lockedFixture(kforge, buildkitd, filepath.Join(fixtures, "rust"), "guest.yaml")
	if err != nil {
		return err
	}
	defer f.close()
	if err := sh("cp", "-a", "recipes/fragments", f.dir); err != nil {
		return err
	}
	host, stop, err := startRegistry(registryBin, f.work)
	if err != nil {
		return err
	}
	defer stop()
	nodeB := []string{"KFORGE_STATE_DIR=" + filepath.Join(f.work, "node-b"), "KFORGE_BUILDKITD=" + buildkitd}
	defer cmdEnv(nodeB, kforge, "daemon", "stop").Run()

	var a, b time.Duration
	ran, heavy := 0, 0
	for _, t := range farmTargets {
		ref := host + "/bench/cache:" + t
		d, err := f.kforge("build", "-f", f.recipe, "--target", t, "--progress", "quiet",
			"--cache-to", "type=registry,ref="+ref+",mode=min", "-o", "type=local,dest="+filepath.Join(f.work, "a", t))
		if err != nil {
			return err
		}
		a += d
		d, out, err := timedOutput(cmdEnv(nodeB, kforge, "build", "-f", f.recipe, "--target", t, "--progress", "rawjson",
			"--cache-from", "type=registry,ref="+ref, "-o", "type=local,dest="+filepath.Join(f.work, "b", t)))
		if err != nil {
			return err
		}
		b += d
		steps, err := solve.StepsRun(out)
		if err != nil {
			return err
		}
		ran += len(steps)
		for _, s := range solve.HeavySteps(steps) {
			heavy++
			fmt.Fprintf(os.Stderr, "bench: node B ran %q\n", s)
		}
	}
	printRows("a build farm's second node: the whole test guest (kernel, rootfs, image, initrd) from the first node's registry cache", []row{
		{"node B from the cache (vs node A's cold build)", b, a},
	})
	fmt.Printf("%-58s %10d\n%-58s %10d\n", "steps node B ran", ran, "  of them compile or dpkg steps (goal: 0)", heavy)
	return nil
}
