package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	orasref "oras.land/oras-go/v2/registry"

	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/attest"
	"github.com/kforge/kforge/internal/helper"
	"github.com/kforge/kforge/internal/solve"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// artifactKinds are the targets that ship as kforge artifacts under the
// oci and registry outputs; the others (environments, programs) ship as
// OCI images that BuildKit makes.
var artifactKinds = map[string]string{
	recipes.KindKernel: artifact.KindKernel,
	recipes.KindImage:  artifact.KindImage,
	recipes.KindInitrd: artifact.KindInitrd,
	recipes.KindRootfs: artifact.KindRootfs,
}

// buildRun is one `kforge build`: a solve per platform, the exports
// BuildKit writes itself (local, tar), and the artifacts or images kforge
// writes as OCI layouts or pushes.
type buildRun struct {
	g       *globalFlags
	b       buildFlags
	reg     registryFlags
	attest  attestFlags
	outputs []*solve.Output
	// attachments are the pushed manifests with what their SBOM and
	// provenance say, once they are known.
	attachments []attachment
	// imageBuild is what the documents of an image say, before its
	// manifest is known.
	imageBuild *attest.Build
	stdout     io.Writer
	stderr     io.Writer
}

func (br *buildRun) run(ctx context.Context) error {
	r, err := recipes.Load(br.b.file)
	if err != nil {
		return err
	}
	kind := r.TargetKind(br.b.target)
	if kind == "" {
		return kllb.NoSuchTarget(r, br.b.target)
	}
	platforms := []string{br.b.platform}
	if strings.Contains(br.b.platform, ",") {
		platforms = strings.Split(br.b.platform, ",")
		if kind != recipes.KindKernel {
			return fmt.Errorf("--platform %s: only kernels build for several platforms; %q is a %s", br.b.platform, br.b.target, kind)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(platforms)))) != len(platforms) {
			return fmt.Errorf("--platform %s names a platform twice", br.b.platform)
		}
	}
	var direct, shipped []*solve.Output
	for _, o := range br.outputs {
		switch {
		case o.Type == "registry", o.Type == "oci" && (artifactKinds[kind] != "" || !o.Tar()):
			shipped = append(shipped, o)
		case o.Type == "tar" && len(platforms) > 1:
			return fmt.Errorf("-o type=tar holds one platform; for several use type=local (a directory per platform) or type=oci")
		default:
			direct = append(direct, o)
		}
	}
	for _, o := range shipped {
		if o.Type != "registry" {
			continue
		}
		client, err := br.reg.client()
		if err != nil {
			return err
		}
		if err := client.Check(ctx, o.Name()); err != nil {
			return err
		}
	}
	// With something to ship, local and tar outputs wait in their
	// temporary places until it is shipped: a failed push leaves none.
	var held []*solve.Output
	defer func() {
		for _, o := range held {
			o.Discard()
		}
	}()
	work, err := os.MkdirTemp("", "kforge-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	c, err := br.g.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	buildkit := ""
	if br.attest.any() {
		buildkit = buildkitVersion(ctx, c)
	}

	staging := artifact.NewStaging()
	var manifests []ocispec.Descriptor
	var meta artifact.Meta
	var imageLayout string // an environment's image, as BuildKit's OCI tar
	for i, platform := range platforms {
		b := br.b
		b.platform, b.reg = platform, br.reg
		p, err := b.prepare(br.g)
		if err != nil {
			return err
		}
		var described *attest.Build
		if br.attest.any() {
			if described, err = describeBuild(p, b, kind, buildkit); err != nil {
				return err
			}
		}
		br.imageBuild = described
		opt, stop, err := b.solveOptions(ctx, br.g, p)
		if err != nil {
			return err
		}
		for _, o := range direct {
			if len(platforms) > 1 {
				o = &solve.Output{Type: o.Type, Dest: filepath.Join(o.Dest, strings.ReplaceAll(platform, "/", "_")), Attrs: o.Attrs}
			}
			if o.Type == "local" && described != nil && !treeKinds[kind] {
				o.Hash, o.Finish = true, br.attest.finishLocal(described)
			}
			if len(shipped) > 0 {
				o.Hold = true
				held = append(held, o)
			}
			opt.Outputs = append(opt.Outputs, o)
		}
		exported := filepath.Join(work, fmt.Sprint(i))
		var files *solve.Output // the target's files, for packing
		if len(shipped) > 0 {
			switch {
			case artifactKinds[kind] == "":
				imageLayout = exported + ".oci.tar"
				opt.Outputs = append(opt.Outputs, &solve.Output{Type: "oci", Dest: imageLayout, Attrs: map[string]string{}})
			case kind == recipes.KindRootfs:
				exported += ".tar"
				opt.Outputs = append(opt.Outputs, &solve.Output{Type: "tar", Dest: exported, Attrs: map[string]string{}})
			default:
				files = &solve.Output{Type: "local", Dest: exported, Attrs: map[string]string{}, Hash: true}
				opt.Outputs = append(opt.Outputs, files)
			}
		}
		opt.FrontendAttrs = b.frontendAttrs()
		err = solve.RunBuild(ctx, c, build, opt)
		stop()
		if err != nil {
			return err
		}
		if len(shipped) == 0 || artifactKinds[kind] == "" {
			continue
		}
		meta = artifactMeta(p.inputs, b.target, kind)
		var desc ocispec.Descriptor
		if kind == recipes.KindRootfs {
			desc, err = artifact.PackFile(ctx, staging, exported, b.target+".tar", meta)
		} else {
			desc, err = artifact.PackDir(ctx, staging, exported, files.Digests, meta)
		}
		if err != nil {
			return err
		}
		if described != nil {
			build := *described
			if build.Outputs, err = artifactOutputs(ctx, staging, desc); err != nil {
				return err
			}
			br.attachments = append(br.attachments, attachment{desc, &build})
		}
		platform := meta.Platform
		desc.Platform = &platform
		manifests = append(manifests, desc)
	}
	if len(manifests) > 1 {
		if _, err := artifact.PackIndex(ctx, staging, manifests, meta); err != nil {
			return err
		}
	}
	for _, o := range shipped {
		if artifactKinds[kind] != "" {
			if err := br.ship(ctx, o, staging, meta.Created); err != nil {
				return err
			}
		} else {
			root, err := br.shipImage(ctx, o, imageLayout)
			if err != nil {
				return err
			}
			br.attachImage(root)
		}
		if o.Type == "registry" {
			if err := br.attachAll(ctx, o.Name()); err != nil {
				return err
			}
		}
	}
	for len(held) > 0 {
		if err := held[0].Commit(); err != nil {
			return err
		}
		held = held[1:]
	}
	return nil
}

// artifactMeta is what the artifact of a target says of itself.
func artifactMeta(in *kllb.Inputs, target, kind string) artifact.Meta {
	r := in.Recipe
	m := artifact.Meta{
		Kind: artifactKinds[kind], Target: target, Recipe: r.Name,
		RecipeSHA256: in.Digests.Recipe, LockSHA256: in.Digests.Lock,
		Created: r.Created(),
	}
	// prepare has set a kernel's architecture from --platform.
	m.Platform = ocispec.Platform{OS: "linux", Architecture: r.TargetArchitecture(target)}
	if k, ok := r.Kernels[target]; ok {
		m.ConfigVersion = k.ConfigVersionOrDefault()
	}
	return m
}

// ship writes the staged artifact to an OCI layout or pushes it.
func (br *buildRun) ship(ctx context.Context, o *solve.Output, staging *artifact.Staging, created time.Time) error {
	root := staging.Root()
	if o.Type == "oci" {
		if err := artifact.WriteLayout(ctx, staging, root, o.Dest, o.Name(), o.Tar(), created); err != nil {
			return fmt.Errorf("writing the OCI layout %s: %w", o.Dest, err)
		}
		fmt.Fprintf(br.stderr, "wrote %s (%s)\n", o.Dest, root.Digest)
		return nil
	}
	_, err := br.push(ctx, staging, o.Name())
	return err
}

func (br *buildRun) push(ctx context.Context, src oras.ReadOnlyTarget, ref string) (ocispec.Descriptor, error) {
	client, err := br.reg.client()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := client.Push(ctx, src, ref, br.stderr)
	if err != nil {
		return desc, err
	}
	r, _ := orasref.ParseReference(ref) // Push parsed it already
	fmt.Fprintf(br.stderr, "pushed %s\n", ref)
	fmt.Fprintf(br.stdout, "%s/%s@%s\n", r.Registry, r.Repository, desc.Digest)
	return desc, nil
}

// shipImage takes an environment's image from BuildKit's OCI tar to a
// layout directory or a registry, and returns the image's manifest.
func (br *buildRun) shipImage(ctx context.Context, o *solve.Output, layoutTar string) (ocispec.Descriptor, error) {
	root, err := layoutRoot(layoutTar)
	if err != nil {
		return root, err
	}
	if o.Type == "oci" { // tar=false: BuildKit wrote a tar; unpack it in place
		return root, unpackLayout(layoutTar, o.Dest)
	}
	store, err := oci.NewFromTar(ctx, layoutTar)
	if err != nil {
		return root, err
	}
	return br.push(ctx, rootedTarget{store, root}, o.Name())
}

// rootedTarget resolves every reference to one root.
type rootedTarget struct {
	oras.ReadOnlyTarget
	root ocispec.Descriptor
}

func (t rootedTarget) Resolve(context.Context, string) (ocispec.Descriptor, error) {
	return t.root, nil
}

// layoutRoot reads the one manifest that BuildKit's OCI export names.
func layoutRoot(layoutTar string) (ocispec.Descriptor, error) {
	f, err := os.Open(layoutTar)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("BuildKit's OCI export has no index.json: %w", err)
		}
		if strings.TrimPrefix(h.Name, "./") != ocispec.ImageIndexFile {
			continue
		}
		var idx ocispec.Index
		if err := json.NewDecoder(tr).Decode(&idx); err != nil || len(idx.Manifests) != 1 {
			return ocispec.Descriptor{}, fmt.Errorf("BuildKit's OCI export does not name one image (%v)", err)
		}
		return idx.Manifests[0], nil
	}
}

func unpackLayout(layoutTar, dest string) error {
	f, err := os.Open(layoutTar)
	if err != nil {
		return err
	}
	defer f.Close()
	return artifact.ReplaceDir(dest, func(dir string) error { return helper.ExtractTar(dir, f) })
}
