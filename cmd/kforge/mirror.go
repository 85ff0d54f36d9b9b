package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	bk "github.com/moby/buildkit/client/llb"
	"github.com/spf13/cobra"

	"github.com/kforge/kforge/cache"
	"github.com/kforge/kforge/internal/rustdist"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

func newMirrorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Keep the pinned inputs of recipes in a directory or registry mirror",
	}
	var file string
	var targets []string
	var rustup bool
	var reg registryFlags
	sync := &cobra.Command{
		Use:   "sync -f RECIPE DIR | oci://REGISTRY/REPOSITORY",
		Short: "Copy every pinned input of a recipe into a directory or registry mirror",
		Long: `sync copies every file the recipe's graphs fetch (the .debs of its
package sets, kernel sources, Rust toolchains, source and vendor tarballs)
into DIR, by sha256: DIR/sha256/<hex>, listed in DIR/index.json. Each file is
fetched from the recipe's mirrors in order and verified before it appears;
files already in DIR are kept. Run it where the mirrors are reachable, carry
DIR to the build farm, and build there with no network:

  kforge build -f RECIPE --target T --mirror DIR --offline -o type=local,dest=OUT

With oci://REGISTRY/REPOSITORY, each file becomes a blob of that repository
under its own sha256, referenced by a manifest tagged file-<hex> so that the
registry's garbage collection keeps it. Credentials come from the docker
config, as for kforge push. Build from it with the daemon fetching each blob
by digest, and nothing else reached:

  kforge build -f RECIPE --target T --mirror oci://REGISTRY/REPOSITORY --offline

A file no mirror serves is named at the end and sync exits 1; the rest of
the mirror is still written.

--rustup also lays the recipe's Rust dist tarballs out as a rustup dist
server in DIR/rustup (channel-rust-<version>.toml with its .sha256, and one
tarball per component), for teams that keep rustup:

  RUSTUP_DIST_SERVER=http://<host serving DIR/rustup> rustup toolchain install <version>`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := pinnedFiles(file, targets)
			if err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			fmt.Fprintf(errOut, "kforge: %d pinned files in %s\n", len(files), file)
			progress := func(msg string) { fmt.Fprintln(errOut, "fetch", msg) }
			var res cache.SyncResult
			if cache.IsOCIMirror(args[0]) {
				if rustup {
					return fmt.Errorf("--rustup lays out a directory; give a DIR, not %s", args[0])
				}
				client, err := reg.client()
				if err != nil {
					return err
				}
				ref := strings.TrimPrefix(args[0], cache.OCIScheme)
				repo, r, err := client.Repository(cmd.Context(), ref)
				if err != nil {
					return err
				}
				if r.Reference != "" {
					return fmt.Errorf("%s names a tag or digest; a registry mirror is a repository: oci://REGISTRY/REPOSITORY", args[0])
				}
				if res, err = cache.SyncOCI(cmd.Context(), repo, files, progress); err != nil {
					return client.Explain(r.Registry, err)
				}
			} else if res, err = cache.Sync(cmd.Context(), args[0], files, progress); err != nil {
				return err
			}
			fmt.Fprintf(errOut, "kforge: %s: %d fetched, %d already there, %d missing\n", args[0], res.Fetched, res.Kept, len(res.Missing))
			if len(res.Missing) > 0 {
				for _, m := range res.Missing {
					fmt.Fprintln(errOut, "  "+m.Error())
				}
				return fmt.Errorf("%d of %d pinned files could not be fetched; builds that need them will fail at their fetch", len(res.Missing), len(files))
			}
			if rustup {
				return writeRustupMirror(file, args[0], errOut)
			}
			return nil
		},
	}
	sync.Flags().StringVarP(&file, "file", "f", "", "recipe file (YAML); its lock is read from beside it")
	sync.Flags().StringArrayVar(&targets, "target", nil, "target whose inputs to copy (repeatable); default: every target")
	reg.register(sync)
	sync.Flags().BoolVar(&rustup, "rustup", false, "also lay the Rust dist tarballs out as a rustup dist server in DIR/rustup")
	_ = sync.MarkFlagRequired("file")
	cmd.AddCommand(sync)
	return cmd
}

// pinnedFiles lists every file the graphs of the targets fetch, each once,
// with every URL it may be fetched from in the order a build tries them.
func pinnedFiles(recipePath string, targets []string) ([]cache.File, error) {
	r, err := recipes.Load(recipePath)
	if err != nil {
		return nil, err
	}
	lockPath := recipes.LockPath(recipePath)
	lock, err := recipes.ReadLock(lockPath)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		targets = kllb.TargetNames(r)
	}
	in := kllb.NewInputs(r, lock, lockPath)
	in.Contexts = kllb.Contexts{Helper: bk.Scratch(), Recipe: bk.Scratch()}
	seen := map[string]bool{}
	var files []cache.File
	for _, t := range targets {
		if _, err := in.Plan(filepath.Dir(recipePath), t); err != nil {
			return nil, err
		}
		rec := &kllb.Fetches{}
		if _, err := in.Target(t, rec); err != nil {
			return nil, err
		}
		for _, f := range rec.All {
			if seen[f.SHA256] {
				continue
			}
			seen[f.SHA256] = true
			cf := cache.File{Name: f.Name, SHA256: f.SHA256}
			for i := range f.Mirrors {
				cf.URLs = append(cf.URLs, f.MirrorURL(i))
			}
			files = append(files, cf)
		}
	}
	return files, nil
}

// writeRustupMirror lays the pinned dist tarballs of every Rust toolchain of
// the recipe out as a rustup dist server in DIR/rustup.
func writeRustupMirror(recipePath, dir string, log io.Writer) error {
	r, err := recipes.Load(recipePath)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, name := range recipes.SortedKeys(r.Rust) {
		tc := r.Rust[name].Toolchain
		if tc == nil || done[tc.Dist.Version] {
			continue
		}
		done[tc.Dist.Version] = true
		// rustdist reads the tarballs by their upstream names.
		named, err := os.MkdirTemp("", "kforge-rustup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(named)
		var paths []string
		for _, f := range recipes.SortedKeys(tc.Dist.Files) {
			p := filepath.Join(named, f)
			if err := os.Symlink(cache.BlobPath(dir, tc.Dist.Files[f]), p); err != nil {
				return err
			}
			paths = append(paths, p)
		}
		date := time.Unix(r.SourceDateEpoch, 0).UTC().Format("2006-01-02")
		res, err := rustdist.Layout(filepath.Join(dir, "rustup"), tc.Dist.Version, date, r.SourceDateEpoch, paths)
		if err != nil {
			return fmt.Errorf("rustup mirror of Rust %s: %w", tc.Dist.Version, err)
		}
		fmt.Fprintf(log, "kforge: rustup dist server for Rust %s in %s: %s and %d packages\n", tc.Dist.Version, res.Root, res.Manifest, len(res.Files))
	}
	if len(done) == 0 {
		return fmt.Errorf("--rustup: %s has no Rust toolchain from dist tarballs (toolchain.dist)", recipePath)
	}
	return nil
}
