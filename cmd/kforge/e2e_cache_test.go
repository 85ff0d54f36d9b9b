package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A build cache exported by one daemon lets another daemon, with an empty
// state of its own, build the same environment without doing any step or
// fetching any file: how a build farm shares work.
func TestBuildCacheIsSharedAcrossDaemons(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	mustKforge(t, nil, "build", "-f", p, "--target", "builder", "--progress", "plain", "--cache-to", "type=local,dest="+cacheDir)
	if _, err := os.Stat(filepath.Join(cacheDir, "index.json")); err != nil {
		t.Fatalf("no cache exported: %v", err)
	}

	state := t.TempDir()
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	mp := newMirrorProxy(t, nil)
	again := filepath.Join(t.TempDir(), "builder.yaml")
	data, _ := os.ReadFile(p)
	os.WriteFile(again, bytes.Replace(data, []byte(debianMirror), []byte(mp.URL+"/debian"), 1), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(again), "builder.lock"), builderLocked, 0o644)
	r := mustKforge(t, env, "build", "-f", again, "--target", "builder", "--progress", "rawjson", "--cache-from", "type=local,src="+cacheDir)
	if ran := uncachedSteps(t, r.stderr); len(ran) > 0 {
		t.Errorf("the second daemon did work in %d steps: %v", len(ran), ran)
	}
	if len(mp.requests) > 0 {
		t.Errorf("the second daemon fetched %d files, e.g. %s", len(mp.requests), mp.requests[0])
	}
}

// The graphs the CLI builds itself (kernel config, run) and the build
// function's make the same ops: after `kforge build` of a kernel's builder
// environment, neither `kforge kernel config` nor `kforge run` in it
// unpacks or installs a package again.
func TestCLIGraphsReuseTheSteps(t *testing.T) {
	e2e(t)
	p := kernelFixture.get(t)
	mustKforge(t, nil, "build", "-f", p, "--target", "kbuilder", "--progress", "quiet")
	for _, args := range [][]string{
		{"kernel", "config", "-f", p, "--target", "tiny", "--progress", "rawjson"},
		{"run", "-f", p, "--target", "kbuilder", "--progress", "rawjson", "--", "true"},
	} {
		r := mustKforge(t, nil, args...)
		var again []string
		for _, step := range uncachedSteps(t, r.stderr) {
			if strings.HasPrefix(step, "[kbuilder] ") {
				again = append(again, step)
			}
		}
		if len(again) > 0 {
			t.Errorf("kforge %s %s built the environment again: %v", args[0], args[1], again)
		}
	}
}
