package debian

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"

	"github.com/kforge/kforge/internal/suggest"
	"github.com/kforge/kforge/recipes"
)

// Source is one suite of a package set, as a line of apt's sources list.
type Source struct {
	Mirrors    []string
	Suite      string
	Components []string
	Keyring    string // path of the OpenPGP keyring that must have signed InRelease
}

// Request is one package set to resolve against one or more suites, the
// first being the recipe's own.
type Request struct {
	Sources  []Source
	Arch     string
	Packages []string // names, or NAME/SUITE as apt takes them
	// AllowExpired names suites whose InRelease may be past its
	// Valid-Until: accepted on purpose, as apt's Check-Valid-Until=false.
	AllowExpired []string
	// Now is the time Valid-Until is checked against; the clock when zero.
	Now      time.Time
	Progress func(format string, args ...any)
}

// Resolver resolves package sets, reading each signed index once even when
// several environments share it.
type Resolver struct {
	indexes map[string]*loadedIndex
}

// loadedIndex is one suite's verified release and parsed index.
type loadedIndex struct {
	suite string // as the recipe names it
	rel   *release
	idx   *index
	used  []recipes.LockedIndex
}

// NewResolver returns a resolver with an empty index cache.
func NewResolver() *Resolver { return &Resolver{indexes: map[string]*loadedIndex{}} }

// Resolve turns a request into a locked environment: the closure of the
// requested packages and Debian's required and essential set over Depends and
// Pre-Depends, each with its version, suite, file, size and sha256.
func (rs *Resolver) Resolve(ctx context.Context, req Request) (*recipes.LockedEnvironment, error) {
	loaded, idx, err := rs.loadAll(ctx, req)
	if err != nil {
		return nil, err
	}
	pkgs, err := closeOver(idx, req.Arch, req.Packages)
	if err != nil {
		return nil, err
	}
	first := loaded[0]
	le := &recipes.LockedEnvironment{
		Suite:        first.rel.Suite,
		Codename:     first.rel.Codename,
		Architecture: req.Arch,
		Release:      lockedRelease(first),
	}
	for _, li := range loaded[1:] {
		le.Suites = append(le.Suites, recipes.LockedSuite{Suite: li.suite, Codename: li.rel.Codename, Release: lockedRelease(li)})
	}
	for _, p := range pkgs {
		le.Packages = append(le.Packages, lockedPackage(p))
	}
	return le, nil
}

func lockedRelease(li *loadedIndex) recipes.LockedRelease {
	return recipes.LockedRelease{Date: li.rel.Date, ValidUntil: li.rel.ValidUntil, SHA256: li.rel.SHA256,
		SignedBy: li.rel.SignedBy, Indexes: li.used}
}

func lockedPackage(p *pkg) recipes.LockedPackage {
	return recipes.LockedPackage{Name: p.Name, Version: p.Version.String(), Architecture: p.Arch,
		Filename: p.Filename, Size: p.Size, SHA256: p.SHA256, Suite: p.Suite}
}

// loadAll loads every suite of the request and merges their indexes.
func (rs *Resolver) loadAll(ctx context.Context, req Request) ([]*loadedIndex, *index, error) {
	if len(req.Sources) == 0 {
		return nil, nil, fmt.Errorf("no Debian suite to resolve against")
	}
	var loaded []*loadedIndex
	for _, src := range req.Sources {
		li, err := rs.load(ctx, req, src)
		if err != nil {
			return nil, nil, err
		}
		loaded = append(loaded, li)
	}
	if len(loaded) == 1 {
		return loaded, loaded[0].idx, nil
	}
	return loaded, mergeIndexes(loaded), nil
}

func (rs *Resolver) load(ctx context.Context, req Request, src Source) (*loadedIndex, error) {
	key := strings.Join([]string{strings.Join(src.Mirrors, " "), src.Suite, strings.Join(src.Components, ","), req.Arch, src.Keyring}, "|")
	if li := rs.indexes[key]; li != nil {
		return li, nil
	}
	progress := req.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	keyring, err := loadKeyring(src.Keyring)
	if err != nil {
		return nil, err
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	f := newFetcher(src.Mirrors)
	var rel *release
	progress("verifying dists/%s/InRelease against %s", src.Suite, src.Keyring)
	_, _, err = f.get(ctx, "dists/"+src.Suite+"/InRelease", func(url string, body []byte) error {
		r, err := verifyRelease(url, body, openpgp.EntityList(keyring))
		if err != nil {
			return err
		}
		if err := checkValidUntil(url, src.Suite, r, now, slices.Contains(req.AllowExpired, src.Suite)); err != nil {
			return err
		}
		rel = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	progress("reading the Packages indexes of %s (%s, %s)", src.Suite, strings.Join(src.Components, ","), req.Arch)
	idx, used, err := loadIndex(ctx, f, src.Suite, rel, src.Components, req.Arch)
	if err != nil {
		return nil, err
	}
	idx.setSuite(src.Suite, rel)
	li := &loadedIndex{suite: src.Suite, rel: rel, idx: idx, used: used}
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
		// Debian's base set comes from the default suites: a package found
		// only in backports is not part of it.
		if (p.Essential || p.Priority == "required") && p.pin >= pinDefault {
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

// root finds the package a user asked for by name: the candidate, or with
// NAME/SUITE (apt's syntax) the newest version in that suite.
func (c *closure) root(name string) (*pkg, error) {
	name, suite, pinned := strings.Cut(name, "/")
	if list := c.idx.byName[name]; len(list) > 0 {
		if !pinned {
			return list[0], nil
		}
		var in []string
		for _, p := range list {
			if p.inSuite(suite) {
				return p, nil
			}
			in = append(in, p.Version.String()+" in "+p.Suite)
		}
		return nil, fmt.Errorf("package %q is not in suite %s (the index has %s)", name, suite, strings.Join(in, ", "))
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
			if prev := c.selected[p.Name]; prev != nil && version.Compare(p.Version, prev.Version) > 0 {
				// A version picked earlier is too old for this relation
				// (a backports package needs its own suite's library):
				// the newer one replaces it, as apt would upgrade it.
				delete(c.selected, p.Name)
			}
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

// Package pins a single package of the request's suites by name, without
// its dependencies: a file such as a source tarball that is used, not
// installed.
func (rs *Resolver) Package(ctx context.Context, req Request, name string) (*recipes.LockedPackage, error) {
	_, idx, err := rs.loadAll(ctx, req)
	if err != nil {
		return nil, err
	}
	c := &closure{idx: idx}
	p, err := c.root(name)
	if err != nil {
		return nil, err
	}
	lp := lockedPackage(p)
	return &lp, nil
}
