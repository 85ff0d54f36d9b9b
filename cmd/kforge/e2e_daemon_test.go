package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The managed daemon takes buildkitd.toml from its state directory: a
// broken one stops it at start with BuildKit's own message and the file to
// fix; a good one bounds the cache, as `kforge daemon status` shows.
func TestDaemonReadsItsConfig(t *testing.T) {
	e2e(t)
	state := t.TempDir()
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	config := filepath.Join(state, "buildkitd.toml")

	if err := os.WriteFile(config, []byte("[worker.oci\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kforge(t, env, "daemon", "start")
	if r.code == 0 || !strings.Contains(r.stderr, "toml:") || !strings.Contains(r.stderr, "it read "+config+": fix or remove it") {
		t.Fatalf("a broken buildkitd.toml: exit %d\n%s", r.code, r.stderr)
	}

	good := "[worker.oci]\n  gc = true\n  reservedSpace = \"8GB\"\n  maxUsedSpace = \"24GB\"\n  minFreeSpace = \"12GB\"\n"
	if err := os.WriteFile(config, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	mustKforge(t, env, "daemon", "start")
	r = mustKforge(t, env, "daemon", "status")
	for _, want := range []string{"config:  " + config, "gc:      reserved 8.0GB, max used 24.0GB, min free 12.0GB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("daemon status lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := mustKforge(t, env, "daemon", "start"); !strings.Contains(r.stderr, "already running") {
		t.Errorf("a second start does not say the daemon runs:\n%s", r.stderr)
	}
}
