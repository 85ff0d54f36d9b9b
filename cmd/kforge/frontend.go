package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	"github.com/spf13/cobra"

	"github.com/kforge/kforge/frontends/gateway"
	"github.com/kforge/kforge/frontends/image"
	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/attest"
	"github.com/kforge/kforge/internal/solve"
)

func newFrontendCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "frontend",
		Short: "kforge as a BuildKit gateway frontend, for docker buildx and buildctl",
		Long: `A recipe whose first line is "# syntax=<kforge frontend image>" builds with
docker buildx and buildctl as it does with kforge build: the same graph, the
same cache keys, the same files.

  kforge frontend image -o type=registry,name=registry.example/kforge/frontend:1
  docker buildx build -f recipe.yaml --target kernel -o type=local,dest=out .

Build args (--build-arg):
` + buildArgHelp() + `
Subrequests: --call targets, --call outline, --check.`,
	}
	cmd.AddCommand(newFrontendServeCommand(), newFrontendImageCommand(g))
	return cmd
}

func buildArgHelp() string {
	var s string
	for _, a := range gateway.BuildArgs {
		s += fmt.Sprintf("  %-15s %s\n", a.Name, a.Description)
	}
	return s
}

func newFrontendServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the gateway frontend on stdio (the frontend image's entrypoint)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if os.Getenv("BUILDKIT_SESSION_ID") == "" {
				return fmt.Errorf("frontend serve runs inside BuildKit as a frontend image's entrypoint; build the image with `kforge frontend image`")
			}
			return grpcclient.RunFromEnvironment(appcontext.Context(), gateway.Build)
		},
	}
}

func newFrontendImageCommand(g *globalFlags) *cobra.Command {
	var reg registryFlags
	var outputs []string
	cmd := &cobra.Command{
		Use:   "image -o type=oci,dest=FILE|type=registry,name=REF",
		Short: "Build the frontend image: this static kforge, from scratch, as an OCI image",
		Long: `image writes the gateway frontend image of this kforge binary, with no base
image: the binary at /kforge, its entrypoint, and the labels that tell
BuildKit the frontend's caps and that it needs no network. The same binary
gives the same digest ($SOURCE_DATE_EPOCH dates it; 0 without). The image's
digest is printed on stdout.

  -o type=oci,dest=FILE[,tar=false][,name=TAG]   an OCI layout (tar, or a directory)
  -o type=registry,name=REF                      pushed (credentials as for kforge build)

Without a registry, run it from the layout:
  docker buildx build --build-context kforge-frontend=oci-layout://DIR@DIGEST \
    --build-arg BUILDKIT_SYNTAX=kforge-frontend ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(outputs) == 0 {
				return fmt.Errorf("name an output: -o type=oci,dest=FILE or -o type=registry,name=REF")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if err := checkStatic(exe); err != nil {
				return err
			}
			created, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "kforge-frontend-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			staging := artifact.NewStaging()
			desc, err := image.Build(cmd.Context(), staging, exe, work, created, attest.Version())
			if err != nil {
				return err
			}
			br := &buildRun{g: g, reg: reg, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
			for _, spec := range outputs {
				o, err := solve.ParseOutput(spec)
				if err != nil {
					return err
				}
				switch o.Type {
				case "oci":
					if err := br.ship(cmd.Context(), o, staging, created); err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
				case "registry":
					if _, err := br.push(cmd.Context(), staging, o.Name()); err != nil {
						return err
					}
				default:
					return fmt.Errorf("output %q: the frontend image is written as type=oci or pushed as type=registry", spec)
				}
			}
			return nil
		},
	}
	reg.register(cmd)
	cmd.Flags().StringArrayVarP(&outputs, "output", "o", nil, "output: type=oci,dest=FILE[,tar=false] | type=registry,name=REF")
	return cmd
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH as a time, or the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: give seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
