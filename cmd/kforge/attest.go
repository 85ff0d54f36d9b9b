package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/attest"
	"github.com/kforge/kforge/internal/registry"
	"github.com/kforge/kforge/recipes"
)

// Names of the documents beside a local output, as buildx names them.
const (
	sbomFile       = attest.SBOMFile
	provenanceFile = attest.ProvenanceFile
)

// attestFlags say which documents a build writes beside its outputs and
// attaches to what it pushes.
type attestFlags struct {
	sbom       bool
	provenance bool
}

func (f *attestFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.sbom, "sbom", true, "write an SPDX SBOM of every input (from the lock) beside local outputs as "+sbomFile+", and attach it to pushed artifacts and images")
	cmd.Flags().BoolVar(&f.provenance, "provenance", true, "write a SLSA provenance (in-toto statement) beside local outputs as "+provenanceFile+", and attach it to pushed artifacts and images")
}

func (f *attestFlags) any() bool { return f.sbom || f.provenance }

// treeKinds are targets whose local output is a whole file tree: the tree
// has too many files to list as subjects, so their documents go with the
// image or archive they ship as.
var treeKinds = map[string]bool{recipes.KindEnvironment: true, recipes.KindRootfs: true, recipes.KindContainer: true}

// describeBuild is what the SBOM and provenance of one platform's build say,
// before its outputs are known.
func describeBuild(p *prepared, b buildFlags, kind, buildkit string) (*attest.Build, error) {
	return attest.Describe(p.inputs, b.target, kind, filepath.Base(b.file), os.DirFS(filepath.Dir(b.file)), attest.Version(), buildkit)
}

// documents renders the documents the flags ask for, for a build whose
// outputs are set.
func (f *attestFlags) documents(b *attest.Build) ([]registry.Attachment, error) {
	var docs []registry.Attachment
	if f.sbom {
		data, err := attest.SBOM(b)
		if err != nil {
			return nil, fmt.Errorf("writing the SBOM: %w", err)
		}
		docs = append(docs, registry.Attachment{ArtifactType: attest.MediaTypeSPDX, Filename: sbomFile, Data: data, Created: b.Created})
	}
	if f.provenance {
		data, err := attest.Provenance(b)
		if err != nil {
			return nil, fmt.Errorf("writing the provenance: %w", err)
		}
		docs = append(docs, registry.Attachment{ArtifactType: attest.MediaTypeInToto, Filename: provenanceFile, Data: data, Created: b.Created,
			Annotations: map[string]string{"in-toto.io/predicate-type": attest.PredicateSLSAProvenance}})
	}
	return docs, nil
}

// outputsOf lists exported files by their digests, in name order.
func outputsOf(digests map[string]digest.Digest) []attest.Output {
	var outs []attest.Output
	for _, name := range slices.Sorted(maps.Keys(digests)) {
		outs = append(outs, attest.Output{Name: name, SHA256: digests[name].Encoded()})
	}
	return outs
}

// finishLocal writes the documents of a build into a local export, with
// the export's own files as the subjects.
func (f *attestFlags) finishLocal(b *attest.Build) func(string, map[string]digest.Digest) error {
	return func(dir string, digests map[string]digest.Digest) error {
		build := *b
		build.Outputs = outputsOf(digests)
		if len(build.Outputs) == 0 {
			return nil
		}
		docs, err := f.documents(&build)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if _, clash := digests[d.Filename]; clash {
				return fmt.Errorf("the target has a file named %s; build with --sbom=false --provenance=false to keep it", d.Filename)
			}
			if err := os.WriteFile(filepath.Join(dir, d.Filename), d.Data, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// attachment is a manifest that was built, with what its SBOM and
// provenance say.
type attachment struct {
	subject ocispec.Descriptor
	build   *attest.Build
}

// attachImage records an image's manifest for attaching, once.
func (br *buildRun) attachImage(manifest ocispec.Descriptor) {
	if br.imageBuild == nil || len(br.attachments) > 0 {
		return
	}
	build := *br.imageBuild
	build.Outputs = []attest.Output{imageOutput(br.b.target, manifest)}
	br.attachments = append(br.attachments, attachment{manifest, &build})
}

// attachAll pushes the documents of every manifest the build made as
// referrers of that manifest in ref's repository.
func (br *buildRun) attachAll(ctx context.Context, ref string) error {
	if len(br.attachments) == 0 {
		return nil
	}
	client, err := br.reg.client()
	if err != nil {
		return err
	}
	repo, _, err := client.Repository(ctx, ref)
	if err != nil {
		return err
	}
	for _, a := range br.attachments {
		docs, err := br.attest.documents(a.build)
		if err != nil {
			return err
		}
		for _, d := range docs {
			desc, err := client.Attach(ctx, repo, a.subject, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(br.stderr, "attached %s (%s) to %s\n", d.Filename, desc.Digest, a.subject.Digest)
		}
	}
	return nil
}

// buildkitVersion is the daemon's BuildKit version, for the provenance.
func buildkitVersion(ctx context.Context, c *client.Client) string {
	info, err := c.Info(ctx)
	if err != nil || info.BuildkitVersion.Version == "" {
		return "unknown"
	}
	return info.BuildkitVersion.Version
}

func newVerifyCommand() *cobra.Command {
	var f artifactFlags
	var file, target string
	cmd := &cobra.Command{
		Use:   "verify REF -f RECIPE",
		Short: "Check a pushed artifact or image against its provenance, its SBOM and the recipe's lock",
		Long: `verify reads what REF names (a kforge artifact, or an image kforge pushed)
and the SBOM and provenance attached to it as referrers, then checks that:
  - the provenance's subjects are exactly the artifact's files (an image: its
    manifest);
  - the provenance was made from RECIPE and its lock, by digest;
  - its inputs are exactly the inputs the lock gives the target;
  - the SBOM lists every one of those inputs and every file of the artifact.
Every referrer of those types must pass: a document added or altered in the
registry fails the check. It exits non-zero, naming each problem, when one
fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("verify needs -f RECIPE: the recipe (and its lock beside it) the artifact should come from")
			}
			return verifyRef(cmd.Context(), cmd.OutOrStdout(), &f, args[0], file, target)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "recipe file (YAML) the artifact should come from; its lock is read from beside it")
	cmd.Flags().StringVar(&target, "target", "", "target the artifact was built from; default: the artifact's own dev.kforge.target annotation, or the provenance's")
	return cmd
}

// subject is what a reference's documents are about, with where it is.
type subject struct {
	desc ocispec.Descriptor // the manifest the documents refer to
	// outputs are the subjects the provenance must name: an artifact's
	// files, or an image's manifest.
	outputs  []attest.Output
	artifact *artifact.Artifact // nil for a container image
	repo     *remote.Repository
	client   *registry.Client
}

// subjectOf reads what ref names: a kforge artifact (the manifest of the
// chosen platform) or a container image.
func subjectOf(ctx context.Context, f *artifactFlags, ref string) (*subject, error) {
	a, repo, client, err := f.open(ctx, ref)
	switch {
	case err == nil:
		s := &subject{desc: a.Desc, artifact: a, repo: repo, client: client}
		for _, file := range a.Files {
			s.outputs = append(s.outputs, attest.Output{Name: file.Name, SHA256: file.Layer.Digest.Encoded()})
		}
		return s, nil
	case !errors.Is(err, artifact.ErrContainerImage):
		return nil, err
	}
	if repo, client, err = f.reg.repository(ctx, ref); err != nil {
		return nil, err
	}
	desc, err := repo.Resolve(ctx, repo.Reference.Reference)
	if err != nil {
		return nil, client.Explain(repo.Reference.Registry, err)
	}
	return &subject{desc: desc, outputs: []attest.Output{imageOutput("", desc)}, repo: repo, client: client}, nil
}

// imageOutput is an image as the subject of its documents: named by its
// target, so that the documents are the same wherever it is pushed.
func imageOutput(target string, manifest ocispec.Descriptor) attest.Output {
	return attest.Output{Name: target, SHA256: manifest.Digest.Encoded()}
}

func verifyRef(ctx context.Context, w io.Writer, f *artifactFlags, ref, file, target string) error {
	s, err := subjectOf(ctx, f, ref)
	if err != nil {
		return err
	}
	subject, files, repo, client := s.desc, s.outputs, s.repo, s.client
	fetch := func(artifactType string) ([][]byte, []ocispec.Descriptor, error) {
		refs, err := client.Referrers(ctx, repo, subject, artifactType)
		if err != nil {
			return nil, nil, err
		}
		var docs [][]byte
		for _, r := range refs {
			doc, err := client.FetchAttachment(ctx, repo, r)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, doc)
		}
		if len(docs) == 0 {
			return nil, nil, fmt.Errorf("%s (%s) has no %s referrer: push it with kforge build, which attaches its SBOM and provenance", ref, subject.Digest, artifactType)
		}
		return docs, refs, nil
	}
	provs, provRefs, err := fetch(attest.MediaTypeInToto)
	if err != nil {
		return err
	}
	sboms, sbomRefs, err := fetch(attest.MediaTypeSPDX)
	if err != nil {
		return err
	}
	if target == "" && s.artifact != nil {
		target = s.artifact.Manifest.Annotations[artifact.AnnotationTarget]
	}
	if target == "" {
		st, err := attest.ReadProvenance(provs[0])
		if err != nil {
			return fmt.Errorf("provenance %s: %w", provRefs[0].Digest, err)
		}
		target = st.Target
	}
	// The inputs of a kernel depend on its architecture: take the one of
	// the manifest that was chosen.
	platform := f.platform
	if platform == "" && s.artifact != nil {
		platform = s.artifact.Platform()
	}
	want, recipeSHA, lockSHA, err := lockInputs(file, target, platform)
	if err != nil {
		return err
	}
	var problems []string
	for i, prov := range provs {
		for j, sbom := range sboms {
			err := attest.Verify(attest.Evidence{Subjects: files, Provenance: prov, SBOM: sbom, Want: want, RecipeSHA256: recipeSHA, LockSHA256: lockSHA})
			if err != nil {
				problems = append(problems, fmt.Sprintf("provenance %s with SBOM %s:\n  %s", provRefs[i].Digest, sbomRefs[j].Digest,
					strings.ReplaceAll(err.Error(), "\n", "\n  ")))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (%s) does not verify against %s and its lock:\n%s", ref, subject.Digest, file, strings.Join(problems, "\n"))
	}
	fmt.Fprintf(w, "verified %s (%s): target %s of %s; %d inputs, exactly the lock's; %d files; provenance %s, SBOM %s\n",
		ref, subject.Digest, target, file, len(want), len(files), provRefs[0].Digest, sbomRefs[0].Digest)
	return nil
}

// lockInputs are the inputs the lock gives a target, with the recipe's and
// lock's digests.
func lockInputs(file, target, platform string) ([]attest.Input, string, string, error) {
	in, err := loadInputs(file, target, platform)
	if err != nil {
		return nil, "", "", err
	}
	if in.Recipe.TargetKind(target) == "" {
		return nil, "", "", fmt.Errorf("%s has no target %q (the artifact's): give the recipe it was built from, or --target", file, target)
	}
	inputs, err := attest.Collect(in, target, os.DirFS(filepath.Dir(file)))
	return inputs, in.Digests.Recipe, in.Digests.Lock, err
}

// artifactOutputs are the files of a packed artifact manifest, as its
// documents' subjects: each layer by its title and digest, as verify reads
// them back from the registry.
func artifactOutputs(ctx context.Context, staging *artifact.Staging, manifest ocispec.Descriptor) ([]attest.Output, error) {
	data, err := content.FetchAll(ctx, staging, manifest)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var outs []attest.Output
	for _, l := range m.Layers {
		outs = append(outs, attest.Output{Name: l.Annotations[ocispec.AnnotationTitle], SHA256: l.Digest.Encoded()})
	}
	return outs, nil
}
