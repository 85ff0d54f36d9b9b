package kconfig

import (
	"os"
	"path"
	"strings"
	"testing"
)

const kataTree = "../../testdata/kata-fragments"

func TestSelectKataFollowsKataRules(t *testing.T) {
	fsys := os.DirFS(kataTree)
	got, err := SelectKata(fsys, ".", KataOptions{Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, p := range got {
		has[p] = true
	}
	for _, want := range []string{"common/base.conf", "common/acpi.conf", "common/virtio-extras.conf", "x86_64/base.conf"} {
		if !has[want] {
			t.Errorf("x86_64 selection lacks %s: %v", want, got)
		}
	}
	for _, not := range []string{"common/confidential_containers/tmpfs.conf", "debug/debug.conf", "arm64/base.conf"} {
		if has[not] {
			t.Errorf("x86_64 selection has %s", not)
		}
	}
	if !strings.HasPrefix(got[0], "common/") || !strings.HasPrefix(got[len(got)-1], "x86_64/") {
		t.Errorf("common fragments must come before the architecture's: %v", got)
	}

	s390, err := SelectKata(fsys, ".", KataOptions{Arch: "s390"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s390 {
		if p == "common/acpi.conf" || p == "common/dax.conf" {
			t.Errorf("s390 selection has %s, tagged !s390x", p)
		}
	}

	conf, err := SelectKata(fsys, ".", KataOptions{Arch: "x86_64", Confidential: true, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(conf, " ")
	if strings.Contains(joined, "virtio-extras.conf") {
		t.Error("a confidential build kept a fragment tagged !confidential")
	}
	for _, want := range []string{"common/confidential_containers/tmpfs.conf", "debug/debug.conf"} {
		if !strings.Contains(joined, want) {
			t.Errorf("confidential debug selection lacks %s", want)
		}
	}
}

func TestMergeKeepsLastValueAndOverrides(t *testing.T) {
	a, err := Parse("a.conf", []byte("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.conf", []byte("CONFIG_B=m\nCONFIG_A=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	reqs := Merge([][]Assignment{a, b})
	if len(reqs) != 3 {
		t.Fatalf("want 3 requests, got %+v", reqs)
	}
	if r := reqs[1]; r.Symbol != "B" || r.Value != "m" || r.File != "b.conf" || len(r.Overrides) != 1 || r.Overrides[0].Value != "n" {
		t.Errorf("B: %+v", r)
	}
	if r := reqs[0]; r.Value != "y" || len(r.Overrides) != 0 || r.File != "b.conf" {
		t.Errorf("A set twice to the same value is not an override: %+v", r)
	}
	if reqs[2].Value != `"x y"` {
		t.Errorf("string value: %q", reqs[2].Value)
	}
	if _, err := Parse("bad.conf", []byte("CONFIG_A=y\nA=y\n")); err == nil || !strings.Contains(err.Error(), "bad.conf:2") {
		t.Errorf("a malformed line must name file and line: %v", err)
	}
}

func TestKataTreeParses(t *testing.T) {
	fsys := os.DirFS(kataTree)
	files, _ := SelectKata(fsys, ".", KataOptions{Arch: "x86_64"})
	var frags [][]Assignment
	for _, f := range files {
		data, _ := os.ReadFile(path.Join(kataTree, f))
		a, err := Parse(f, data)
		if err != nil {
			t.Fatal(err)
		}
		frags = append(frags, a)
	}
	if n := len(Merge(frags)); n < 200 {
		t.Errorf("only %d requested options from Kata's tree", n)
	}
	allow, _ := os.ReadFile(path.Join(kataTree, "whitelist.conf"))
	if !ParseAllowList(allow)["ARCH_RANDOM"] {
		t.Error("whitelist.conf: CONFIG_ARCH_RANDOM not read")
	}
}
