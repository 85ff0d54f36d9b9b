package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kforge/kforge/recipes"
	"github.com/kforge/kforge/recipes/debian"
	"github.com/kforge/kforge/recipes/kernelorg"
)

func newLockCommand(g *globalFlags) *cobra.Command {
	var (
		file         string
		update       bool
		check        bool
		allowExpired []string
	)
	cmd := &cobra.Command{
		Use:   "lock -f RECIPE [--update | --check]",
		Short: "Resolve the recipe's inputs into its lock file (needs the mirrors, once)",
		Long: `lock resolves every package set of the recipe against its Debian suites:
each suite's InRelease is verified against its keyring and refused when it is
past its Valid-Until, the Packages indexes it lists are checked against their
signed sha256, and the requested packages are closed over Depends and
Pre-Depends together with Debian's required and essential set. Across several
suites (debian.suites: updates, security, backports) the highest version wins;
a NotAutomatic suite such as bookworm-backports gives a package only when it
is named NAME/SUITE or no other suite has it. The result (version, suite,
file, size and sha256 of every .deb) is written to the lock beside the recipe
(recipe.yaml gives recipe.lock). The same indexes always give the same lock,
byte for byte.

Without flags, entries of an existing lock whose part of the recipe did not
change are kept as they are; the rest is resolved. --update resolves
everything again against the suites as they are now. Both print what changed.
--check resolves everything, prints what a --update would change, writes
nothing, and exits 1 when the lock is behind its suites (for a farm's CI).`,
		Example: `  kforge lock -f recipes/kata-kernel.yaml
  kforge lock -f recipes/kata-kernel.yaml --update
  kforge lock -f recipes/kata-kernel.yaml --check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if update && check {
				return fmt.Errorf("--update and --check exclude each other: --check only reports what --update would write")
			}
			r, err := recipes.Load(file)
			if err != nil {
				return err
			}
			if err := checkAllowExpired(r, allowExpired); err != nil {
				return err
			}
			path := recipes.LockPath(file)
			var old *recipes.Lock
			if !isMissingLock(path) {
				if old, err = recipes.ReadLock(path); err != nil {
					if !update && !check {
						return fmt.Errorf("%w (or `kforge lock --update -f %s` writes a new one)", err, file)
					}
					fmt.Fprintf(os.Stderr, "kforge: replacing %s: %v\n", path, err)
				}
			}
			keep := old
			if update || check {
				keep = nil
			}
			l := &locker{ctx: cmd.Context(), r: r, file: file, keep: keep, allowExpired: allowExpired, rs: debian.NewResolver()}
			lock, err := l.lock()
			if err != nil {
				return err
			}
			changes := recipes.DiffLocks(old, lock)
			printLockChanges(os.Stdout, changes, old == nil)
			if check {
				if len(changes) > 0 {
					fmt.Fprintf(os.Stderr, "kforge: %s is behind its suites: run `kforge lock --update -f %s`\n", path, file)
					return &exitError{code: 1}
				}
				fmt.Fprintf(os.Stderr, "kforge: %s is current\n", path)
				return nil
			}
			if err := recipes.WriteLock(path, lock); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			fmt.Fprintf(os.Stderr, "kforge: wrote %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "recipe file (YAML)")
	cmd.Flags().BoolVar(&update, "update", false, "resolve every entry again against the suites as they are now, and print what changed")
	cmd.Flags().BoolVar(&check, "check", false, "print what --update would change and exit 1 if anything would; write nothing")
	cmd.Flags().StringArrayVar(&allowExpired, "allow-expired", nil, "accept SUITE's InRelease even past its Valid-Until (repeatable); a stale index can hide security updates")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// isMissingLock reports whether there is no lock file at path.
func isMissingLock(path string) bool {
	_, err := os.Stat(path)
	return os.IsNotExist(err)
}

// checkAllowExpired refuses --allow-expired for a suite the recipe lacks:
// a typo would otherwise accept nothing and say nothing.
func checkAllowExpired(r *recipes.Recipe, suites []string) error {
	known := r.LockedSuiteNames()
	for _, s := range suites {
		if !slices.Contains(known, s) {
			return fmt.Errorf("--allow-expired %s: %s has no suite %q (its suites: %s)", s, r.Path, s, strings.Join(known, ", "))
		}
	}
	return nil
}

// locker resolves a recipe's lock, keeping entries of keep whose request
// is unchanged.
type locker struct {
	ctx          context.Context
	r            *recipes.Recipe
	file         string
	keep         *recipes.Lock
	allowExpired []string
	rs           *debian.Resolver
}

func (l *locker) lock() (*recipes.Lock, error) {
	r := l.r
	lock := &recipes.Lock{LockVersion: recipes.LockVersion, Environments: map[string]*recipes.LockedEnvironment{}}
	for _, name := range recipes.SortedKeys(r.Environments) {
		if kept := l.keptEnvironment(name); kept != nil {
			lock.Environments[name] = kept
			continue
		}
		env := r.Environments[name]
		start := time.Now()
		le, err := l.rs.Resolve(l.ctx, debian.Request{
			Sources:      l.sources(r.Debian.SuiteSources()),
			Arch:         env.ArchitectureOrDefault(),
			Packages:     env.Packages,
			AllowExpired: l.allowExpired,
			Progress: func(format string, args ...any) {
				fmt.Fprintf(os.Stderr, "kforge: [%s] %s\n", name, fmt.Sprintf(format, args...))
			},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: environment %q: %w", l.file, name, err)
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
		lk := l.keptKernel(name)
		if lk == nil {
			var err error
			if lk, err = l.lockKernel(name); err != nil {
				return nil, fmt.Errorf("%s: kernel %q: %w", l.file, name, err)
			}
		}
		if lock.Kernels == nil {
			lock.Kernels = map[string]*recipes.LockedKernel{}
		}
		lock.Kernels[name] = lk
	}
	return lock, nil
}

func (l *locker) keptEnvironment(name string) *recipes.LockedEnvironment {
	if l.keep == nil {
		return nil
	}
	if le := l.keep.Environments[name]; le != nil && le.Request == recipes.EnvironmentRequest(l.r, name) {
		return le
	}
	return nil
}

func (l *locker) keptKernel(name string) *recipes.LockedKernel {
	if l.keep == nil {
		return nil
	}
	if lk := l.keep.Kernels[name]; lk != nil && lk.Request == recipes.KernelRequest(l.r, name) {
		return lk
	}
	return nil
}

// sources turns the recipe's suites into the resolver's, with keyrings
// found relative to the recipe.
func (l *locker) sources(suites []recipes.SuiteSource) []debian.Source {
	var out []debian.Source
	for _, s := range suites {
		keyring := recipes.DefaultKeyring
		if s.Keyring != "" {
			keyring = filepath.Join(filepath.Dir(l.file), s.Keyring)
		}
		out = append(out, debian.Source{Mirrors: s.Mirrors, Suite: s.Suite, Components: s.Components, Keyring: keyring})
	}
	return out
}

// printLockChanges prints each change, then a summary line; a first lock
// prints only its size.
func printLockChanges(w io.Writer, changes []recipes.LockChange, first bool) {
	if first {
		return
	}
	counts := map[string]int{}
	security := 0
	for _, c := range changes {
		fmt.Fprintln(w, c.String())
		counts[c.Kind]++
		if c.Security() && c.Kind != "removed" {
			security++
		}
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	fmt.Fprintf(w, "%d upgraded, %d added, %d removed", counts["upgraded"], counts["added"], counts["removed"])
	if n := counts["downgraded"] + counts["changed"]; n > 0 {
		fmt.Fprintf(w, ", %d downgraded or rebuilt", n)
	}
	fmt.Fprintf(w, "; %d from a security suite\n", security)
}

// lockKernel pins a kernel's source: a Debian package from its suites, or
// the recipe's own URLs and sha256.
func (l *locker) lockKernel(name string) (*recipes.LockedKernel, error) {
	r := l.r
	k := r.Kernels[name]
	lk := &recipes.LockedKernel{Request: recipes.KernelRequest(r, name)}
	switch {
	case k.Source.Deb != nil:
		env := r.Environments[k.Builder]
		d := k.Source.Deb
		p, err := l.rs.Package(l.ctx, debian.Request{
			Sources: l.sources(d.Sources(r)), Arch: env.ArchitectureOrDefault(), AllowExpired: l.allowExpired,
		}, k.Source.Deb.Package)
		if err != nil {
			return nil, err
		}
		lk.Source = recipes.LockedSource{Package: p.Name, Version: p.Version, Filename: p.Filename,
			Member: k.Source.Deb.Path, Size: p.Size, SHA256: p.SHA256, URLs: d.Mirrors, Suite: p.Suite}
		if len(lk.Source.URLs) == 0 && p.Suite != r.Debian.Suite {
			// A package of another suite is fetched from that suite's mirrors.
			lk.Source.URLs = r.Debian.MirrorsOfSuite(p.Suite)
		}
		fmt.Fprintf(os.Stderr, "kforge: [%s] source %s %s from %s (%d MiB)\n", name, p.Name, p.Version, p.Suite, p.Size>>20)
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
		pin, err := kernelorg.Resolve(l.ctx, mirrors, ko.Version, keys)
		if err != nil {
			return nil, err
		}
		lk.Source = recipes.LockedSource{Version: ko.Version, Filename: pin.Path, URLs: mirrors, SHA256: pin.SHA256}
		fmt.Fprintf(os.Stderr, "kforge: [%s] source %s, sha256sums.asc signed by %s\n", name, pin.Path, pin.Signer)
	}
	return lk, nil
}
