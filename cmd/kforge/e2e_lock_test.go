package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pault.ag/go/debian/version"

	"github.com/kforge/kforge/recipes"
)

// suitesRecipe writes a recipe of one environment over the test archive's
// bookworm and bookworm-security, signed by the archive's key.
func suitesRecipe(t *testing.T, a *testArchive, packages string) string {
	t.Helper()
	dir := t.TempDir()
	copyFileTo(t, a.Keyring, filepath.Join(dir, "archive.asc"))
	p := filepath.Join(dir, "suites.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`apiVersion: kforge/v1
name: suites
debian:
  mirrors: [%s]
  suite: bookworm
  keyring: archive.asc
  suites:
    - suite: bookworm-security
environments:
  tools:
    packages: [%s]
`, a.URL, packages)), 0o644)
	return p
}

func readLockFile(t *testing.T, p string) *recipes.Lock {
	t.Helper()
	l, err := recipes.ReadLock(recipes.LockPath(p))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func lockedVersions(l *recipes.Lock, env string) map[string]string {
	out := map[string]string{}
	for _, p := range l.Environments[env].Packages {
		out[p.Name] = p.Version + "@" + p.Suite
	}
	return out
}

// A lock across a suite and its security suite takes the newer version
// from either; a plain lock keeps what is pinned; --check reports what the
// suites moved to and exits 1; --update writes it and prints each change.
func TestLockUpdateAndCheckFollowTheSuites(t *testing.T) {
	e2e(t)
	a := newTestArchive(t)
	week := map[string]string{"Valid-Until": time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC1123)}
	a.publish("bookworm", nil, stanza("hello", "1.0-1", "libold, libc6 (>= 2.36)")+stanza("libold", "1.0", "")+stanza("libc6", "2.36-9", ""))
	a.publish("bookworm-security", week, stanza("libc6", "2.36-9+deb12u1", ""))
	p := suitesRecipe(t, a, "hello")
	mustKforge(t, nil, "lock", "-f", p)
	want := map[string]string{"hello": "1.0-1@bookworm", "libold": "1.0@bookworm", "libc6": "2.36-9+deb12u1@bookworm-security"}
	if got := lockedVersions(readLockFile(t, p), "tools"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first lock: %v, want %v", got, want)
	}
	first, _ := os.ReadFile(recipes.LockPath(p))

	// The security suite moves on: hello 1.1 needs libnew instead of libold.
	a.publish("bookworm-security", week, stanza("libc6", "2.36-9+deb12u2", "")+
		stanza("hello", "1.1-1", "libnew, libc6 (>= 2.36)")+stanza("libnew", "2.0", ""))
	r := mustKforge(t, nil, "lock", "-f", p)
	if strings.TrimSpace(r.stdout) != "no changes" {
		t.Errorf("a plain lock of an unchanged recipe printed %q, want no changes", r.stdout)
	}
	if now, _ := os.ReadFile(recipes.LockPath(p)); !bytes.Equal(now, first) {
		t.Error("a plain lock of an unchanged recipe rewrote its entries")
	}

	changes := []string{
		"[environment tools] upgraded hello 1.0-1 -> 1.1-1 (bookworm-security)",
		"[environment tools] upgraded libc6 2.36-9+deb12u1 -> 2.36-9+deb12u2 (bookworm-security)",
		"[environment tools] added libnew 2.0 (bookworm-security)",
		"[environment tools] removed libold 1.0",
		"2 upgraded, 1 added, 1 removed; 3 from a security suite",
	}
	r = kforge(t, nil, "lock", "-f", p, "--check")
	if r.code != 1 || !strings.Contains(r.stderr, "is behind its suites") {
		t.Errorf("--check of a lock behind its suites: exit %d\n%s", r.code, r.stderr)
	}
	for _, c := range changes {
		if !strings.Contains(r.stdout, c+"\n") {
			t.Errorf("--check does not print %q:\n%s", c, r.stdout)
		}
	}
	if now, _ := os.ReadFile(recipes.LockPath(p)); !bytes.Equal(now, first) {
		t.Error("--check wrote the lock")
	}

	r = mustKforge(t, nil, "lock", "-f", p, "--update")
	if strings.Join(changes, "\n")+"\n" != r.stdout {
		t.Errorf("--update printed\n%s\nwant\n%s", r.stdout, strings.Join(changes, "\n"))
	}
	if got := lockedVersions(readLockFile(t, p), "tools")["hello"]; got != "1.1-1@bookworm-security" {
		t.Errorf("after --update hello is %s", got)
	}
	if r := kforge(t, nil, "lock", "-f", p, "--check"); r.code != 0 || strings.TrimSpace(r.stdout) != "no changes" {
		t.Errorf("--check of a current lock: exit %d, %q", r.code, r.stdout)
	}
}

// An index past its Valid-Until is refused, naming the suite, the date and
// the option that accepts it; the lock is left as it was. The option
// accepts it, and the lock records the date.
func TestLockRefusesAnExpiredIndex(t *testing.T) {
	e2e(t)
	a := newTestArchive(t)
	expired := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	a.publish("bookworm", nil, stanza("hello", "1.0-1", ""))
	a.publish("bookworm-security", map[string]string{"Valid-Until": expired.Format(time.RFC1123)}, stanza("hello", "1.0-1+deb12u1", ""))
	p := suitesRecipe(t, a, "hello")
	r := kforge(t, nil, "lock", "-f", p)
	for _, want := range []string{a.URL + "/dists/bookworm-security/InRelease", "expired on " + expired.Format(time.RFC1123),
		"the index of bookworm-security", "--allow-expired bookworm-security"} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("expired index: exit %d, no %q in\n%s", r.code, want, lastLines(r.stderr, 8))
		}
	}
	noPath(t, recipes.LockPath(p))

	if r := kforge(t, nil, "lock", "-f", p, "--allow-expired", "bookworm-securty"); r.code == 0 || !strings.Contains(r.stderr, `no suite "bookworm-securty"`) {
		t.Errorf("--allow-expired of a suite the recipe lacks: exit %d\n%s", r.code, r.stderr)
	}
	mustKforge(t, nil, "lock", "-f", p, "--allow-expired", "bookworm-security")
	l := readLockFile(t, p)
	if s := l.Environments["tools"].Suites; len(s) != 1 || s[0].Release.ValidUntil != expired.Format(time.RFC1123) {
		t.Errorf("the lock's suites: %+v", s)
	}
	if got := lockedVersions(l, "tools")["hello"]; got != "1.0-1+deb12u1@bookworm-security" {
		t.Errorf("hello is %s", got)
	}
}

// Debian's own suites: bookworm with bookworm-updates, bookworm-security
// (at the debian-security root) and bookworm-backports. linux-source-6.12
// comes from security, e2fsprogs/bookworm-backports from backports, and a
// package both main and security carry at its newest.
func TestLockAcrossDebianSecurityAndBackports(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	write := func(name, suites string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(`apiVersion: kforge/v1
name: `+name+`
debian:
  mirrors: [`+debianMirror+`]
  suite: bookworm
`+suites+`environments:
  tools:
    packages: [linux-source-6.1, e2fsprogs`+map[bool]string{true: "/bookworm-backports, linux-source-6.12", false: ""}[suites != ""]+`]
`), 0o644)
		return p
	}
	plain := write("main-only", "")
	all := write("all-suites", `  suites:
    - suite: bookworm-updates
    - suite: bookworm-security
      mirrors: [http://deb.debian.org/debian-security]
    - suite: bookworm-backports
`)
	mustKforge(t, nil, "lock", "-f", plain)
	lockLive(t, all)
	mainOnly, multi := readLockFile(t, plain).Environments["tools"], readLockFile(t, all).Environments["tools"]
	if len(multi.Suites) != 3 || multi.Suites[1].Suite != "bookworm-security" || multi.Suites[1].Codename != "bookworm-security" {
		t.Fatalf("the lock's further suites: %+v", multi.Suites)
	}
	pkgs := map[string]recipes.LockedPackage{}
	for _, p := range multi.Packages {
		pkgs[p.Name] = p
	}
	if p := pkgs["linux-source-6.12"]; p.Suite != "bookworm-security" || !strings.HasPrefix(p.Version, "6.12.") {
		t.Errorf("linux-source-6.12: %s from %q", p.Version, p.Suite)
	}
	if p := pkgs["e2fsprogs"]; p.Suite != "bookworm-backports" || !strings.Contains(p.Version, "~bpo12") {
		t.Errorf("e2fsprogs/bookworm-backports: %s from %q", p.Version, p.Suite)
	}
	// Its library comes along from backports, as its exact dependency needs.
	if p := pkgs["libext2fs2"]; p.Version != pkgs["e2fsprogs"].Version {
		t.Errorf("libext2fs2 %s from %q beside e2fsprogs %s", p.Version, p.Suite, pkgs["e2fsprogs"].Version)
	}
	for _, p := range mainOnly.Packages {
		if p.Name != "linux-source-6.1" {
			continue
		}
		got := pkgs[p.Name]
		a, _ := version.Parse(got.Version)
		b, _ := version.Parse(p.Version)
		if c := version.Compare(a, b); c < 0 || (c > 0 && got.Suite != "bookworm-security") {
			t.Errorf("linux-source-6.1 across suites is %s from %q; bookworm alone has %s", got.Version, got.Suite, p.Version)
		}
	}
	data, _ := os.ReadFile(recipes.LockPath(all))
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || !strings.Contains(string(data), `"suite": "bookworm-backports"`) {
		t.Errorf("the lock does not record each package's suite")
	}
}

// lockLive locks a recipe against Debian's real archive. This farm's mirror
// is a snapshot, so the indexes of suites that carry a Valid-Until
// (security, updates, backports) may be past their week when the tests run:
// each such suite of the recipe is accepted by name, as a user of the
// snapshot would. Expiry itself is tested on an archive of the test's own
// (TestLockRefusesAnExpiredIndex).
func lockLive(t *testing.T, p string, extra ...string) result {
	t.Helper()
	r, err := recipes.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"lock", "-f", p}
	for _, s := range r.LockedSuiteNames()[1:] {
		args = append(args, "--allow-expired", s)
	}
	return mustKforge(t, nil, append(args, extra...)...)
}
