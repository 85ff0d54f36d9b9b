package recipes

import (
	"strings"
	"testing"
)

func TestDiffLocksNamesEachChange(t *testing.T) {
	pkg := func(name, version, suite, sum string) LockedPackage {
		return LockedPackage{Name: name, Version: version, Suite: suite, SHA256: sum}
	}
	old := &Lock{
		Environments: map[string]*LockedEnvironment{"guest": {Packages: []LockedPackage{
			pkg("libc6", "2.36-9+deb12u9", "bookworm", "1"), pkg("libold", "1.0", "bookworm", "2"),
			pkg("tzdata", "2026b-0+deb12u1", "bookworm-updates", "3"), pkg("same", "1", "bookworm", "4")}}},
		Kernels: map[string]*LockedKernel{"kernel": {Source: LockedSource{Package: "linux-source-6.1", Version: "6.1.176-1", SHA256: "k1"}}},
	}
	new := &Lock{
		Environments: map[string]*LockedEnvironment{"guest": {Packages: []LockedPackage{
			pkg("libc6", "2.36-9+deb12u13", "bookworm-security", "5"), pkg("libnew", "2.0", "bookworm", "6"),
			pkg("tzdata", "2025a-0+deb12u1", "bookworm", "7"), pkg("same", "1", "bookworm", "4")}}},
		Kernels: map[string]*LockedKernel{"kernel": {Source: LockedSource{Package: "linux-source-6.12", Version: "6.12.118-1~deb12u1", SHA256: "k2", Suite: "bookworm-security"}}},
	}
	var got []string
	for _, c := range DiffLocks(old, new) {
		got = append(got, c.String())
	}
	want := []string{
		"[environment guest] upgraded libc6 2.36-9+deb12u9 -> 2.36-9+deb12u13 (bookworm-security)",
		"[environment guest] added libnew 2.0 (bookworm)",
		"[environment guest] removed libold 1.0",
		"[environment guest] downgraded tzdata 2026b-0+deb12u1 -> 2025a-0+deb12u1 (bookworm)",
		"[kernel kernel] replaced linux-source-6.1 6.1.176-1 with linux-source-6.12 6.12.118-1~deb12u1 (bookworm-security)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(DiffLocks(new, new)) != 0 {
		t.Error("a lock differs from itself")
	}
}
