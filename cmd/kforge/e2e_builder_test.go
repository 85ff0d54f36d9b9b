package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kforge/kforge/internal/solve"
)

func TestLockTwiceGivesIdenticalLocks(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	again := filepath.Join(t.TempDir(), "builder.yaml")
	data, _ := os.ReadFile(p)
	os.WriteFile(again, data, 0o644)
	mustKforge(t, nil, "lock", "-f", again)
	second, _ := os.ReadFile(filepath.Join(filepath.Dir(again), "builder.lock"))
	if !bytes.Equal(builderLocked, second) {
		t.Fatal("two locks of the same recipe against the same index differ")
	}
	var lock struct {
		Environments map[string]struct {
			Release  struct{ SignedBy []string }
			Packages []struct{ Name, SHA256 string }
		}
	}
	if err := json.Unmarshal(second, &lock); err != nil {
		t.Fatal(err)
	}
	env := lock.Environments["builder"]
	if len(env.Release.SignedBy) == 0 {
		t.Error("the lock does not record who signed the index")
	}
	have := map[string]bool{}
	for _, p := range env.Packages {
		if len(p.SHA256) != 64 {
			t.Errorf("package %s has sha256 %q", p.Name, p.SHA256)
		}
		have[p.Name] = true
	}
	// Requested packages, their dependencies, and the essential set.
	for _, want := range append(builderPackages, "gcc-12", "libc6-dev", "dpkg", "bash", "coreutils", "mawk") {
		if !have[want] {
			t.Errorf("the lock lacks %s", want)
		}
	}
}

func TestBuilderEnvironmentBuildsAndRebuildsFromCache(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	out := filepath.Join(t.TempDir(), "rootfs")
	mustKforge(t, nil, "build", "-f", p, "--target", "builder", "--progress", "plain", "-o", "type=local,dest="+out)
	for _, f := range []string{"usr/bin/gcc", "usr/bin/flex", "usr/bin/bison", "usr/bin/make", "usr/bin/python3", "var/lib/dpkg/status"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("the exported environment lacks /%s: %v", f, err)
		}
	}
	// A second build of unchanged input does no work: every step that ran
	// the first time is reported cached, and no mirror is asked for
	// anything (the recipe copy names a mirror that counts requests; mirrors
	// do not change what a lock pins).
	mp := newMirrorProxy(t, nil)
	again := filepath.Join(t.TempDir(), "builder.yaml")
	data, _ := os.ReadFile(p)
	os.WriteFile(again, bytes.Replace(data, []byte(debianMirror), []byte(mp.URL+"/debian"), 1), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(again), "builder.lock"), builderLocked, 0o644)
	r := mustKforge(t, nil, "build", "-f", again, "--target", "builder", "--progress", "rawjson")
	if ran := uncachedSteps(t, r.stderr); len(ran) > 0 {
		t.Errorf("the rebuild did work in %d steps: %v", len(ran), ran)
	}
	if len(mp.requests) > 0 {
		t.Errorf("the rebuild fetched %d files, e.g. %s", len(mp.requests), mp.requests[0])
	}
}

// uncachedSteps lists the steps of a rawjson progress that ran rather than
// came from the cache (solve.StepsRun).
func uncachedSteps(t *testing.T, rawjson string) []string {
	t.Helper()
	ran, err := solve.StepsRun(rawjson)
	if err != nil {
		t.Fatal(err)
	}
	return ran
}

func TestBuilderToolsWorkWithNetworkOff(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	checks := []struct {
		cmd  []string
		want string
	}{
		{[]string{"gcc", "--version"}, "gcc (Debian 12"},
		{[]string{"flex", "--version"}, "flex 2."},
		{[]string{"bison", "--version"}, "GNU Bison"},
		{[]string{"awk", "BEGIN{print 1}"}, "1"},
		{[]string{"make", "--version"}, "GNU Make"},
		{[]string{"dpkg", "-l", "build-essential"}, "ii  build-essential"},
		{[]string{"sh", "-c", "readlink -f $(command -v cc)"}, "gcc"},
	}
	for _, c := range checks {
		r := mustKforge(t, nil, append([]string{"run", "-f", p, "--target", "builder", "--progress", "plain", "--"}, c.cmd...)...)
		if !strings.Contains(r.stdout, c.want) {
			t.Errorf("%v: stdout %q lacks %q", c.cmd, r.stdout, c.want)
		}
	}
	// Opening a connection fails: the step has no network but loopback.
	r := kforge(t, nil, "run", "-f", p, "--target", "builder", "--progress", "plain", "--",
		"python3", "-c", "import socket; socket.create_connection(('1.1.1.1', 80), timeout=5); print('connected')")
	if r.code == 0 || strings.Contains(r.stdout, "connected") {
		t.Fatalf("a build step opened a network connection (exit %d): %s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "Network is unreachable") {
		t.Errorf("the connection failed for another reason than having no network: %s", lastLines(r.stderr, 10))
	}
	r = mustKforge(t, nil, "run", "-f", p, "--target", "builder", "--progress", "plain", "--", "cat", "/proc/net/dev")
	if strings.Contains(r.stdout, "eth") || !strings.Contains(r.stdout, "lo:") {
		t.Errorf("the step has network interfaces besides loopback:\n%s", r.stdout)
	}
}

func TestRunPassesOutputAndExitStatus(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	r := kforge(t, nil, "run", "-f", p, "--target", "builder", "--progress", "plain", "--",
		"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7")
	if r.code != 7 {
		t.Errorf("exit status %d, want the command's 7", r.code)
	}
	if strings.TrimSpace(r.stdout) != "to-stdout" {
		t.Errorf("stdout = %q, want the command's own output only", r.stdout)
	}
	if !strings.Contains(r.stderr, "to-stderr") {
		t.Errorf("stderr lacks the command's stderr")
	}

	// Another target's tree, read-only at the path given.
	r = kforge(t, nil, "run", "-f", p, "--target", "builder", "--mount", "builder:/mnt/tree", "--progress", "plain", "--",
		"sh", "-c", "test -x /mnt/tree/usr/bin/gcc && echo mounted; touch /mnt/tree/x 2>/dev/null && echo writable; true")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "mounted" {
		t.Errorf("--mount builder:/mnt/tree: exit %d, stdout %q, want the tree mounted read-only\n%s", r.code, r.stdout, r.stderr)
	}
	for _, bad := range []struct{ spec, want string }{
		{"builder", "want TARGET:PATH"},
		{"builder:relative", "absolute PATH"},
		{"nosuch:/mnt", "nosuch"},
	} {
		r = kforge(t, nil, "run", "-f", p, "--target", "builder", "--mount", bad.spec, "--", "true")
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("--mount %s: exit %d, stderr %q, want an error naming %q", bad.spec, r.code, r.stderr, bad.want)
		}
	}
}
