package debian

import (
	"strings"
	"testing"
)

// stanzas is a small Packages index exercising the closure rules.
const stanzas = `Package: base-files
Version: 12.4
Architecture: amd64
Essential: yes
Priority: required
Filename: pool/b/base-files.deb
Size: 10
SHA256: 01

Package: mawk
Version: 1.3.4
Architecture: amd64
Priority: required
Provides: awk
Filename: pool/m/mawk.deb
Size: 10
SHA256: 02

Package: gawk
Version: 5.2
Architecture: amd64
Priority: optional
Provides: awk
Filename: pool/g/gawk.deb
Size: 10
SHA256: 03

Package: tool
Version: 2.0
Architecture: amd64
Depends: awk, libfoo (>= 1.5) | libfoo-compat, libonly-arm [arm64], python3:any
Pre-Depends: libc6 (>= 2.36)
Filename: pool/t/tool.deb
Size: 10
SHA256: 04

Package: libfoo
Version: 1.0
Architecture: amd64
Filename: pool/l/libfoo.deb
Size: 10
SHA256: 05

Package: libfoo-compat
Version: 1.0
Architecture: amd64
Provides: libfoo (= 1.6)
Filename: pool/l/libfoo-compat.deb
Size: 10
SHA256: 06

Package: libc6
Version: 2.36-9
Architecture: amd64
Filename: pool/l/libc6.deb
Size: 10
SHA256: 07

Package: python3
Version: 3.11
Architecture: amd64
Depends: libc6
Filename: pool/p/python3.deb
Size: 10
SHA256: 08

Package: libonly-arm
Version: 1
Architecture: arm64
Filename: pool/l/libonly-arm.deb
Size: 10
SHA256: 09
`

func testIndex(t *testing.T) *index {
	t.Helper()
	idx := newIndex()
	if err := idx.add(strings.NewReader(stanzas)); err != nil {
		t.Fatal(err)
	}
	idx.finish()
	return idx
}

func names(pkgs []*pkg) string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name)
	}
	return strings.Join(out, " ")
}

func TestCloseOverFollowsDebianRules(t *testing.T) {
	got, err := closeOver(testIndex(t), "amd64", []string{"tool"})
	if err != nil {
		t.Fatal(err)
	}
	// awk is satisfied by mawk (required, so already selected), not gawk;
	// libfoo 1.0 is too old, so the alternative libfoo-compat is taken;
	// libonly-arm applies to arm64 only; python3:any is python3.
	if want := "base-files libc6 libfoo-compat mawk python3 tool"; names(got) != want {
		t.Errorf("closure = %q, want %q", names(got), want)
	}
}

func TestCloseOverIsDeterministic(t *testing.T) {
	first, err := closeOver(testIndex(t), "amd64", []string{"tool", "gawk"})
	if err != nil || len(first) == 0 {
		t.Fatalf("closure: %v", err)
	}
	for i := 0; i < 20; i++ {
		again, err := closeOver(testIndex(t), "amd64", []string{"gawk", "tool"})
		if err != nil {
			t.Fatal(err)
		}
		if names(again) != names(first) {
			t.Fatalf("closure differs between runs: %q vs %q", names(again), names(first))
		}
	}
}

func TestCloseOverNamesMissingAndVirtualPackages(t *testing.T) {
	_, err := closeOver(testIndex(t), "amd64", []string{"tol"})
	if err == nil || !strings.Contains(err.Error(), `"tol" does not exist`) || !strings.Contains(err.Error(), "tool") {
		t.Errorf("missing package: %v", err)
	}
	_, err = closeOver(testIndex(t), "amd64", []string{"awk"})
	if err == nil || !strings.Contains(err.Error(), "virtual, provided by gawk, mawk") {
		t.Errorf("virtual package: %v", err)
	}
}

func TestCloseOverReportsUnsatisfiableDependency(t *testing.T) {
	idx := testIndex(t)
	idx.byName["libc6"][0].Version.Version = "2.31"
	_, err := closeOver(idx, "amd64", []string{"tool"})
	if err == nil || !strings.Contains(err.Error(), "tool 2.0 depends on libc6 (>= 2.36)") {
		t.Errorf("unsatisfiable: %v", err)
	}
}
