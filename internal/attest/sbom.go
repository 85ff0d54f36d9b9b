package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// MediaTypeSPDX is the media type of an SPDX JSON document, and the
// artifactType of the referrer that carries it.
const MediaTypeSPDX = "application/spdx+json"

// SBOMFile and ProvenanceFile are the documents' names beside a local
// export, as buildx names them.
const (
	SBOMFile       = "sbom.spdx.json"
	ProvenanceFile = "provenance.json"
)

// PredicateSPDX is the in-toto predicate type of an SPDX document.
const PredicateSPDX = "https://spdx.dev/Document"

// Build is one build of a target, as its SBOM and provenance describe it.
type Build struct {
	Recipe       string // the recipe's name
	RecipeFile   string // the recipe's file name, as the build was given it
	RecipeSHA256 string
	LockSHA256   string
	Target       string
	Kind         string // the target's kind: kernel, image, container...
	Platform     string // os/arch of what was built
	Created      time.Time
	Inputs       []Input
	Outputs      []Output
	// Kforge and BuildKit are the versions of kforge and of the daemon that
	// ran the build.
	Kforge   string
	BuildKit string
}

// digest is a digest of everything the build says of itself, which names
// its SBOM document uniquely.
func (b *Build) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n", b.Recipe, b.RecipeSHA256, b.LockSHA256, b.Target, b.Platform)
	for _, in := range b.Inputs {
		fmt.Fprintf(h, "in %s\n", in.Key())
	}
	for _, out := range b.Outputs {
		fmt.Fprintf(h, "out %s %s\n", out.Name, out.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SBOM renders the build as an SPDX 2.3 JSON document. The document
// describes the target, which contains one package per output file; each
// input is a package that is a build dependency of the target, with its
// sha256 and, for .debs and crates, its package URL.
func SBOM(b *Build) ([]byte, error) {
	const targetID = "target"
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      b.Recipe + "/" + b.Target,
		DocumentNamespace: "https://kforge.dev/spdx/" + b.Recipe + "/" + b.Target + "/" + b.digest(),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "kforge-" + b.Kforge}},
			Created:  b.Created.UTC().Format(time.RFC3339),
		},
	}
	rel := func(a common.ElementID, kind string, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind})
	}
	doc.Packages = append(doc.Packages, &spdx.Package{
		PackageName: b.Target, PackageSPDXIdentifier: targetID,
		PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: purpose(b.Kind),
		PackageComment: fmt.Sprintf("target %s (%s) of recipe %s (%s, sha256:%s), lock sha256:%s, for %s",
			b.Target, b.Kind, b.Recipe, b.RecipeFile, b.RecipeSHA256, b.LockSHA256, b.Platform),
	})
	rel("DOCUMENT", common.TypeRelationshipDescribe, targetID)
	for i, out := range b.Outputs {
		id := common.ElementID(fmt.Sprintf("output-%d", i))
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName: out.Name, PackageSPDXIdentifier: id, PackageFileName: out.Name,
			PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "FILE",
			PackageChecksums: []common.Checksum{{Algorithm: common.SHA256, Value: out.SHA256}},
		})
		rel(targetID, common.TypeRelationshipContains, id)
	}
	for i, in := range b.Inputs {
		id := common.ElementID(fmt.Sprintf("input-%d-%s", i, in.Kind))
		p := &spdx.Package{
			PackageName: in.Name, PackageSPDXIdentifier: id, PackageVersion: in.Version,
			PackageDownloadLocation: downloadLocation(in), PrimaryPackagePurpose: inputPurpose(in.Kind),
			PackageComment: in.Kind,
		}
		if in.Kind == KindLocal {
			p.PackageFileName = in.URI
		}
		if in.Suite != "" {
			p.PackageComment += " from " + in.Suite
		}
		if in.SHA256 != "" {
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: in.SHA256}}
		}
		if purl := in.Purl(); purl != "" {
			p.PackageExternalReferences = []*spdx.PackageExternalReference{
				{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: purl}}
		}
		doc.Packages = append(doc.Packages, p)
		rel(id, common.TypeRelationshipBuildDependencyOf, targetID)
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadSBOM parses an SPDX JSON document.
func ReadSBOM(r io.Reader) (*spdx.Document, error) {
	doc, err := spdxjson.Read(r)
	if err != nil {
		return nil, fmt.Errorf("not an SPDX JSON document: %w", err)
	}
	return doc, nil
}

func downloadLocation(in Input) string {
	if in.Kind == KindLocal || in.URI == "" {
		return "NOASSERTION"
	}
	if in.Kind == KindCrate {
		// Cargo.lock's source ("registry+https://...") is the index, not the
		// crate; the purl and checksum name the crate itself.
		return "NOASSERTION"
	}
	return in.URI
}

func purpose(kind string) string {
	switch kind {
	case "kernel":
		return "OPERATING-SYSTEM"
	case "container", "environment":
		return "CONTAINER"
	case "rust":
		return "APPLICATION"
	}
	return "FILE"
}

func inputPurpose(kind string) string {
	switch kind {
	case KindDeb, KindCrate:
		return "LIBRARY"
	case KindKernelSource, KindLocal:
		return "SOURCE"
	case KindRustToolchain:
		return "APPLICATION"
	}
	return "ARCHIVE"
}

// checksums are the sha256 values an SBOM gives its packages.
func checksums(doc *spdx.Document) map[string]bool {
	have := map[string]bool{}
	for _, p := range doc.Packages {
		for _, c := range p.PackageChecksums {
			if c.Algorithm == common.SHA256 {
				have[strings.ToLower(c.Value)] = true
			}
		}
	}
	return have
}

// covers says which inputs an SBOM does not list: each input must appear as
// a package of its name with its sha256.
func covers(doc *spdx.Document, inputs []Input) []string {
	have := map[string]bool{}
	for _, p := range doc.Packages {
		for _, c := range p.PackageChecksums {
			if c.Algorithm == common.SHA256 {
				have[p.PackageName+" "+strings.ToLower(c.Value)] = true
			}
		}
		if len(p.PackageChecksums) == 0 {
			have[p.PackageName+" "] = true
		}
	}
	var missing []string
	for _, in := range inputs {
		if !have[in.Name+" "+in.SHA256] {
			missing = append(missing, fmt.Sprintf("%s %s (sha256:%s)", in.Kind, in.Name, in.SHA256))
		}
	}
	return missing
}
