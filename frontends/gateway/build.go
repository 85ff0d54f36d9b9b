// Package gateway is kforge's BuildKit gateway frontend: the build function
// that `docker buildx build` runs from the kforge frontend image, and that
// the kforge CLI runs through the BuildKit client's Build. Both read the
// recipe from the dockerfile local and its files from the context local,
// and call the same graph builders (llb/), so both make one graph: the same
// ops, cache keys and outputs.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/containerd/platforms"
	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/attestations"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// Builder is the build function with what only the CLI can add: its own
// mirror choices between attempts (the CLI retries a failed fetch at the
// next mirror) and the directory mirror it serves.
type Builder struct {
	// Fetches, when set, records the graph's fetches and picks their
	// mirrors; nil takes each file from its first mirror.
	Fetches *kllb.Fetches
}

// Build is the gateway frontend's entrypoint.
func Build(ctx context.Context, c client.Client) (*client.Result, error) {
	return (&Builder{}).Build(ctx, c)
}

// Build reads the recipe, answers a subrequest or builds the target.
func (b *Builder) Build(ctx context.Context, c client.Client) (*client.Result, error) {
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, err
	}
	entry, err := bc.ReadEntrypoint(ctx, "YAML")
	if err != nil {
		return nil, fmt.Errorf("reading the recipe: %w", err)
	}
	src := &recipeSource{Source: entry}
	r, err := recipes.Parse(entry.SourceMap.Filename, entry.SourceMap.Data)
	if err != nil {
		return nil, src.wrap(err, "")
	}
	src.recipe = r
	if res, ok, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		ListTargets: func(ctx context.Context) (*targetsList, error) { return listTargets(src), nil },
		Outline:     func(ctx context.Context) (*outlineResult, error) { return outlineOf(src), nil },
		Lint:        func(ctx context.Context) (*lintResults, error) { return lintRecipe(ctx, bc, src) },
	}); ok {
		return res, err
	}

	target := bc.Target
	if target == "" {
		return nil, src.wrap(fmt.Errorf("%s: name a target with --target; its targets are: %s", r.Path, targetList(r)), "")
	}
	kind := r.TargetKind(target)
	if kind == "" {
		return nil, src.wrap(kllb.NoSuchTarget(r, target), "")
	}
	// Ignoring the cache on every op would also re-solve the frontend's
	// own image, which the running frontend holds: the build never ends.
	if bc.IsNoCache(target) {
		return nil, fmt.Errorf("--no-cache is not supported by the kforge frontend: to rebuild, prune the build cache (docker buildx prune) and build again")
	}
	set, err := parseArgs(bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	plats, err := targetPlatforms(r, target, kind, bc.TargetPlatforms)
	if err != nil {
		return nil, src.wrap(err, target)
	}
	files, err := loadFiles(ctx, bc, r, target)
	if err != nil {
		return nil, src.wrap(err, target)
	}
	helper, err := helperState(c)
	if err != nil {
		return nil, err
	}
	fetches := b.Fetches
	if fetches == nil {
		fetches = &kllb.Fetches{Skip: map[string]int{}, Down: map[string]bool{}, LocalMirror: set.mirror, Offline: set.offline}
	}

	asked := attestationsAsked(c)
	res := client.NewResult()
	var exported exptypes.Platforms
	for _, p := range plats {
		in := kllb.NewInputs(r, files.lock, files.lockPath)
		in.Digests = kllb.GuestDigests{Recipe: sha256Hex(entry.SourceMap.Data), Lock: sha256Hex(files.lockData)}
		if kind == recipes.KindKernel && p.arch != "" {
			k := r.Kernels[target]
			k.Arch = p.arch
			in.Recipe = withKernel(r, target, k)
		}
		names, err := in.PlanFS(files.fs, target)
		if err != nil {
			return nil, src.wrap(err, target)
		}
		recipeCtx, err := recipeState(ctx, bc, names, files.standIns)
		if err != nil {
			return nil, err
		}
		in.Contexts = kllb.Contexts{Helper: helper, Recipe: recipeCtx, Locate: src.locate}
		fetches.All = nil
		st, err := in.Target(target, fetches)
		if err != nil {
			return nil, src.wrap(err, target)
		}
		def, err := kllb.Marshal(ctx, st, c)
		if err != nil {
			return nil, err
		}
		solved, err := c.Solve(ctx, client.SolveRequest{Definition: def.ToPB(), CacheImports: bc.CacheImports})
		if err != nil {
			return nil, err
		}
		ref, err := solved.SingleRef()
		if err != nil {
			return nil, err
		}
		if kind == recipes.KindContainer {
			if err := addImageMeta(res, in.Recipe, target, in.Digests); err != nil {
				return nil, err
			}
		}
		if p.id == "" && len(asked) == 0 {
			res.SetRef(ref)
			continue
		}
		id, spec := p.id, p.spec
		if id == "" {
			// One ref with its platform listed, as Dockerfile's frontend
			// returns one platform: the exporters find the attestations
			// of a platform by its ID (kforge's SBOM, BuildKit's
			// provenance), and a local export stays unsplit.
			spec = ocispec.Platform{OS: "linux", Architecture: in.Recipe.TargetArchitecture(target)}
			id = platforms.FormatAll(spec)
			res.SetRef(ref)
		} else {
			res.AddRef(id, ref)
		}
		if asked[attestations.KeyTypeSbom] {
			att, err := sbomAttestation(ctx, c, in, target, kind, files.fs)
			if err != nil {
				return nil, src.wrap(err, target)
			}
			res.AddAttestation(id, att)
		}
		exported.Platforms = append(exported.Platforms, exptypes.Platform{ID: id, Platform: spec})
	}
	if len(exported.Platforms) > 0 {
		dt, err := json.Marshal(exported)
		if err != nil {
			return nil, err
		}
		res.AddMeta(exptypes.ExporterPlatformsKey, dt)
	}
	return res, nil
}

// withKernel is the recipe with one kernel replaced (its architecture set
// from --platform), leaving the caller's recipe as it was.
func withKernel(r *recipes.Recipe, name string, k recipes.Kernel) *recipes.Recipe {
	copied := *r
	copied.Kernels = map[string]recipes.Kernel{}
	for n, v := range r.Kernels {
		copied.Kernels[n] = v
	}
	copied.Kernels[name] = k
	return &copied
}

// platform is one platform a target is built for: id is set when the
// result carries one ref per platform.
type platform struct {
	id   string
	spec ocispec.Platform
	arch string // kernel architecture
}

// targetPlatforms are the platforms asked for: kernels cross-compile for
// linux/amd64 and linux/arm64; other targets build their recipe's
// architecture, which --platform may name but not change.
func targetPlatforms(r *recipes.Recipe, target, kind string, asked []ocispec.Platform) ([]platform, error) {
	if len(asked) == 0 {
		return []platform{{}}, nil
	}
	var out []platform
	for _, p := range asked {
		p = platforms.Normalize(p)
		name := platforms.Format(p)
		if kind == recipes.KindKernel {
			arch, ok := recipes.KernelPlatforms[name]
			if !ok {
				return nil, fmt.Errorf("platform %s: kernels build for linux/amd64 or linux/arm64", name)
			}
			pl := platform{spec: p, arch: arch}
			if len(asked) > 1 {
				pl.id = platforms.FormatAll(p)
			}
			out = append(out, pl)
			continue
		}
		if len(asked) > 1 {
			return nil, fmt.Errorf("%q is a %s, built for its recipe's architecture: only kernels build for several platforms", target, kind)
		}
		want := "linux/" + r.GuestArchitecture(target)
		if kind == recipes.KindRust {
			want = name // a program builds in its builder; the platform is the build host's
		}
		if name != want {
			return nil, fmt.Errorf("platform %s: %q is a %s for %s; --platform changes only a kernel's architecture", name, target, kind, want)
		}
		out = append(out, platform{spec: p})
	}
	return out, nil
}

// helperState is the kforge binary that steps run: the frontend image
// itself (pinned by digest by the gateway) under a frontend, the CLI's
// helper context otherwise. Steps mount it read-only, which BuildKit keys by
// content, so the two agree whenever the binary is the same.
func helperState(c client.Client) (bk.State, error) {
	var st *bk.State
	var err error
	if cf, ok := c.(interface{ CurrentFrontend() (*bk.State, error) }); ok {
		st, err = cf.CurrentFrontend()
	}
	if err != nil {
		return bk.State{}, fmt.Errorf("reading the frontend image: %w", err)
	}
	if st != nil {
		return kllb.Helper(*st), nil
	}
	return kllb.Helper(bk.Local(kllb.HelperContextName, bk.SharedKeyHint(kllb.HelperContextName), bk.SessionID(c.BuildOpts().SessionID))), nil
}

// recipeFiles are the recipe's lock and the files of the context that the
// target names, loaded to plan it.
type recipeFiles struct {
	lock     *recipes.Lock
	lockPath string
	lockData []byte
	fs       fs.FS
	standIns map[string]*standIn
}

// loadFiles solves the context limited to the lock and the paths the
// target names, and reads the lock from it.
func loadFiles(ctx context.Context, bc *dockerui.Client, r *recipes.Recipe, target string) (*recipeFiles, error) {
	lockPath := path.Base(recipes.LockPath(r.Path))
	what := "load the lock"
	if target != "" {
		what += " and the files " + target + " names"
	}
	st, err := bc.MainContext(ctx, bk.IncludePatterns(append([]string{lockPath}, r.LocalPaths(target)...)), dockerui.WithInternalName(what))
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := bc.GatewayClient().Solve(ctx, client.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, fmt.Errorf("loading the build context: %w", err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	main := contextFS{ctx: ctx, ref: ref}
	f := &recipeFiles{lockPath: lockPath}
	if f.standIns, err = standIns(ctx, bc, r.LocalPaths(target)); err != nil {
		return nil, err
	}
	f.fs = overlayFS{contextFS: main, standIns: f.standIns}
	if f.lockData, err = main.ReadFile(lockPath); errors.Is(err, fs.ErrNotExist) {
		return nil, recipes.MissingLock(lockPath)
	} else if err != nil {
		return nil, err
	}
	if f.lock, err = recipes.ParseLock(lockPath, f.lockData); err != nil {
		return nil, err
	}
	return f, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
