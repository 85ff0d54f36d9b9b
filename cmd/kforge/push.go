package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content/oci"
	orasref "oras.land/oras-go/v2/registry"

	"github.com/kforge/kforge/internal/solve"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// shippedKinds are the targets `kforge push` ships by default.
var shippedKinds = []string{recipes.KindKernel, recipes.KindImage, recipes.KindInitrd, recipes.KindContainer}

func newPushCommand(g *globalFlags) *cobra.Command {
	var b buildFlags
	var reg registryFlags
	var attestations attestFlags
	var targets []string
	cmd := &cobra.Command{
		Use:   "push -f RECIPE [--target T]... HOST/REPOSITORY[:TAG]",
		Short: "Build several targets of a recipe and push them together, each to REPOSITORY/<target>",
		Long: `push builds each target (by default every kernel, image, initrd and
container of the recipe, in name order) and, once all of them are built, pushes each to
HOST/REPOSITORY/<target>:TAG (TAG defaults to latest): kernels, images and
initrds as kforge artifacts, containers as OCI images. Every manifest names
the recipe and lock by sha256 (dev.kforge.recipe.sha256,
dev.kforge.lock.sha256), so what was shipped together can be told apart from
what was not. Each manifest gets its SBOM and provenance as referrers
(--sbom, --provenance; see kforge build). Nothing is pushed when a build
fails. Prints REF@DIGEST per target.

  kforge push -f recipes/kata-tsn.yaml registry.example/kata-tsn:1
      registry.example/kata-tsn/kata_tsn_image@sha256:...
      registry.example/kata-tsn/tsn-kernel@sha256:...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := recipes.Load(b.file)
			if err != nil {
				return err
			}
			repo, tag, err := splitRepository(args[0])
			if err != nil {
				return err
			}
			if len(targets) == 0 {
				for _, name := range kllb.TargetNames(r) {
					if slices.Contains(shippedKinds, r.TargetKind(name)) {
						targets = append(targets, name)
					}
				}
				if len(targets) == 0 {
					return fmt.Errorf("%s has no kernel, image, initrd or container target to push", b.file)
				}
			}
			for _, t := range targets {
				if k := r.TargetKind(t); !slices.Contains(shippedKinds, k) {
					if k == "" {
						return fmt.Errorf("%s has no target %q", b.file, t)
					}
					return fmt.Errorf("--target %s: a %s is not pushed; push kernels, images, initrds and containers", t, k)
				}
			}
			client, err := reg.client()
			if err != nil {
				return err
			}
			if err := client.Check(cmd.Context(), repo+"/"+targets[0]+":"+tag); err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "kforge-push-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			layouts := map[string]string{}
			builds := map[string]*buildRun{}
			for _, t := range targets {
				layout := filepath.Join(work, t+".oci.tar")
				tb := b
				tb.target = t
				br := &buildRun{g: g, b: tb, reg: reg, attest: attestations, stdout: cmd.ErrOrStderr(), stderr: cmd.ErrOrStderr(),
					outputs: []*solve.Output{{Type: "oci", Dest: layout, Attrs: map[string]string{}}}}
				builds[t] = br
				fmt.Fprintf(cmd.ErrOrStderr(), "kforge: building %s (%d of %d)\n", t, len(layouts)+1, len(targets))
				if err := br.run(cmd.Context()); err != nil {
					return fmt.Errorf("%s: %w (nothing was pushed)", t, err)
				}
				layouts[t] = layout
			}
			for _, t := range targets {
				store, err := oci.NewFromTar(cmd.Context(), layouts[t])
				if err != nil {
					return err
				}
				root, err := layoutRoot(layouts[t])
				if err != nil {
					return err
				}
				br := builds[t]
				br.stdout = cmd.OutOrStdout()
				// BuildKit wrote a container's layout itself: its manifest
				// is known only now.
				br.attachImage(root)
				ref := repo + "/" + t + ":" + tag
				if _, err := br.push(cmd.Context(), rootedTarget{store, root}, ref); err != nil {
					return fmt.Errorf("pushing %s: %w", t, err)
				}
				if err := br.attachAll(cmd.Context(), ref); err != nil {
					return fmt.Errorf("attaching the SBOM and provenance of %s: %w", t, err)
				}
			}
			return nil
		},
	}
	b.registerSources(cmd)
	cmd.Flags().StringArrayVar(&targets, "target", nil, "target to push (repeatable); default: every kernel, image, initrd and container")
	reg.register(cmd)
	attestations.register(cmd)
	return cmd
}

// splitRepository parses HOST/REPOSITORY[:TAG] into the repository and the
// tag (latest by default).
func splitRepository(s string) (repo, tag string, err error) {
	repo, tag = s, "latest"
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		repo, tag = s[:i], s[i+1:]
	}
	if strings.Contains(s, "@") {
		return "", "", fmt.Errorf("%s: push takes HOST/REPOSITORY[:TAG], not a digest", s)
	}
	if _, err := orasref.ParseReference(repo + "/x:" + tag); err != nil {
		return "", "", fmt.Errorf("%s is not HOST/REPOSITORY[:TAG]: %v", s, err)
	}
	return repo, tag, nil
}
