package debian

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"pault.ag/go/debian/dependency"

	"github.com/kforge/kforge/internal/suggest"
	"github.com/kforge/kforge/recipes"
)

// Request is one package set to resolve.
type Request struct {
	Mirrors    []string
	Suite      string
	Components []string
	Arch       string
	Packages   []string
	Keyring    string // path of the OpenPGP keyring that must have signed InRelease
	Progress   func(format string, args ...any)
}

// Resolver resolves package sets, reading each signed index once even when
// several environments share it.
type Resolver struct {
	indexes map[string]*loadedIndex
}

type loadedIndex struct {
	rel  *release
	idx  *index
	used []recipes.LockedIndex
}

// NewResolver returns a resolver with an empty index cache.
func NewResolver() *Resolver { return &Resolver{indexes: map[string]*loadedIndex{}} }

// Resolve turns a request into a locked environment: the closure of the
// requested packages and Debian's required and essential set over Depends and
// Pre-Depends, each with its version, file, size and sha256.
func (rs *Resolver) Resolve(ctx context.Context, req Request) (*recipes.LockedEnvironment, error) {
	li, err := rs.load(ctx, req)
	if err != nil {
		return nil, err
	}
	pkgs, err := closeOver(li.idx, req.Arch, req.Packages)
	if err != nil {
		return nil, err
	}
	le := &recipes.LockedEnvironment{
		Suite:        li.rel.Suite,
		Codename:     li.rel.Codename,
		Architecture: req.Arch,
		Release: recipes.LockedRelease{
			Date: li.rel.Date, SHA256: li.rel.SHA256, SignedBy: li.rel.SignedBy, Indexes: li.used,
		},
	}
	for _, p := range pkgs {
		le.Packages = append(le.Packages, recipes.LockedPackage{
			Name: p.Name, Version: p.Version.String(), Architecture: p.Arch,
			Filename: p.Filename, Size: p.Size, SHA256: p.SHA256,
		})
	}
	return le, nil
}

func (rs *Resolver) load(ctx context.Context, req Request) (*loadedIndex, error) {
	key := strings.Join([]string{strings.Join(req.Mirrors, " "), req.Suite, strings.Join(req.Components, ","), req.Arch, req.Keyring}, "|")
	if li := rs.indexes[key]; li != nil {
		return li, nil
	}
	progress := req.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	keyring, err := loadKeyring(req.Keyring)
	if err != nil {
		return nil, err
	}
	f := newFetcher(req.Mirrors)
	var rel *release
	progress("verifying dists/%s/InRelease against %s", req.Suite, req.Keyring)
	_, _, err = f.get(ctx, "dists/"+req.Suite+"/InRelease", func(url string, body []byte) error {
		r, err := verifyRelease(url, body, openpgp.EntityList(keyring))
		rel = r
		return err
	})
	if err != nil {
		return nil, err
	}
	progress("reading the Packages indexes of %s (%s, %s)", req.Suite, strings.Join(req.Components, ","), req.Arch)
	idx, used, err := loadIndex(ctx, f, req.Suite, rel, req.Components, req.Arch)
	if err != nil {
		return nil, err
	}
	li := &loadedIndex{rel: rel, idx: idx, used: used}
	rs.indexes[key] = li
	return li, nil
}

// closure is the state of a dependency walk.
type closure struct {
	idx      *index
	arch     dependency.Arch
	selected map[string]*pkg
	queue    []*pkg
}

// closeOver selects the requested packages, then every required and
// essential package, then walks Pre-Depends and Depends breadth first. An
// alternative already satisfied by a selected package wins; otherwise the
// first alternative that the index can satisfy is taken, as apt does.
func closeOver(idx *index, arch string, requested []string) ([]*pkg, error) {
	a, err := dependency.ParseArch(arch)
	if err != nil {
		return nil, err
	}
	c := &closure{idx: idx, arch: *a, selected: map[string]*pkg{}}
	var missing []string
	for _, name := range requested {
		p, err := c.root(name)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		c.add(p)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(missing, "\n"))
	}
	for _, name := range recipes.SortedKeys(idx.byName) {
		p := idx.byName[name][0]
		if p.Essential || p.Priority == "required" {
			c.add(p)
		}
	}
	for len(c.queue) > 0 {
		p := c.queue[0]
		c.queue = c.queue[1:]
		for _, dep := range []dependency.Dependency{p.PreDepends, p.Depends} {
			for _, rel := range dep.Relations {
				if err := c.satisfy(p, rel); err != nil {
					return nil, err
				}
			}
		}
	}
	out := make([]*pkg, 0, len(c.selected))
	for _, p := range c.selected {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// root finds the package a user asked for by name.
func (c *closure) root(name string) (*pkg, error) {
	if list := c.idx.byName[name]; len(list) > 0 {
		return list[0], nil
	}
	if provs := c.idx.providers[name]; len(provs) > 0 {
		var names []string
		for _, pr := range provs {
			names = append(names, pr.pkg.Name)
		}
		return nil, fmt.Errorf("package %q is virtual, provided by %s: name one of them", name, strings.Join(names, ", "))
	}
	msg := fmt.Sprintf("package %q does not exist in the index", name)
	if close := suggest.Closest(name, c.idx.names(), 5); len(close) > 0 {
		msg += "; close names: " + strings.Join(close, ", ")
	}
	return nil, fmt.Errorf("%s", msg)
}

func (c *closure) add(p *pkg) {
	if c.selected[p.Name] != nil {
		return
	}
	c.selected[p.Name] = p
	c.queue = append(c.queue, p)
}

func (c *closure) satisfy(from *pkg, rel dependency.Relation) error {
	var alts []dependency.Possibility
	for _, poss := range rel.Possibilities {
		if poss.Architectures != nil && !poss.Architectures.Matches(&c.arch) {
			continue
		}
		alts = append(alts, poss)
	}
	if len(alts) == 0 {
		return nil // the relation does not apply to this architecture
	}
	for _, alt := range alts {
		if c.satisfiedBySelection(alt) {
			return nil
		}
	}
	for _, alt := range alts {
		if p := c.candidate(alt); p != nil {
			c.add(p)
			return nil
		}
	}
	return fmt.Errorf("%s %s depends on %s, which no package in the index satisfies", from.Name, from.Version, rel.String())
}

func (c *closure) satisfiedBySelection(alt dependency.Possibility) bool {
	if p := c.selected[alt.Name]; p != nil && (alt.Version == nil || alt.Version.SatisfiedBy(p.Version)) {
		return true
	}
	for _, pr := range c.idx.providers[alt.Name] {
		if c.selected[pr.pkg.Name] == pr.pkg && providesVersion(alt, pr) {
			return true
		}
	}
	return false
}

func (c *closure) candidate(alt dependency.Possibility) *pkg {
	for _, p := range c.idx.byName[alt.Name] {
		if alt.Version == nil || alt.Version.SatisfiedBy(p.Version) {
			return p
		}
	}
	for _, pr := range c.idx.providers[alt.Name] {
		if providesVersion(alt, pr) {
			return pr.pkg
		}
	}
	return nil
}

// providesVersion reports whether a Provides entry satisfies the relation:
// an unversioned relation takes any provider, a versioned one only a
// provider that states a matching version.
func providesVersion(alt dependency.Possibility, pr provider) bool {
	if alt.Version == nil {
		return true
	}
	return pr.version != nil && alt.Version.SatisfiedBy(*pr.version)
}

// Package pins a single package of the request's index by name, without
// its dependencies: a file such as a source tarball that is used, not
// installed.
func (rs *Resolver) Package(ctx context.Context, req Request, name string) (*recipes.LockedPackage, error) {
	li, err := rs.load(ctx, req)
	if err != nil {
		return nil, err
	}
	c := &closure{idx: li.idx}
	p, err := c.root(name)
	if err != nil {
		return nil, err
	}
	return &recipes.LockedPackage{
		Name: p.Name, Version: p.Version.String(), Architecture: p.Arch,
		Filename: p.Filename, Size: p.Size, SHA256: p.SHA256,
	}, nil
}
