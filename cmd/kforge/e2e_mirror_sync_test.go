package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMirrorSyncThenOfflineBuild copies the pinned inputs of a Rust program
// into a directory mirror, then builds it with a fresh daemon in a network
// namespace that has nothing but loopback: with --mirror it succeeds, without
// it fails naming a file it could not get.
func TestMirrorSyncThenOfflineBuild(t *testing.T) {
	e2e(t)
	p := lockedRust(t)
	dir := filepath.Join(t.TempDir(), "mirror")
	r := mustKforge(t, nil, "mirror", "sync", "-f", p, "--target", "hello", dir)
	m := regexp.MustCompile(`(\d+) fetched, (\d+) already there, 0 missing`).FindStringSubmatch(r.stderr)
	if m == nil || m[1] == "0" {
		t.Fatalf("sync fetched nothing:\n%s", lastLines(r.stderr, 5))
	}
	blobs, _ := filepath.Glob(filepath.Join(dir, "sha256", "*"))
	if len(blobs) < 100 {
		t.Errorf("the mirror holds %d files; the Rust environment alone has more .debs", len(blobs))
	}
	r = mustKforge(t, nil, "mirror", "sync", "-f", p, "--target", "hello", dir)
	if !strings.Contains(r.stderr, " 0 fetched, "+m[1]+" already there") {
		t.Errorf("a second sync fetched again:\n%s", lastLines(r.stderr, 3))
	}

	offline := func(args ...string) result {
		t.Helper()
		state := t.TempDir()
		env := []string{"KFORGE_STATE_DIR=" + state}
		t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
		// kforge starts its own daemon inside the namespace, so that the
		// daemon has no network either.
		script := `ip link set lo up && exec "$@"`
		return kforgeIn(t, env, append([]string{"unshare", "--net", "sh", "-c", script, "sh", kforgeBin}, args...)...)
	}
	out := filepath.Join(t.TempDir(), "out")
	r = offline("build", "-f", p, "--target", "hello", "--progress", "plain", "--mirror", dir, "--offline", "-o", "type=local,dest="+out)
	if r.code != 0 {
		t.Fatalf("offline build from the mirror failed:\n%s", lastLines(r.stderr, 30))
	}
	checkStaticBinary(t, filepath.Join(out, "usr", "bin", "hello"))

	out2 := filepath.Join(t.TempDir(), "out")
	r = offline("build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out2)
	if r.code == 0 {
		t.Fatal("a build with no network and no mirror succeeded")
	}
	for _, w := range []string{".deb (sha256 ", "is not on any mirror", "kforge mirror sync"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("error lacks %q:\n%s", w, lastLines(r.stderr, 12))
		}
	}
	noPath(t, out2)
}

// kforgeIn runs a command line that ends in kforge (unshare ... kforge
// ARGS), with kforge's environment.
func kforgeIn(t *testing.T, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "KFORGE_STATE_DIR="+stateDir), env...)
	var res result
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", argv, err)
	}
	return res
}

// TestKataAgentRecipeFailsAtTheFetch: the built-in recipe for Kata's real
// agent locks, and its graph is whole: the build gets as far as fetching
// the release files, which this network cannot reach, and says so.
func TestKataAgentRecipeFailsAtTheFetch(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	copyFileTo(t, filepath.Join(repoRoot, "recipes", "kata-agent.yaml"), filepath.Join(dir, "kata-agent.yaml"))
	p := filepath.Join(dir, "kata-agent.yaml")
	mustKforge(t, nil, "lock", "-f", p)
	out := filepath.Join(dir, "out")
	r := kforge(t, nil, "build", "-f", p, "--target", "agent", "--progress", "plain", "-o", "type=local,dest="+out)
	if r.code == 0 {
		t.Fatal("the Kata agent built: this network is not expected to reach its release files")
	}
	if !strings.Contains(r.stderr, "is not on any mirror") || !regexp.MustCompile(`(3\.31\.0\.tar\.gz|kata-containers-3\.31\.0-vendor\.tar\.gz|rust-1\.93\.0-x86_64-unknown-linux-gnu\.tar\.xz) \(sha256 [0-9a-f]{64}\) is not on any mirror`).MatchString(r.stderr) {
		t.Errorf("the build did not stop at a release file's fetch:\n%s", lastLines(r.stderr, 15))
	}
	noPath(t, out)

	r = kforge(t, nil, "mirror", "sync", "-f", p, filepath.Join(dir, "mirror"))
	if r.code == 0 {
		t.Fatal("mirror sync reported every file fetched")
	}
	if !strings.Contains(r.stderr, "3 missing") {
		t.Errorf("mirror sync should miss exactly the 3 release files:\n%s", lastLines(r.stderr, 15))
	}
	for _, f := range []string{"3.31.0.tar.gz (sha256", "kata-containers-3.31.0-vendor.tar.gz (sha256", "rust-1.93.0-x86_64-unknown-linux-gnu.tar.xz (sha256"} {
		if !strings.Contains(r.stderr, f) {
			t.Errorf("mirror sync does not name %s:\n%s", f, lastLines(r.stderr, 15))
		}
	}
}

// TestMirrorSyncToARegistryThenBuild keeps the pinned files of an
// environment in a registry, anonymous and authenticated: a fresh daemon
// builds the environment from it with --offline, fetching every file as a
// blob by its digest. A file the registry lacks is named with the mirror.
func TestMirrorSyncToARegistryThenBuild(t *testing.T) {
	e2e(t)
	p := guestFixture.get(t)
	plain, secure := plainRegistry(t), farmRegistry(t)
	for _, tc := range []struct {
		name   string
		mirror string
		env    []string
	}{
		{"anonymous", "oci://" + plain.Host + "/kforge/mirror", nil},
		{"authenticated", "oci://" + secure.Host + "/kforge/mirror", secure.env()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustKforge(t, tc.env, "mirror", "sync", "-f", p, "--target", "guest", tc.mirror)
			m := regexp.MustCompile(`(\d+) fetched, (\d+) already there, 0 missing`).FindStringSubmatch(r.stderr)
			if m == nil || m[1] == "0" {
				t.Fatalf("sync pushed nothing:\n%s", lastLines(r.stderr, 5))
			}
			r = mustKforge(t, tc.env, "mirror", "sync", "-f", p, "--target", "guest", tc.mirror)
			if !strings.Contains(r.stderr, " 0 fetched, "+m[1]+" already there") {
				t.Errorf("a second sync pushed again:\n%s", lastLines(r.stderr, 3))
			}
			env := append([]string{"KFORGE_STATE_DIR=" + t.TempDir()}, tc.env...)
			t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
			out := filepath.Join(t.TempDir(), "out")
			r = kforge(t, env, "build", "-f", p, "--target", "guest", "--progress", "plain", "--mirror", tc.mirror, "--offline", "-o", "type=local,dest="+out)
			if r.code != 0 {
				t.Fatalf("build from the registry mirror failed:\n%s", lastLines(r.stderr, 30))
			}
			if !strings.Contains(r.stderr, "/v2/kforge/mirror/blobs/sha256:") {
				t.Errorf("the build fetched nothing from the registry:\n%s", lastLines(r.stderr, 10))
			}
			if _, err := os.Stat(filepath.Join(out, "usr", "lib", "x86_64-linux-gnu", "libseccomp.so.2")); err != nil {
				t.Errorf("the environment lacks libseccomp: %v", err)
			}
		})
	}
	t.Run("a file the mirror lacks", func(t *testing.T) {
		mirror := "oci://" + plain.Host + "/kforge/mirror"
		env := []string{"KFORGE_STATE_DIR=" + t.TempDir()}
		t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
		out := filepath.Join(t.TempDir(), "out")
		r := kforge(t, env, "build", "-f", p, "--target", "tools", "--progress", "plain", "--mirror", mirror, "--offline", "-o", "type=local,dest="+out)
		if r.code == 0 {
			t.Fatal("a build needing files the mirror lacks succeeded")
		}
		for _, w := range []string{"is not on any mirror", plain.Host + "/v2/kforge/mirror/blobs/sha256:", "kforge mirror sync"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("error lacks %q:\n%s", w, lastLines(r.stderr, 12))
			}
		}
		noPath(t, out)
	})
}
