package llb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"

	"github.com/kforge/kforge/recipes"
)

// A package locked from a further suite is fetched from that suite's
// mirrors, one from the first suite (or from a lock that predates suites)
// from debian.mirrors.
func TestPackagesAreFetchedFromTheirSuitesMirrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "suites.yaml")
	os.WriteFile(p, []byte(`apiVersion: kforge/v1
name: suites
debian:
  mirrors: [http://main.example/debian]
  suite: bookworm
  suites:
    - suite: bookworm-security
      mirrors: [http://security.example/debian-security]
environments:
  tools:
    packages: [libc6, hello]
`), 0o644)
	r, err := recipes.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	pkg := func(name, suite string) recipes.LockedPackage {
		return recipes.LockedPackage{Name: name, Version: "1", Architecture: "amd64", Filename: "pool/main/" + name + ".deb",
			Size: 1, SHA256: strings.Repeat("1", 64), Suite: suite}
	}
	lock := &recipes.Lock{LockVersion: recipes.LockVersion, Environments: map[string]*recipes.LockedEnvironment{
		"tools": {Request: recipes.EnvironmentRequest(r, "tools"), Suite: "bookworm", Architecture: "amd64",
			Packages: []recipes.LockedPackage{pkg("libc6", "bookworm-security"), pkg("hello", "bookworm"), pkg("old", "")}},
	}}
	if err := recipes.WriteLock(recipes.LockPath(p), lock); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"http://security.example/debian-security/pool/main/libc6.deb": "",
		"http://main.example/debian/pool/main/hello.deb":              "",
		"http://main.example/debian/pool/main/old.deb":                "",
	}
	for _, dt := range marshalTarget(t, p, "tools").Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if s := op.GetSource(); s != nil && strings.HasPrefix(s.GetIdentifier(), "http") {
			if _, ok := want[s.GetIdentifier()]; !ok {
				t.Errorf("unexpected download %s", s.GetIdentifier())
			}
			delete(want, s.GetIdentifier())
		}
	}
	for u := range want {
		t.Errorf("no download of %s", u)
	}
}
