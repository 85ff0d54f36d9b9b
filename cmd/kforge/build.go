package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/spf13/cobra"
	"github.com/tonistiigi/fsutil"

	"github.com/kforge/kforge/cache"
	"github.com/kforge/kforge/frontends/gateway"
	"github.com/kforge/kforge/internal/solve"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// buildFlags are shared by build and run: which recipe, which target, which
// caches.
type buildFlags struct {
	file      string
	target    string
	platform  string
	cacheTo   []string
	cacheFrom []string
	mirror    string
	offline   bool
	// reg reaches registries: cache registries (the daemon is given their
	// credentials and --ca-file) and a registry mirror.
	reg registryFlags
}

func (b *buildFlags) register(cmd *cobra.Command) {
	b.registerSources(cmd)
	cmd.Flags().StringVar(&b.target, "target", "", "target to build: an environment, kernel, rust program, rootfs, image, initrd or container of the recipe, or test:NAME (what a boot test boots)")
	cmd.Flags().StringVar(&b.platform, "platform", "", "target platform of a kernel: linux/amd64 or linux/arm64 (cross-compiled); default: the recipe's arch")
	cmd.Flags().StringArrayVar(&b.cacheTo, "cache-to", nil, "export the build cache: type=registry,ref=REF[,mode=max] or type=local,dest=DIR")
	cmd.Flags().StringArrayVar(&b.cacheFrom, "cache-from", nil, "import a build cache: type=registry,ref=REF or type=local,src=DIR")
	_ = cmd.MarkFlagRequired("target")
}

// registerSources adds the flags of every command that builds from a
// recipe: the recipe file and where pinned files come from.
func (b *buildFlags) registerSources(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&b.file, "file", "f", "", "recipe file (YAML); its lock is read from beside it")
	cmd.Flags().StringVar(&b.mirror, "mirror", "", "mirror of pinned files (filled by `kforge mirror sync`), tried before the recipe's mirrors for every pinned file: a directory, or oci://HOST/REPOSITORY, a registry the daemon fetches each file from as a blob by its digest")
	cmd.Flags().BoolVar(&b.offline, "offline", false, "fetch pinned files only from --mirror, never from the recipe's mirrors")
	_ = cmd.MarkFlagRequired("file")
}

// serveMirror points the daemon at --mirror. A registry mirror is fetched
// from by the daemon itself, with the registry's answer to kforge's
// credentials as its Authorization header (a session secret, never part of
// a step or its cache key). A directory mirror is served on 127.0.0.1, so
// the daemon must run on this host: kforge's own daemon or one at a unix
// socket.
func (b *buildFlags) serveMirror(ctx context.Context, g *globalFlags, opt *solve.Options) (func(), error) {
	if b.mirror == "" {
		if b.offline {
			return nil, fmt.Errorf("--offline needs --mirror: the directory or oci://REGISTRY/REPOSITORY every pinned file comes from")
		}
		return func() {}, nil
	}
	if cache.IsOCIMirror(b.mirror) {
		client, err := b.reg.client()
		if err != nil {
			return nil, err
		}
		access, err := client.BlobAccess(ctx, strings.TrimPrefix(b.mirror, cache.OCIScheme))
		if err != nil {
			return nil, err
		}
		opt.LocalMirror, opt.Offline = access.Prefix, b.offline
		if access.Authorization != "" {
			opt.Session = append(opt.Session, secretsprovider.FromMap(map[string][]byte{
				httpAuthSecretPrefix + access.Host: []byte(access.Authorization)}))
		}
		return func() {}, nil
	}
	if g.addr != "" && !strings.HasPrefix(g.addr, "unix://") {
		return nil, fmt.Errorf("--mirror %s is served on 127.0.0.1, which the daemon at %s cannot reach: push it to a registry with `kforge mirror sync -f RECIPE oci://REGISTRY/REPOSITORY` and build with --mirror oci://REGISTRY/REPOSITORY, or use kforge's local daemon", b.mirror, g.addr)
	}
	srv, err := cache.Serve(b.mirror)
	if err != nil {
		return nil, err
	}
	opt.LocalMirror, opt.Offline = kllb.DirMirrorPrefix(srv.URL), b.offline
	return func() { srv.Close() }, nil
}

// solveOptions are the options every solve of build and run shares. The
// returned stop ends what they started (the --mirror server).
func (b *buildFlags) solveOptions(ctx context.Context, g *globalFlags, p *prepared) (opt solve.Options, stop func(), err error) {
	opt = solve.Options{Progress: g.progress, LocalMounts: p.localMounts()}
	for _, spec := range b.cacheTo {
		e, err := cache.ParseOption(spec, true)
		if err != nil {
			return opt, nil, err
		}
		opt.CacheExports = append(opt.CacheExports, e)
	}
	for _, spec := range b.cacheFrom {
		e, err := cache.ParseOption(spec, false)
		if err != nil {
			return opt, nil, err
		}
		opt.CacheImports = append(opt.CacheImports, e)
	}
	if len(opt.CacheExports)+len(opt.CacheImports) > 0 {
		opt.Session = append(opt.Session, registryAuth())
	}
	if g.addr == "" {
		opt.Proxy = g.localDaemon().StartedProxy()
	}
	stop, err = b.serveMirror(ctx, g, &opt)
	return opt, stop, err
}

// httpAuthSecretPrefix names the session secret BuildKit reads the
// Authorization header of an HTTP fetch from, for fetches whose step names
// no secret of its own: HTTP_AUTH_HEADER_<host>.
const httpAuthSecretPrefix = "HTTP_AUTH_HEADER_"

// registryAuth gives the daemon the docker config's credentials (helpers
// included) for the cache registries it reaches. The registry's TLS is the
// daemon's own business: it trusts its system roots and the CAs of its
// buildkitd.toml ([registry."HOST"] ca = [...]), and speaks plain HTTP to a
// registry on 127.0.0.1.
func registryAuth() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(os.Stderr))})
}

// prepared is a recipe loaded with its lock and plans, ready to give graphs.
type prepared struct {
	inputs *kllb.Inputs
	helper fsutil.FS
	recipe fsutil.FS
}

// prepare reads the recipe and lock, plans the target (and the targets in
// also, which kforge run mounts) and checks it before any daemon is
// contacted, so that mistakes in the input are reported at once.
func (b *buildFlags) prepare(g *globalFlags, also ...string) (*prepared, error) {
	in, err := loadInputs(b.file, b.target, b.platform)
	if err != nil {
		return nil, err
	}
	r := in.Recipe
	files, err := in.Plan(filepath.Dir(b.file), b.target)
	if err != nil {
		return nil, err
	}
	for _, t := range also {
		more, err := in.Plan(filepath.Dir(b.file), t)
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	if _, kernel := r.Kernels[b.target]; !kernel && b.platform != "" {
		return nil, fmt.Errorf("--platform applies to kernel targets; %q is not a kernel", b.target)
	}
	in.Contexts = kllb.Contexts{
		Helper: kllb.Helper(bk.Local(kllb.HelperContextName, bk.SharedKeyHint(kllb.HelperContextName))),
		Recipe: recipeContext(files),
	}
	p := &prepared{inputs: in}
	for _, t := range append([]string{b.target}, also...) {
		if _, err := in.Target(t, nil); err != nil {
			return nil, err
		}
	}
	if p.helper, err = g.helperContext(); err != nil {
		return nil, err
	}
	if p.recipe, err = fsutil.NewFS(filepath.Dir(b.file)); err != nil {
		return nil, err
	}
	return p, nil
}

// loadInputs reads a recipe and its lock, with a kernel target's
// architecture set from platform, and the digests of both files: what a
// build plans from and what verify checks an artifact against.
func loadInputs(file, target, platform string) (*kllb.Inputs, error) {
	r, err := recipes.Load(file)
	if err != nil {
		return nil, err
	}
	lockPath := recipes.LockPath(file)
	lock, err := recipes.ReadLock(lockPath)
	if err != nil {
		return nil, err
	}
	if k, ok := r.Kernels[target]; ok && platform != "" {
		arch, ok := recipes.KernelPlatforms[platform]
		if !ok {
			return nil, fmt.Errorf("--platform %s: kernels build for linux/amd64 or linux/arm64", platform)
		}
		k.Arch = arch
		r.Kernels[target] = k
	}
	in := kllb.NewInputs(r, lock, lockPath)
	if in.Digests, err = guestDigests(file, lockPath); err != nil {
		return nil, err
	}
	return in, nil
}

// guestDigests are the sha256 of the recipe and lock files, recorded in a
// guest rootfs's metadata.
func guestDigests(recipePath, lockPath string) (kllb.GuestDigests, error) {
	var d kllb.GuestDigests
	for _, f := range []struct {
		path string
		dst  *string
	}{{recipePath, &d.Recipe}, {lockPath, &d.Lock}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return d, err
		}
		sum := sha256.Sum256(data)
		*f.dst = hex.EncodeToString(sum[:])
	}
	return d, nil
}

// recipeContext is the recipe's directory as a named context, narrowed to
// the files the build reads so that nothing else is sent or hashed.
func recipeContext(files []string) bk.State {
	if len(files) == 0 {
		return bk.Scratch()
	}
	return bk.Local(kllb.RecipeContextName, bk.IncludePatterns(files), bk.SharedKeyHint(kllb.RecipeContextName))
}

// build is the shared build function (frontends/gateway) for one attempt,
// with the CLI's mirror choices.
func build(fetches *kllb.Fetches) gwclient.BuildFunc {
	return (&gateway.Builder{Fetches: fetches}).Build
}

func (p *prepared) graph(target string, fetches *kllb.Fetches) (bk.State, error) {
	return p.inputs.Target(target, fetches)
}

// localMounts are the directories the daemon reads through the session:
// the helper, and the recipe's directory both under kforge's own name (for
// graphs the CLI builds itself) and as buildx sends it to a frontend (the
// dockerfile and context locals, for the shared build function).
func (p *prepared) localMounts() map[string]fsutil.FS {
	return map[string]fsutil.FS{kllb.HelperContextName: p.helper, kllb.RecipeContextName: p.recipe,
		dockerui.DefaultLocalNameDockerfile: p.recipe, dockerui.DefaultLocalNameContext: p.recipe}
}

// frontendAttrs are the opts of the shared build function, as buildx would
// send them for the same build.
func (b *buildFlags) frontendAttrs() map[string]string {
	attrs := map[string]string{"filename": filepath.Base(b.file), "target": b.target}
	if b.platform != "" {
		attrs["platform"] = b.platform
	}
	return attrs
}

func newBuildCommand(g *globalFlags) *cobra.Command {
	br := &buildRun{g: g}
	var outputs []string
	cmd := &cobra.Command{
		Use:   "build -f RECIPE --target TARGET [-o type=local,dest=DIR]",
		Short: "Build a target of the recipe (environment, kernel, program, rootfs, image, initrd, container) from its lock",
		Long: `build turns the target into a BuildKit graph and solves it. Inputs come
only from the lock: a recipe whose inputs changed since it was locked is
refused. Steps other than pinned fetches run with no network. Unchanged input
does no work: every step is a cached layer.

Outputs (-o, repeatable), in docker buildx's syntax:
  type=local,dest=DIR           the target's files in DIR
  type=tar,dest=FILE            the same as a tar archive
  type=oci,dest=FILE[,name=TAG] an OCI image layout as a tar (tar=false: a directory)
  type=docker,dest=FILE[,name=REF] a container image as a tarball for docker/podman load
  type=registry,name=REF        pushed to a registry; prints REF@DIGEST
An output appears only when the build succeeded; a failed build leaves none.

Kernels, images, initrds and rootfs (as a tarball) ship under oci and
registry as OCI artifacts (docs/artifacts.md): one manifest, one layer per
file, the same digest from the same recipe and lock on any machine. With
--platform linux/amd64,linux/arm64 a kernel becomes an OCI index of both.
Containers, environments and programs ship as OCI images; a container's
image has the recipe's config and one reproducible layer. Registry credentials come from
the docker config ($DOCKER_CONFIG or ~/.docker/config.json, credential helpers
included); --ca-file adds a CA, and only a registry on this host may speak
plain HTTP unless --plain-http.

A build farm shares work through BuildKit's cache: --cache-to exports every
step (mode=max) to a registry or directory, --cache-from imports it.

With no network at all, --mirror DIR --offline takes every pinned file from
a directory mirror filled by ` + "`kforge mirror sync`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, spec := range outputs {
				o, err := solve.ParseOutput(spec)
				if err != nil {
					return err
				}
				br.outputs = append(br.outputs, o)
			}
			br.stdout, br.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return br.run(cmd.Context())
		},
	}
	br.b.register(cmd)
	br.reg.register(cmd)
	br.attest.register(cmd)
	cmd.Flags().Lookup("platform").Usage = "target platform of a kernel: linux/amd64 or linux/arm64 (cross-compiled), or both, comma-separated, for an OCI index; default: the recipe's arch"
	cmd.Flags().StringArrayVarP(&outputs, "output", "o", nil, "output destination: type=local,dest=DIR | type=tar,dest=FILE | type=oci,dest=FILE[,tar=false] | type=docker,dest=FILE | type=registry,name=REF")
	return cmd
}

func newRunCommand(g *globalFlags) *cobra.Command {
	var b buildFlags
	var mountSpecs []string
	cmd := &cobra.Command{
		Use:   "run -f RECIPE --target ENVIRONMENT [--mount TARGET:PATH]... -- CMD [ARG...]",
		Short: "Run a command in a built environment, with no network",
		Long: `run builds the environment (reusing the cache) and runs CMD in it as a
build step with the network off. The command's output is streamed as it
comes; kforge exits with the command's exit status. The step is never taken
from the cache: CMD runs every time.

--mount TARGET:PATH builds another target of the recipe too and mounts its
tree read-only at PATH, for example a rootfs under the image tools:
  kforge run -f guest.yaml --target tools --mount rootfs:/rootfs -- du -sh /rootfs`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mounts, err := parseRunMounts(mountSpecs)
			if err != nil {
				return err
			}
			var mounted []string
			for _, m := range mounts {
				mounted = append(mounted, m.target)
			}
			p, err := b.prepare(g, mounted...)
			if err != nil {
				return err
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			name := fmt.Sprintf("run %q", args)
			opt, stop, err := b.solveOptions(cmd.Context(), g, p)
			if err != nil {
				return err
			}
			defer stop()
			opt.StreamVertex = name
			err = solve.Run(cmd.Context(), c, func(f *kllb.Fetches) (bk.State, error) {
				env, err := p.graph(b.target, f)
				if err != nil {
					return bk.State{}, err
				}
				runOpts := []bk.RunOption{bk.Args(args), bk.Network(bk.NetModeNone), bk.IgnoreCache, bk.WithCustomName(name)}
				for _, m := range mounts {
					tree, err := p.graph(m.target, f)
					if err != nil {
						return bk.State{}, fmt.Errorf("--mount %s:%s: %w", m.target, m.path, err)
					}
					runOpts = append(runOpts, bk.AddMount(m.path, tree, bk.Readonly))
				}
				return env.Run(runOpts...).Root(), nil
			}, opt)
			if code := solve.ExitCode(err); code != 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "kforge: %v exited with status %d\n", args, code)
				return &exitError{code: code}
			}
			return err
		},
	}
	b.register(cmd)
	cmd.Flags().StringArrayVar(&mountSpecs, "mount", nil, "mount another target's tree read-only into the step: TARGET:PATH (PATH absolute; repeatable)")
	return cmd
}

// runMount is one --mount of kforge run.
type runMount struct{ target, path string }

// parseRunMounts reads --mount TARGET:PATH values.
func parseRunMounts(specs []string) ([]runMount, error) {
	var mounts []runMount
	seen := map[string]bool{}
	for _, spec := range specs {
		target, path, ok := strings.Cut(spec, ":")
		if !ok || target == "" || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("--mount %q: want TARGET:PATH with an absolute PATH, such as rootfs:/rootfs", spec)
		}
		path = filepath.Clean(path)
		if path == "/" || seen[path] {
			return nil, fmt.Errorf("--mount %q: %s is the step's root or mounted twice", spec, path)
		}
		seen[path] = true
		mounts = append(mounts, runMount{target: target, path: path})
	}
	return mounts, nil
}
