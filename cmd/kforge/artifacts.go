package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/registry"
)

// artifactFlags are shared by pull, install and inspect.
type artifactFlags struct {
	reg      registryFlags
	platform string
}

func (f *artifactFlags) register(cmd *cobra.Command) {
	f.reg.register(cmd)
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform to take from a multi-platform artifact (os/arch, such as linux/arm64); default: this host's")
}

// open resolves REF and reads the artifact it names, with the repository to
// fetch its blobs from.
func (f *artifactFlags) open(ctx context.Context, ref string) (*artifact.Artifact, *remote.Repository, *registry.Client, error) {
	var platform *ocispec.Platform
	if f.platform != "" {
		p, err := artifact.ParsePlatform(f.platform)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--platform: %w", err)
		}
		platform = &p
	}
	repo, client, err := f.reg.repository(ctx, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if repo.Reference.Reference == "" {
		return nil, nil, nil, fmt.Errorf("%s names no tag or digest: add :TAG or @sha256:DIGEST", ref)
	}
	a, err := artifact.Open(ctx, repo, repo.Reference.Reference, ref, platform)
	if err != nil {
		return nil, nil, nil, client.Explain(repo.Reference.Registry, err)
	}
	return a, repo, client, nil
}

func newPullCommand() *cobra.Command {
	var f artifactFlags
	var dest string
	cmd := &cobra.Command{
		Use:   "pull REF -o DIR",
		Short: "Download a kforge artifact's files, each checked against its digest",
		Long: `pull reads the artifact that REF (HOST/REPOSITORY:TAG or @sha256:DIGEST)
names, takes the entry of this host's platform (or --platform) from a
multi-platform index, and writes its files into DIR under their titles, with
their modes and Kata's .container links. Every blob is checked against its
digest in a temporary directory beside DIR; files appear in DIR only when all
of them are verified, so a failed pull writes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dest == "" {
				return fmt.Errorf("pull needs -o DIR: the directory the files go into")
			}
			a, repo, client, err := f.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := a.Pull(cmd.Context(), repo, dest, cmd.ErrOrStderr()); err != nil {
				return client.Explain(repo.Reference.Registry, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pulled %s %s (%s) into %s\n", a.Kind, a.Desc.Digest, a.Platform(), dest)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&dest, "output", "o", "", "directory to write the files into")
	return cmd
}

func newInstallCommand() *cobra.Command {
	var f artifactFlags
	var opt artifact.InstallOptions
	cmd := &cobra.Command{
		Use:   "install REF [--prefix DIR] [--kata-config DIR]",
		Short: "Install a kernel, image or initrd artifact in Kata Containers' layout",
		Long: `install puts the artifact's files under Kata's names in the prefix: a
kernel as vmlinux-<version>-<config version> and its siblings with the
vmlinux.container and vmlinuz.container links; an image or initrd as a copy
named by its digest behind the kata-containers.img or
kata-containers-initrd.img link. With --kata-config DIR (the directory of
Kata's configuration.toml), it also writes config.d/` + artifact.DropInName + `, pointing the
hypervisor's kernel, image or initrd at the links.

Every file is downloaded and verified before the first one is renamed into
place, files go before the links that point at them, and links change with
one rename: an install never leaves a half-written file or a dangling link.
Installing what is already there changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, repo, client, err := f.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			// An index gave the host's entry; a single manifest for another
			// platform is installed only when that platform is asked for.
			if host := artifact.PlatformString(artifact.HostPlatform()); f.platform == "" && a.Platform() != "" && a.Platform() != host {
				return fmt.Errorf("%s is for %s, not this host's %s: pass --platform %s to install it anyway", args[0], a.Platform(), host, a.Platform())
			}
			opt.Progress = cmd.ErrOrStderr()
			changed, err := a.Install(cmd.Context(), repo, opt)
			if err != nil {
				return client.Explain(repo.Reference.Registry, err)
			}
			if !changed {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s is already installed in %s: nothing changed\n", a.Kind, a.Desc.Digest, opt.Prefix)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "installed %s %s (%s) in %s\n", a.Kind, a.Desc.Digest, a.Platform(), opt.Prefix)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&opt.Prefix, "prefix", artifact.DefaultPrefix, "directory of Kata's guest assets")
	cmd.Flags().StringVar(&opt.KataConfig, "kata-config", "", "directory of Kata's configuration.toml; write a drop-in in its config.d that points Kata at the installed files")
	cmd.Flags().StringVar(&opt.Hypervisor, "hypervisor", "qemu", "hypervisor section of the drop-in: qemu, clh, fc, dragonball")
	return cmd
}

func newInspectCommand() *cobra.Command {
	var f artifactFlags
	cmd := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show what a kforge artifact is (kind, platforms, files, annotations) and what refers to it",
		Long: `inspect reads the artifact that REF names and prints its kind, platforms,
files and annotations, then the referrers of its manifest (its SBOM and
provenance among them), as oras discover lists them: through the registry's
referrers API, or its sha256-<hex> fallback tag where it has none. For a
container image it prints the manifest and its referrers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			s, err := subjectOf(ctx, &f, args[0])
			if err != nil {
				return err
			}
			if s.artifact != nil {
				printArtifact(w, s.artifact)
			} else {
				fmt.Fprintf(w, "Name:         %s\nKind:         container image\nManifest:     %s\n", args[0], s.desc.Digest)
			}
			refs, err := s.client.Referrers(ctx, s.repo, s.desc, "")
			if err != nil {
				return err
			}
			printReferrers(w, s.desc, refs)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// printReferrers lists the manifests that refer to subject, by type.
func printReferrers(w io.Writer, subject ocispec.Descriptor, refs []ocispec.Descriptor) {
	if len(refs) == 0 {
		fmt.Fprintf(w, "Referrers of %s: none\n", subject.Digest)
		return
	}
	fmt.Fprintf(w, "Referrers of %s:\n", subject.Digest)
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int {
		return strings.Compare(a.ArtifactType+string(a.Digest), b.ArtifactType+string(b.Digest))
	})
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ARTIFACT TYPE\tDIGEST\tSIZE")
	for _, r := range refs {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", r.ArtifactType, r.Digest, r.Size)
	}
	tw.Flush()
}

func printArtifact(w io.Writer, a *artifact.Artifact) {
	fmt.Fprintf(w, "Name:         %s\n", a.Ref)
	fmt.Fprintf(w, "Kind:         %s (%s)\n", a.Kind, a.Manifest.ArtifactType)
	if a.Index != nil {
		fmt.Fprintf(w, "Index:        %s\n", a.Root.Digest)
		var ps []string
		for _, m := range a.Index.Manifests {
			if m.Platform != nil {
				ps = append(ps, fmt.Sprintf("%s (%s)", artifact.PlatformString(*m.Platform), m.Digest))
			}
		}
		fmt.Fprintf(w, "Platforms:    %s\n", strings.Join(ps, ", "))
	}
	fmt.Fprintf(w, "Manifest:     %s\n", a.Desc.Digest)
	fmt.Fprintf(w, "Platform:     %s\n", a.Platform())
	fmt.Fprintln(w, "Files:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSIZE\tMODE\tDIGEST\tMEDIA TYPE\tLINKS")
	for _, file := range a.Files {
		fmt.Fprintf(tw, "  %s\t%d\t%04o\t%s\t%s\t%s\n", file.Name, file.Layer.Size, file.Mode, file.Layer.Digest, file.Layer.MediaType, strings.Join(file.Links, ","))
	}
	tw.Flush()
	fmt.Fprintln(w, "Annotations:")
	keys := make([]string, 0, len(a.Manifest.Annotations))
	for k := range a.Manifest.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, a.Manifest.Annotations[k])
	}
}
