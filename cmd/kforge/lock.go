package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kforge/kforge/recipes"
	"github.com/kforge/kforge/recipes/debian"
	"github.com/kforge/kforge/recipes/kernelorg"
)

func newLockCommand(g *globalFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "lock -f RECIPE",
		Short: "Resolve the recipe's inputs into its lock file (needs the mirrors, once)",
		Long: `lock resolves every package set of the recipe against its Debian mirrors:
the suite's InRelease is verified against the archive keyring, the Packages
indexes it lists are checked against their signed sha256, and the requested
packages are closed over Depends and Pre-Depends together with Debian's
required and essential set. The result (version, file, size and sha256 of
every .deb) is written to the lock beside the recipe (recipe.yaml gives
recipe.lock). The same index always gives the same lock, byte for byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := recipes.Load(file)
			if err != nil {
				return err
			}
			keyring := recipes.DefaultKeyring
			if r.Debian.Keyring != "" {
				keyring = filepath.Join(filepath.Dir(file), r.Debian.Keyring)
			}
			lock := &recipes.Lock{LockVersion: recipes.LockVersion, Environments: map[string]*recipes.LockedEnvironment{}}
			rs := debian.NewResolver()
			for _, name := range recipes.SortedKeys(r.Environments) {
				env := r.Environments[name]
				start := time.Now()
				le, err := rs.Resolve(cmd.Context(), debian.Request{
					Mirrors:    r.Debian.Mirrors,
					Suite:      r.Debian.Suite,
					Components: r.Debian.ComponentsOrDefault(),
					Arch:       env.ArchitectureOrDefault(),
					Packages:   env.Packages,
					Keyring:    keyring,
					Progress: func(format string, args ...any) {
						fmt.Fprintf(os.Stderr, "kforge: [%s] %s\n", name, fmt.Sprintf(format, args...))
					},
				})
				if err != nil {
					return fmt.Errorf("%s: environment %q: %w", file, name, err)
				}
				le.Request = recipes.EnvironmentRequest(r, name)
				lock.Environments[name] = le
				var size int64
				for _, p := range le.Packages {
					size += p.Size
				}
				fmt.Fprintf(os.Stderr, "kforge: [%s] %d packages (%d MiB to fetch) from %s %s, in %.1fs\n",
					name, len(le.Packages), size>>20, le.Codename, le.Release.Date, time.Since(start).Seconds())
			}
			for _, name := range recipes.SortedKeys(r.Kernels) {
				lk, err := lockKernel(cmd.Context(), rs, r, name, keyring)
				if err != nil {
					return fmt.Errorf("%s: kernel %q: %w", file, name, err)
				}
				if lock.Kernels == nil {
					lock.Kernels = map[string]*recipes.LockedKernel{}
				}
				lock.Kernels[name] = lk
			}
			path := recipes.LockPath(file)
			if err := recipes.WriteLock(path, lock); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			fmt.Fprintf(os.Stderr, "kforge: wrote %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "recipe file (YAML)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// lockKernel pins a kernel's source: a Debian package from the builder
// environment's suite, or the recipe's own URLs and sha256.
func lockKernel(ctx context.Context, rs *debian.Resolver, r *recipes.Recipe, name, keyring string) (*recipes.LockedKernel, error) {
	k := r.Kernels[name]
	lk := &recipes.LockedKernel{Request: recipes.KernelRequest(r, name)}
	switch {
	case k.Source.Deb != nil:
		env := r.Environments[k.Builder]
		d := k.Source.Deb
		p, err := rs.Package(ctx, debian.Request{
			Mirrors: d.MirrorsOf(r), Suite: d.SuiteOf(r), Components: r.Debian.ComponentsOrDefault(),
			Arch: env.ArchitectureOrDefault(), Keyring: keyring,
		}, k.Source.Deb.Package)
		if err != nil {
			return nil, err
		}
		lk.Source = recipes.LockedSource{Package: p.Name, Version: p.Version, Filename: p.Filename,
			Member: k.Source.Deb.Path, Size: p.Size, SHA256: p.SHA256, URLs: d.Mirrors}
		fmt.Fprintf(os.Stderr, "kforge: [%s] source %s %s (%d MiB)\n", name, p.Name, p.Version, p.Size>>20)
	case k.Source.Local != "":
		lk.Source = recipes.LockedSource{Local: k.Source.Local}
	case k.Source.HTTP != nil:
		lk.Source = recipes.LockedSource{URLs: k.Source.HTTP.URLs, SHA256: k.Source.HTTP.SHA256}
	case k.Source.KernelOrg != nil:
		ko := k.Source.KernelOrg
		var keyPaths []string
		for _, p := range ko.Keys {
			keyPaths = append(keyPaths, filepath.Join(filepath.Dir(r.Path), p))
		}
		keys, err := kernelorg.LoadKeys(keyPaths)
		if err != nil {
			return nil, r.Errorf("$.kernels."+name+".source.kernelOrg.keys", "%v", err)
		}
		mirrors := ko.Mirrors
		if len(mirrors) == 0 {
			mirrors = []string{kernelorg.DefaultMirror}
		}
		pin, err := kernelorg.Resolve(ctx, mirrors, ko.Version, keys)
		if err != nil {
			return nil, err
		}
		lk.Source = recipes.LockedSource{Version: ko.Version, Filename: pin.Path, URLs: mirrors, SHA256: pin.SHA256}
		fmt.Fprintf(os.Stderr, "kforge: [%s] source %s, sha256sums.asc signed by %s\n", name, pin.Path, pin.Signer)
	}
	return lk, nil
}
