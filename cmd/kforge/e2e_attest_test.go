package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/kforge/kforge/internal/attest"
	"github.com/kforge/kforge/recipes"
)

// sbomLists fails unless the SBOM at path parses with the SPDX library and
// lists every input the lock gives the tiny kernel, each with its sha256:
// every .deb of its builder (with its purl), the kernel source, and every
// fragment file.
func sbomLists(t *testing.T, sbom []byte, recipePath string) {
	t.Helper()
	doc, err := attest.ReadSBOM(bytes.NewReader(sbom))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		for _, c := range p.PackageChecksums {
			if c.Algorithm == common.SHA256 {
				have[c.Value] = true
			}
		}
		for _, r := range p.PackageExternalReferences {
			purls[r.Locator] = true
		}
	}
	lock, err := recipes.ReadLock(recipes.LockPath(recipePath))
	if err != nil {
		t.Fatal(err)
	}
	env := lock.Environments["kbuilder"]
	if len(env.Packages) < 50 {
		t.Fatalf("the builder has only %d packages", len(env.Packages))
	}
	for _, p := range env.Packages {
		escape := strings.NewReplacer(":", "%3A", "+", "%2B").Replace
		if !have[p.SHA256] || !purls["pkg:deb/debian/"+escape(p.Name)+"@"+escape(p.Version)+"?arch="+p.Architecture] {
			t.Errorf("the SBOM does not list %s %s (sha256:%s) with its purl", p.Name, p.Version, p.SHA256)
		}
	}
	if src := lock.Kernels["tiny"].Source; !have[src.SHA256] {
		t.Errorf("the SBOM does not list the kernel source %s %s", src.Package, src.Version)
	}
	fragments := 0
	filepath.WalkDir(filepath.Join(filepath.Dir(recipePath), "fragments"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.Contains(p, "/common/") && !strings.Contains(p, "/x86_64/")) {
			return err
		}
		data, _ := os.ReadFile(p)
		sum := sha256.Sum256(data)
		if !have[hex.EncodeToString(sum[:])] {
			t.Errorf("the SBOM does not list the fragment %s", p)
		}
		fragments++
		return nil
	})
	if fragments == 0 {
		t.Fatal("no fragment files found")
	}
}

func TestKernelSBOMAndProvenanceThroughRegistry(t *testing.T) {
	e2e(t)
	reg := sharedRegistry(t)
	ref, digest := kernelArtifact(t)
	recipe := lockedKernel(t)
	ca := []string{"--ca-file", reg.CAFile}

	// Beside the local output, as buildx writes them.
	local := tinyKernel(t)
	sbom, err := os.ReadFile(filepath.Join(local, sbomFile))
	if err != nil {
		t.Fatal(err)
	}
	sbomLists(t, sbom, recipe)
	prov, err := os.ReadFile(filepath.Join(local, provenanceFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ReadProvenance(prov)
	if err != nil {
		t.Fatal(err)
	}
	vmlinux, _ := filepath.Glob(filepath.Join(local, "vmlinux-6.1.*"))
	data, _ := os.ReadFile(vmlinux[0])
	sum := sha256.Sum256(data)
	named := false
	for _, s := range st.Subjects {
		named = named || (s.Name == filepath.Base(vmlinux[0]) && s.SHA256 == hex.EncodeToString(sum[:]))
	}
	if !named || st.Target != "tiny" || st.Builder["buildkit"] == "" || st.Builder["buildkit"] == "unknown" {
		t.Errorf("provenance: subjects %v, target %s, builder %v", st.Subjects, st.Target, st.Builder)
	}

	// Distribution has no referrers API: the push keeps the fallback tag.
	if !reg.hasTag(t, "kforge/tiny", "sha256-"+strings.TrimPrefix(digest, "sha256:")) {
		t.Error("no referrers fallback tag sha256-<hex> after the push to Distribution")
	}
	discover := reg.mustOras(t, "discover", "--ca-file", reg.CAFile, "--format", "json", ref).stdout
	for _, want := range []string{attest.MediaTypeSPDX, attest.MediaTypeInToto} {
		if !strings.Contains(discover, want) {
			t.Errorf("oras discover lists no %s referrer:\n%s", want, discover)
		}
	}
	inspect := mustKforge(t, reg.env(), append([]string{"inspect", ref}, ca...)...).stdout
	for _, want := range []string{"Referrers of " + digest, attest.MediaTypeSPDX, attest.MediaTypeInToto} {
		if !strings.Contains(inspect, want) {
			t.Errorf("inspect lacks %q:\n%s", want, inspect)
		}
	}
	verified := mustKforge(t, reg.env(), append([]string{"verify", ref, "-f", recipe}, ca...)...).stdout
	if !strings.Contains(verified, "verified "+ref) || !strings.Contains(verified, "exactly the lock's") {
		t.Errorf("verify: %s", verified)
	}
	// oras reads the same SBOM kforge wrote beside the local output.
	pulled := t.TempDir()
	var d struct {
		Referrers []struct{ Digest, ArtifactType string }
	}
	if err := json.Unmarshal([]byte(discover), &d); err != nil {
		t.Fatalf("oras discover --format json: %v\n%s", err, discover)
	}
	for _, r := range d.Referrers {
		if r.ArtifactType == attest.MediaTypeSPDX {
			reg.mustOras(t, "pull", "--ca-file", reg.CAFile, "-o", pulled, reg.Host+"/kforge/tiny@"+r.Digest)
		}
	}
	if got, err := os.ReadFile(filepath.Join(pulled, sbomFile)); err != nil || !bytes.Equal(got, sbom) {
		t.Errorf("the SBOM in the registry differs from the local one (%v)", err)
	}

	// A document added in the registry that does not match fails verify:
	// one with an input's digest changed, one with a package missing.
	for _, tc := range []struct {
		name, repo, file, artifactType string
		alter                          func([]byte) []byte
		want                           string
	}{
		{"provenance", "kforge/tampered-provenance", provenanceFile, attest.MediaTypeInToto, func(b []byte) []byte {
			return bytes.Replace(b, []byte(st.Inputs[0].SHA256), []byte(strings.Repeat("0", 64)), 1)
		}, "names an input the lock does not have"},
		{"SBOM", "kforge/tampered-sbom", sbomFile, attest.MediaTypeSPDX, func(b []byte) []byte {
			return bytes.Replace(b, []byte(st.Inputs[0].SHA256), []byte(strings.Repeat("0", 64)), -1)
		}, "SBOM: does not list the input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copyRef := reg.Host + "/" + tc.repo + ":v1"
			mustKforge(t, reg.env(), append([]string{"build", "-f", recipe, "--target", "tiny", "--progress", "plain", "-o", "type=registry,name=" + copyRef}, ca...)...)
			mustKforge(t, reg.env(), append([]string{"verify", copyRef, "-f", recipe}, ca...)...)
			orig := prov
			if tc.file == sbomFile {
				orig = sbom
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), tc.alter(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			o := runOras(t, reg.env(), "attach", "--ca-file", reg.CAFile, "--disable-path-validation", "--artifact-type", tc.artifactType,
				copyRef, filepath.Join(dir, tc.file)+":"+tc.artifactType)
			if o.code != 0 {
				t.Fatalf("oras attach: %s", o.stderr)
			}
			r := kforge(t, reg.env(), append([]string{"verify", copyRef, "-f", recipe}, ca...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("verify of an altered %s: exit %d\n%s", tc.name, r.code, r.stderr)
			}
		})
	}
}

// TestReferrersThroughTheReferrersAPI pushes to go-containerregistry's
// registry with referrers support on: the registry indexes the documents
// itself, so no fallback tag appears, and verify reads them through
// GET /v2/<name>/referrers/<digest>.
func TestReferrersThroughTheReferrersAPI(t *testing.T) {
	e2e(t)
	srv := httptest.NewServer(ggcr.New(ggcr.WithReferrersSupport(true), ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tinyKernel(t)
	recipe := lockedKernel(t)
	ref := host + "/kforge/tiny:v1"
	r := mustKforge(t, nil, "build", "-f", recipe, "--target", "tiny", "--progress", "plain", "-o", "type=registry,name="+ref)
	digest := pushDigest(t, r.stdout, host+"/kforge/tiny")
	resp, err := http.Get(srv.URL + "/v2/kforge/tiny/referrers/" + digest)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var idx struct {
		Manifests []struct{ ArtifactType string }
	}
	if err := json.Unmarshal(body, &idx); err != nil || len(idx.Manifests) != 2 {
		t.Fatalf("referrers API: %s %v\n%s", resp.Status, err, body)
	}
	resp, err = http.Get(srv.URL + "/v2/kforge/tiny/manifests/sha256-" + strings.TrimPrefix(digest, "sha256:"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a fallback tag was written to a registry with the referrers API: %s", resp.Status)
	}
	verified := mustKforge(t, nil, "verify", ref, "-f", recipe).stdout
	if !strings.Contains(verified, "verified "+ref) {
		t.Errorf("verify: %s", verified)
	}
	// A second push of the same build adds no second document.
	mustKforge(t, nil, "build", "-f", recipe, "--target", "tiny", "--progress", "plain", "-o", "type=registry,name="+ref)
	resp, _ = http.Get(srv.URL + "/v2/kforge/tiny/referrers/" + digest)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &idx); err != nil || len(idx.Manifests) != 2 {
		t.Errorf("after a second push, %d referrers (%v):\n%s", len(idx.Manifests), err, body)
	}
}
