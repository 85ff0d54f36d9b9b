package gateway

import (
	"context"
	"io/fs"
	"path"

	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/attestations"
	"github.com/moby/buildkit/frontend/gateway/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"

	"github.com/kforge/kforge/internal/attest"
	kllb "github.com/kforge/kforge/llb"
)

// sbomAttestation is the SBOM that `docker buildx build --sbom=true` asks
// for: kforge's own SPDX document of the target's inputs, made from the
// lock as `kforge build` makes it, attached as an in-toto attestation.
// BuildKit wraps it in a statement whose subjects are what was exported
// (each file of a local or tar export, or the image). The generator buildx
// names (a scanner image) is not run: on an air-gapped farm it cannot be
// pulled, and a scan could only guess at what the lock states.
func sbomAttestation(ctx context.Context, c client.Client, in *kllb.Inputs, target, kind string, fsys fs.FS) (result.Attestation[client.Reference], error) {
	var att result.Attestation[client.Reference]
	b, err := attest.Describe(in, target, kind, path.Base(in.Recipe.Path), fsys, attest.Version(), "")
	if err != nil {
		return att, err
	}
	doc, err := attest.SBOM(b)
	if err != nil {
		return att, err
	}
	st := bk.Scratch().File(bk.Mkfile(attest.SBOMFile, 0o644, doc), bk.WithCustomName("[internal] SBOM of "+target+" from its lock"))
	def, err := kllb.Marshal(ctx, st, c)
	if err != nil {
		return att, err
	}
	solved, err := c.Solve(ctx, client.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return att, err
	}
	ref, err := solved.SingleRef()
	if err != nil {
		return att, err
	}
	return result.Attestation[client.Reference]{
		Kind:     gatewaypb.AttestationKind_InToto,
		Ref:      ref,
		Path:     "/" + attest.SBOMFile,
		Metadata: map[string][]byte{result.AttestationReasonKey: []byte(result.AttestationReasonSBOM)},
		InToto:   result.InTotoAttestation{PredicateType: attest.PredicateSPDX},
	}, nil
}

// attestationsAsked are the attestation types a build asks for: buildx's
// --sbom and --provenance send attest:sbom and attest:provenance (its
// default provenance is one for images only, inline-only). A disabled one
// is left out.
func attestationsAsked(c client.Client) map[string]bool {
	asked := map[string]bool{}
	parsed, err := attestations.Parse(c.BuildOpts().Opts)
	if err != nil {
		return asked
	}
	for kind, attrs := range parsed {
		if attrs["disabled"] != "true" {
			asked[kind] = true
		}
	}
	return asked
}
