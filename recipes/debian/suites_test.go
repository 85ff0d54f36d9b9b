package debian

import (
	"strings"
	"testing"
	"time"
)

// suiteIndex is a parsed index of one suite with its release fields.
func suiteIndex(t *testing.T, name string, rel *release, stanzas string) *loadedIndex {
	t.Helper()
	idx := newIndex()
	if err := idx.add(strings.NewReader(stanzas)); err != nil {
		t.Fatal(err)
	}
	idx.finish()
	idx.setSuite(name, rel)
	return &loadedIndex{suite: name, rel: rel, idx: idx}
}

const mainStanzas = `Package: libc6
Version: 2.36-9+deb12u9
Architecture: amd64
Priority: required
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u9_amd64.deb
Size: 1
SHA256: a1

Package: e2fsprogs
Version: 1.47.0-2
Architecture: amd64
Depends: libext2fs2 (= 1.47.0-2), libc6 (>= 2.34)
Filename: pool/main/e/e2fsprogs/e2fsprogs_1.47.0-2_amd64.deb
Size: 1
SHA256: a2

Package: libext2fs2
Version: 1.47.0-2
Architecture: amd64
Priority: required
Filename: pool/main/e/e2fsprogs/libext2fs2_1.47.0-2_amd64.deb
Size: 1
SHA256: a3
`

const securityStanzas = `Package: libc6
Version: 2.36-9+deb12u13
Architecture: amd64
Priority: required
Filename: pool/updates/main/g/glibc/libc6_2.36-9+deb12u13_amd64.deb
Size: 1
SHA256: b1
`

const backportsStanzas = `Package: e2fsprogs
Version: 1.47.2-3~bpo12+1
Architecture: amd64
Depends: libext2fs2 (= 1.47.2-3~bpo12+1), libc6 (>= 2.34)
Filename: pool/main/e/e2fsprogs/e2fsprogs_1.47.2-3~bpo12+1_amd64.deb
Size: 1
SHA256: c2

Package: libext2fs2
Version: 1.47.2-3~bpo12+1
Architecture: amd64
Priority: required
Filename: pool/main/e/e2fsprogs/libext2fs2_1.47.2-3~bpo12+1_amd64.deb
Size: 1
SHA256: c3

Package: only-in-backports
Version: 1.0~bpo12+1
Architecture: amd64
Filename: pool/main/o/only/only-in-backports_1.0~bpo12+1_amd64.deb
Size: 1
SHA256: c4
`

func threeSuites(t *testing.T) *index {
	return mergeIndexes([]*loadedIndex{
		suiteIndex(t, "bookworm", &release{Suite: "stable", Codename: "bookworm"}, mainStanzas),
		suiteIndex(t, "bookworm-security", &release{Suite: "stable-security", Codename: "bookworm-security"}, securityStanzas),
		suiteIndex(t, "bookworm-backports", &release{Suite: "stable-backports", Codename: "bookworm-backports",
			NotAutomatic: true, ButAutomaticUpgrades: true}, backportsStanzas),
	})
}

// versions lists name=version@suite of a closure.
func versions(pkgs []*pkg) string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+"="+p.Version.String()+"@"+p.Suite)
	}
	return strings.Join(out, " ")
}

func TestHighestVersionAcrossSuitesWins(t *testing.T) {
	got, err := closeOver(threeSuites(t), "amd64", []string{"e2fsprogs"})
	if err != nil {
		t.Fatal(err)
	}
	// libc6 from security (newer), e2fsprogs from main: backports is
	// NotAutomatic, so its newer e2fsprogs is not the candidate.
	want := "e2fsprogs=1.47.0-2@bookworm libc6=2.36-9+deb12u13@bookworm-security libext2fs2=1.47.0-2@bookworm"
	if versions(got) != want {
		t.Errorf("closure\n %s\nwant\n %s", versions(got), want)
	}
}

func TestSuiteSyntaxTakesBackportsAndItsNeededDependencies(t *testing.T) {
	got, err := closeOver(threeSuites(t), "amd64", []string{"e2fsprogs/bookworm-backports", "only-in-backports"})
	if err != nil {
		t.Fatal(err)
	}
	// libext2fs2 is required (selected from main first), but e2fsprogs from
	// backports needs its own version: that one replaces it. libc6 stays
	// the default candidate. A package only backports has is its candidate.
	want := "e2fsprogs=1.47.2-3~bpo12+1@bookworm-backports libc6=2.36-9+deb12u13@bookworm-security " +
		"libext2fs2=1.47.2-3~bpo12+1@bookworm-backports only-in-backports=1.0~bpo12+1@bookworm-backports"
	if versions(got) != want {
		t.Errorf("closure\n %s\nwant\n %s", versions(got), want)
	}
	// The Release's own names work as apt takes them.
	if got, err := closeOver(threeSuites(t), "amd64", []string{"e2fsprogs/stable-backports"}); err != nil || !strings.Contains(versions(got), "e2fsprogs=1.47.2-3~bpo12+1") {
		t.Errorf("e2fsprogs/stable-backports: %v %s", err, versions(got))
	}
}

func TestSuiteSyntaxNamesWhereThePackageIs(t *testing.T) {
	_, err := closeOver(threeSuites(t), "amd64", []string{"e2fsprogs/bookworm-security"})
	if err == nil || !strings.Contains(err.Error(), `"e2fsprogs" is not in suite bookworm-security`) ||
		!strings.Contains(err.Error(), "1.47.0-2 in bookworm") {
		t.Errorf("error: %v", err)
	}
}

func TestValidUntilIsEnforced(t *testing.T) {
	rel := &release{ValidUntil: "Sat, 07 Nov 2026 08:00:00 UTC"}
	before := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	after := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := checkValidUntil("http://m/dists/bookworm-security/InRelease", "bookworm-security", rel, before, false); err != nil {
		t.Errorf("a current index was refused: %v", err)
	}
	err := checkValidUntil("http://m/dists/bookworm-security/InRelease", "bookworm-security", rel, after, false)
	for _, want := range []string{"http://m/dists/bookworm-security/InRelease", "expired on Sat, 07 Nov 2026 08:00:00 UTC", "--allow-expired bookworm-security"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("expired index: error %v lacks %q", err, want)
		}
	}
	if err := checkValidUntil("u", "bookworm-security", rel, after, true); err != nil {
		t.Errorf("an allowed expired index was refused: %v", err)
	}
	if err := checkValidUntil("u", "s", &release{ValidUntil: "next week"}, after, false); err == nil {
		t.Error("an unreadable Valid-Until was accepted")
	}
}
