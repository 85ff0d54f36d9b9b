package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLockRejectsUnknownPackage(t *testing.T) {
	e2e(t)
	p := writeRecipe(t, []string{debianMirror}, "flexx", "bison")
	r := kforge(t, nil, "lock", "-f", p)
	if r.code == 0 {
		t.Fatal("locking a package that does not exist succeeded")
	}
	for _, want := range []string{`"flexx" does not exist`, "close names: flex"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.stderr)
		}
	}
	noPath(t, strings.TrimSuffix(p, ".yaml")+".lock")
}

func TestLockRejectsBadInReleaseSignature(t *testing.T) {
	e2e(t)
	// The proxy alters the signed text of InRelease: the signature no longer
	// matches.
	mp := newMirrorProxy(t, func(path string, body []byte) []byte {
		if strings.HasSuffix(path, "/InRelease") {
			return bytes.Replace(body, []byte("Codename: bookworm"), []byte("Codename: bookwurm"), 1)
		}
		return body
	})
	p := writeRecipe(t, []string{mp.URL + "/debian"}, "bc")
	r := kforge(t, nil, "lock", "-f", p)
	if r.code == 0 {
		t.Fatal("a tampered InRelease was accepted")
	}
	if !strings.Contains(r.stderr, "signature check failed") || !strings.Contains(r.stderr, mp.URL) {
		t.Errorf("error does not say which InRelease failed its signature check:\n%s", r.stderr)
	}
	noPath(t, strings.TrimSuffix(p, ".yaml")+".lock")
}

// lockedCopy copies the locked builder recipe into a new directory, passing
// the lock through edit.
func lockedCopy(t *testing.T, edit func(lock string) string) string {
	t.Helper()
	src := lockedBuilder(t)
	dir := t.TempDir()
	data, _ := os.ReadFile(src)
	p := filepath.Join(dir, "builder.yaml")
	os.WriteFile(p, data, 0o644)
	os.WriteFile(filepath.Join(dir, "builder.lock"), []byte(edit(string(builderLocked))), 0o644)
	return p
}

// lockEntry finds the lock entry of a package: its filename and sha256.
func lockEntry(t *testing.T, lock, pkg string) (filename, sha string) {
	t.Helper()
	re := regexp.MustCompile(`"name": "` + regexp.QuoteMeta(pkg) + `",[^}]*"filename": "([^"]+)",[^}]*"sha256": "([0-9a-f]{64})"`)
	m := re.FindStringSubmatch(lock)
	if m == nil {
		t.Fatalf("package %s not in the lock", pkg)
	}
	return m[1], m[2]
}

func TestBuildRejectsDebWhoseContentDoesNotMatch(t *testing.T) {
	e2e(t)
	var filename, real string
	wrong := strings.Repeat("0123456789abcdef", 4)
	p := lockedCopy(t, func(lock string) string {
		filename, real = lockEntry(t, lock, "bc")
		return strings.Replace(lock, real, wrong, 1)
	})
	out := filepath.Join(t.TempDir(), "out")
	r := kforge(t, nil, "build", "-f", p, "--target", "builder", "--progress", "plain", "-o", "type=local,dest="+out)
	if r.code == 0 {
		t.Fatal("a .deb that does not match its pinned sha256 was accepted")
	}
	for _, want := range []string{debianMirror, filename, "sha256:" + real, "sha256:" + wrong} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, lastLines(r.stderr, 10))
		}
	}
	noPath(t, out)
}

func TestBuildExplainsAFileNoMirrorHasAnyMore(t *testing.T) {
	e2e(t)
	p := lockedCopy(t, func(lock string) string {
		filename, _ := lockEntry(t, lock, "bc")
		return strings.Replace(lock, filename, strings.Replace(filename, "bc_", "bc-gone_", 1), 1)
	})
	r := kforge(t, nil, "build", "-f", p, "--target", "builder", "--progress", "plain")
	if r.code == 0 {
		t.Fatal("a build with a file no mirror has succeeded")
	}
	for _, want := range []string{"is not on any mirror", "bc-gone_", "does not have this file", "kforge lock"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, lastLines(r.stderr, 10))
		}
	}
}

func TestBuildRefusesALockOlderThanTheRecipe(t *testing.T) {
	e2e(t)
	p := lockedCopy(t, func(lock string) string { return lock })
	data, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(data, []byte("python3]"), []byte("python3, gdb]"), 1), 0o644)
	r := kforge(t, nil, "build", "-f", p, "--target", "builder")
	if r.code == 0 || !strings.Contains(r.stderr, "changed") || !strings.Contains(r.stderr, "kforge lock") {
		t.Fatalf("a stale lock was used or the error does not say to re-lock (exit %d):\n%s", r.code, r.stderr)
	}
}

func TestBadRecipesFailWithPositionsAndNoOutput(t *testing.T) {
	e2e(t)
	cases := map[string]struct {
		src  string
		want string
	}{
		"malformed": {"apiVersion: kforge/v1\nname: x\ndebian:\n  mirrors: [http://a/debian\n  suite: bookworm\n", "bad.yaml:"},
		"unknown":   {"apiVersion: kforge/v1\nname: x\ndebian:\n  mirrors: [http://a/debian]\n  suite: bookworm\nenvironments:\n  b:\n    pakages: [gcc]\n", `bad.yaml:8:5: unknown field "pakages" (did you mean "packages"?)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "bad.yaml")
			os.WriteFile(p, []byte(c.src), 0o644)
			out := filepath.Join(dir, "out")
			for _, args := range [][]string{
				{"lock", "-f", p},
				{"build", "-f", p, "--target", "b", "-o", "type=local,dest=" + out},
			} {
				r := kforge(t, nil, args...)
				if r.code == 0 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("kforge %s: exit %d, want an error containing %q:\n%s", args[0], r.code, c.want, r.stderr)
				}
				if name == "malformed" && !regexp.MustCompile(`bad\.yaml:\d+:\d+: `).MatchString(r.stderr) {
					t.Errorf("kforge %s: no line:column in %q", args[0], r.stderr)
				}
			}
			noPath(t, out)
			noPath(t, filepath.Join(dir, "bad.lock"))
		})
	}
}

func TestDaemonProblemsSayWhatToDo(t *testing.T) {
	e2e(t)
	p := lockedBuilder(t)
	// No runc on PATH: say what to install.
	r := kforge(t, []string{"KFORGE_STATE_DIR=" + t.TempDir(), "PATH=/nonexistent"}, "build", "-f", p, "--target", "builder")
	if r.code == 0 || !strings.Contains(r.stderr, "apt-get install runc") {
		t.Errorf("missing runc: exit %d:\n%s", r.code, r.stderr)
	}
	// A daemon that dies at start: say where its log is.
	state := t.TempDir()
	r = kforge(t, []string{"KFORGE_STATE_DIR=" + state, "KFORGE_BUILDKITD=/bin/false"}, "build", "-f", p, "--target", "builder")
	if r.code == 0 || !strings.Contains(r.stderr, filepath.Join(state, "buildkitd.log")) {
		t.Errorf("failing daemon: exit %d:\n%s", r.code, r.stderr)
	}
}
