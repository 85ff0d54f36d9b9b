package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mirror that serves a damaged .deb is named, and the file is fetched
// from the next mirror. This test runs its own daemon from an empty state
// directory, so that the file is not already in BuildKit's cache; it also
// checks `kforge daemon status` and `kforge daemon stop` on that daemon.
func TestBuildFallsBackToTheNextMirror(t *testing.T) {
	e2e(t)
	state := t.TempDir()
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })

	mp := newMirrorProxy(t, func(path string, body []byte) []byte {
		if strings.Contains(path, "/hello_") && strings.HasSuffix(path, ".deb") {
			damaged := append([]byte(nil), body...)
			damaged[len(damaged)/2] ^= 0xff
			return damaged
		}
		return body
	})
	p := writeRecipe(t, []string{mp.URL + "/debian", debianMirror}, "hello")
	mustKforge(t, env, "lock", "-f", p)

	out := filepath.Join(t.TempDir(), "out")
	r := mustKforge(t, env, "build", "-f", p, "--target", "builder", "--progress", "plain", "-o", "type=local,dest="+out)
	if !mp.served(".deb") || !mp.served("/hello_") {
		t.Fatal("the first mirror was not asked for the packages")
	}
	if !strings.Contains(r.stderr, "mirror "+mp.URL+"/debian served") || !strings.Contains(r.stderr, "trying the next mirror") {
		t.Errorf("the damaged file at the first mirror is not reported:\n%s", lastLines(r.stderr, 20))
	}
	if _, err := os.Stat(filepath.Join(out, "usr/bin/hello")); err != nil {
		t.Errorf("hello is not in the environment: %v", err)
	}

	r = mustKforge(t, env, "daemon", "status")
	if !strings.Contains(r.stdout, "running") || !strings.Contains(r.stdout, filepath.Join(state, "buildkitd.sock")) {
		t.Errorf("daemon status: %s", r.stdout)
	}
	mustKforge(t, env, "daemon", "stop")
	if r := kforge(t, env, "daemon", "status"); r.code == 0 || !strings.Contains(r.stdout, "stopped") {
		t.Errorf("daemon status after stop: exit %d, %s", r.code, r.stdout)
	}
}
