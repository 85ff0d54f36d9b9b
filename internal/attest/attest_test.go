package attest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spdx/tools-golang/spdx/v2/common"

	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// builtIn loads a built-in recipe with its committed lock.
func builtIn(t *testing.T, name string) (*kllb.Inputs, string) {
	t.Helper()
	path := filepath.Join("..", "..", "recipes", name)
	r, err := recipes.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := recipes.ReadLock(recipes.LockPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return kllb.NewInputs(r, lock, recipes.LockPath(path)), filepath.Dir(path)
}

func byKind(inputs []Input, kind string) []Input {
	var out []Input
	for _, in := range inputs {
		if in.Kind == kind {
			out = append(out, in)
		}
	}
	return out
}

func TestCollectNamesEveryLockedInputOfTheKernel(t *testing.T) {
	in, dir := builtIn(t, "kata-kernel.yaml")
	inputs, err := Collect(in, "kernel", os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	debs := map[string]Input{}
	for _, d := range byKind(inputs, KindDeb) {
		debs[d.SHA256] = d
	}
	builder := in.Lock.Environments["builder"]
	for _, p := range builder.Packages {
		d, ok := debs[p.SHA256]
		if !ok || d.Name != p.Name || d.Version != p.Version || d.Arch != p.Architecture {
			t.Errorf("package %s %s of the builder: got %+v", p.Name, p.Version, d)
		}
	}
	if len(debs) != len(builder.Packages) {
		t.Errorf("%d .debs listed, the builder has %d", len(debs), len(builder.Packages))
	}
	src := byKind(inputs, KindKernelSource)
	lk := in.Lock.Kernels["kernel"].Source
	if len(src) != 1 || src[0].SHA256 != lk.SHA256 || src[0].Name != "linux-source-6.12" || src[0].Version != lk.Version ||
		!strings.HasPrefix(src[0].URI, "http") || src[0].Purl() != "pkg:deb/debian/linux-source-6.12@"+lk.Version+"?arch=all" {
		t.Errorf("kernel source: got %+v, want %s %s", src, lk.Version, lk.SHA256)
	}
	local := byKind(inputs, KindLocal)
	if len(local) < 10 {
		t.Fatalf("only %d fragment files listed", len(local))
	}
	for _, f := range local {
		sum, err := fileSHA256(os.DirFS(dir), f.Name)
		if err != nil || sum != f.SHA256 || !strings.HasPrefix(f.Name, "fragments/") {
			t.Errorf("fragment %s: sha256 %s, file has %s (%v)", f.Name, f.SHA256, sum, err)
		}
	}
	if other := byKind(inputs, KindDownload); len(other) > 0 {
		t.Errorf("files the lock does not name: %+v", other)
	}
	again, err := Collect(in, "kernel", os.DirFS(dir))
	if err != nil || !slices.Equal(inputs, again) {
		t.Errorf("a second collection differs (%v)", err)
	}
}

func TestCollectNamesTheRustToolchainAndArchives(t *testing.T) {
	in, dir := builtIn(t, "kata-kernel.yaml")
	inputs, err := Collect(in, "agent", os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	tc := byKind(inputs, KindRustToolchain)
	if len(tc) != 1 || tc[0].Name != "rust-1.93.0-x86_64-unknown-linux-gnu.tar.xz" || tc[0].Version != "1.93.0" ||
		tc[0].SHA256 != "b9d9f01a96a2542852ccfddd82194276ba1c86bc76353309ff636b737fc0a772" {
		t.Errorf("toolchain: %+v", tc)
	}
	var shas []string
	for _, d := range byKind(inputs, KindDownload) {
		shas = append(shas, d.SHA256)
	}
	slices.Sort(shas)
	want := []string{"ab8972dc026cfaad85705e93019506384c2af286f715bd364701062c88330891", "d7f0bda92159b33719c91fd22473dc5c073347c7d6b479fdab2b02246dc9751e"}
	if !slices.Equal(shas, want) {
		t.Errorf("source and vendor tarballs: %v, want %v", shas, want)
	}
}

func TestCargoLockCrates(t *testing.T) {
	crates, err := cargoLockCrates(os.DirFS("../../testdata/recipes/rust/hello"), "Cargo.lock")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range crates {
		names = append(names, c.Name+"@"+c.Version)
		if len(c.SHA256) != 64 || c.Kind != KindCrate {
			t.Errorf("crate %+v has no checksum", c)
		}
	}
	if !slices.Contains(names, "libc@0.2.139") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "kforge-hello@") }) {
		t.Errorf("crates: %v (the project itself is no crate input)", names)
	}
	if p := crates[0].Purl(); p != "pkg:cargo/itoa@1.0.1" {
		t.Errorf("purl %s", p)
	}
}

func TestPurlEncodesEpochsAndPlus(t *testing.T) {
	in := Input{Kind: KindDeb, Name: "libc6", Version: "1:2.36-9+deb12u13", Arch: "amd64"}
	if got, want := in.Purl(), "pkg:deb/debian/libc6@1%3A2.36-9%2Bdeb12u13?arch=amd64"; got != want {
		t.Errorf("purl %s, want %s", got, want)
	}
}

func sample() *Build {
	return &Build{
		Recipe: "kata-kernel", RecipeFile: "kata-kernel.yaml", RecipeSHA256: strings.Repeat("1", 64), LockSHA256: strings.Repeat("2", 64),
		Target: "kernel", Kind: "kernel", Platform: "linux/amd64", Created: time.Unix(1700000000, 0),
		Kforge: "v0.0.0", BuildKit: "v0.34.2",
		Inputs: Sorted([]Input{
			{Kind: KindDeb, Name: "libc6", Version: "2.36-9+deb12u13", Arch: "amd64", SHA256: strings.Repeat("a", 64), URI: "http://deb.debian.org/debian/pool/main/g/glibc/libc6.deb", Suite: "bookworm-security"},
			{Kind: KindKernelSource, Name: "linux-source-6.12", Version: "6.12.118-1", Arch: "all", SHA256: strings.Repeat("b", 64), URI: "http://deb.debian.org/debian-security/pool/x.deb"},
			{Kind: KindLocal, Name: "fragments/common/base.conf", SHA256: strings.Repeat("c", 64), URI: "fragments/common/base.conf"},
			{Kind: KindCrate, Name: "libc", Version: "0.2.139", SHA256: strings.Repeat("d", 64), URI: "registry+https://github.com/rust-lang/crates.io-index"},
		}),
		Outputs: []Output{{Name: "vmlinux-6.12.118-1", SHA256: strings.Repeat("e", 64)}, {Name: "config-6.12.118-1", SHA256: strings.Repeat("f", 64)}},
	}
}

func TestSBOMParsesWithTheSPDXLibraryAndListsEveryInput(t *testing.T) {
	b := sample()
	data, err := SBOM(b)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ReadSBOM(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("version %s, created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	if m := covers(doc, b.Inputs); len(m) > 0 {
		t.Errorf("inputs missing: %v", m)
	}
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.Category == common.CategoryPackageManager && r.RefType == common.TypePackageManagerPURL {
				purls[r.Locator] = true
			}
		}
	}
	for _, want := range []string{"pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64", "pkg:deb/debian/linux-source-6.12@6.12.118-1?arch=all", "pkg:cargo/libc@0.2.139"} {
		if !purls[want] {
			t.Errorf("no purl %s in %v", want, purls)
		}
	}
	deps := 0
	for _, r := range doc.Relationships {
		if r.Relationship == common.TypeRelationshipBuildDependencyOf && r.RefB.ElementRefID == "target" {
			deps++
		}
	}
	if deps != len(b.Inputs) {
		t.Errorf("%d build dependencies, want %d", deps, len(b.Inputs))
	}
	again, _ := SBOM(sample())
	if !bytes.Equal(data, again) {
		t.Error("the same build gave two SBOMs")
	}
}

func TestProvenanceReadsBack(t *testing.T) {
	b := sample()
	data, err := Provenance(b)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || raw["_type"] != "https://in-toto.io/Statement/v1" || raw["predicateType"] != PredicateSLSAProvenance {
		t.Fatalf("statement header: %v %v", raw["_type"], err)
	}
	st, err := ReadProvenance(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Sorted(st.Inputs), b.Inputs) {
		t.Errorf("inputs read back:\n%+v\nwant\n%+v", st.Inputs, b.Inputs)
	}
	if !slices.Equal(st.Subjects, b.Outputs) || st.LockSHA256 != b.LockSHA256 || st.RecipeSHA256 != b.RecipeSHA256 ||
		st.Target != "kernel" || st.Builder["buildkit"] != "v0.34.2" {
		t.Errorf("read back %+v", st)
	}
	again, _ := Provenance(sample())
	if !bytes.Equal(data, again) {
		t.Error("the same build gave two provenances")
	}
}

func evidence(t *testing.T, b *Build) Evidence {
	t.Helper()
	sbom, err := SBOM(b)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := Provenance(b)
	if err != nil {
		t.Fatal(err)
	}
	s := sample()
	return Evidence{Subjects: s.Outputs, Provenance: prov, SBOM: sbom, Want: s.Inputs, RecipeSHA256: s.RecipeSHA256, LockSHA256: s.LockSHA256}
}

func TestVerify(t *testing.T) {
	if err := Verify(evidence(t, sample())); err != nil {
		t.Fatalf("a true provenance fails: %v", err)
	}
	// Each case attests another build than the one at hand (build), or
	// alters what the registry served (served).
	for name, tc := range map[string]struct {
		build  func(*Build)
		served func(*Evidence)
		want   string
	}{
		"an input left out": {build: func(b *Build) { b.Inputs = b.Inputs[1:] },
			want: "provenance: lacks the lock's input crate libc"},
		"an input's digest changed": {build: func(b *Build) { b.Inputs[0].SHA256 = strings.Repeat("9", 64) },
			want: "names an input the lock does not have: crate libc 9999"},
		"another artifact": {build: func(b *Build) { b.Outputs[0].SHA256 = strings.Repeat("8", 64) },
			want: "its subject does not name vmlinux-6.12.118-1"},
		"another lock": {build: func(b *Build) { b.LockSHA256 = strings.Repeat("7", 64) },
			want: "built from a lock with sha256:7777"},
		"an SBOM with a package renamed": {served: func(e *Evidence) {
			e.SBOM = bytes.Replace(e.SBOM, []byte(`"name": "libc6"`), []byte(`"name": "libc7"`), 1)
		}, want: "SBOM: does not list the input deb libc6"},
		"a provenance cut short": {served: func(e *Evidence) { e.Provenance = e.Provenance[:40] },
			want: "provenance: not an in-toto statement"},
	} {
		t.Run(name, func(t *testing.T) {
			b := sample()
			if tc.build != nil {
				tc.build(b)
			}
			e := evidence(t, b)
			if tc.served != nil {
				tc.served(&e)
			}
			err := Verify(e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// An image is its manifest: the SBOM names it by target, verify knows it
// by repository, and the digest is what both agree on.
func TestVerifyAnImageByItsManifestDigest(t *testing.T) {
	b := sample()
	b.Outputs = []Output{{Name: "kata_tsn_image", SHA256: strings.Repeat("e", 64)}}
	e := evidence(t, b)
	e.Subjects = []Output{{Name: "", SHA256: strings.Repeat("e", 64)}}
	if err := Verify(e); err != nil {
		t.Errorf("an image's own documents fail: %v", err)
	}
}

func TestPurlEncodesNames(t *testing.T) {
	in := Input{Kind: KindDeb, Name: "libstdc++6", Version: "12.2.0-14", Arch: "amd64"}
	if got := in.Purl(); got != "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64" {
		t.Errorf("purl %s", got)
	}
}
