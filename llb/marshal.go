package llb

import (
	"context"
	"fmt"

	"github.com/containerd/platforms"
	bk "github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Marshal turns a graph into the definition a daemon solves: for the
// worker's platform, with the daemon's LLB capabilities. Every graph kforge
// sends goes through here, the build function's and the CLI's own (kernel
// config, run), because the constraints are part of each op's digest: two
// paths that marshal differently build the same step twice. (Marshalled
// with the gateway API's capabilities instead of the LLB ones, every exec
// op without an environment gets PATH written into it; without any, it
// does not.)
func Marshal(ctx context.Context, st bk.State, c gwclient.Client) (*bk.Definition, error) {
	opts := c.BuildOpts()
	def, err := st.Marshal(ctx, bk.Platform(workerPlatform(opts)), bk.WithCaps(opts.LLBCaps))
	if err != nil {
		return nil, fmt.Errorf("marshaling the build graph: %w", err)
	}
	return def, nil
}

// workerPlatform is the platform the steps run on: the first worker's.
// Naming it keeps a graph independent of where the code that marshals it
// runs (a frontend image, the CLI).
func workerPlatform(opts gwclient.BuildOpts) ocispec.Platform {
	for _, w := range opts.Workers {
		if len(w.Platforms) > 0 {
			return platforms.Normalize(w.Platforms[0])
		}
	}
	return platforms.DefaultSpec()
}
