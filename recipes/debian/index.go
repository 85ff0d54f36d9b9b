package debian

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
	"pault.ag/go/debian/control"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"

	"github.com/kforge/kforge/recipes"
)

// pkg is one binary package stanza of a Packages index.
type pkg struct {
	Name       string
	Version    version.Version
	Arch       string
	Filename   string
	Size       int64
	SHA256     string
	Priority   string
	Essential  bool
	Depends    dependency.Dependency
	PreDepends dependency.Dependency
	Provides   dependency.Dependency

	// Suite is the suite the package came from, as the recipe names it;
	// pin and suiteNames are what apt would see of that suite.
	Suite      string
	pin        int
	suiteNames []string
}

// provider is a package offering a virtual name, with the version it
// provides (nil when unversioned).
type provider struct {
	pkg     *pkg
	version *version.Version
}

// index is the union of the Packages indexes of a suite's components.
type index struct {
	byName    map[string][]*pkg
	providers map[string][]provider
}

// indexCandidates are the forms of a Packages index, most compact first.
var indexCandidates = []struct {
	suffix string
	open   func(io.Reader) (io.Reader, error)
}{
	{".xz", func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) }},
	{".gz", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
	{"", func(r io.Reader) (io.Reader, error) { return r, nil }},
}

// loadIndex fetches and parses the Packages index of each component for the
// architecture, checking each file against the digest the signed release gives.
func loadIndex(ctx context.Context, f *fetcher, suite string, rel *release, components []string, arch string) (*index, []recipes.LockedIndex, error) {
	idx := newIndex()
	var used []recipes.LockedIndex
	for _, comp := range components {
		base := fmt.Sprintf("%s/binary-%s/Packages", comp, arch)
		found := false
		for _, c := range indexCandidates {
			ref, ok := rel.Files[base+c.suffix]
			if !ok {
				continue
			}
			found = true
			path := "dists/" + suite + "/" + base + c.suffix
			body, _, err := f.get(ctx, path, func(url string, body []byte) error {
				if got := sha256Hex(body); got != ref.SHA256 {
					return fmt.Errorf("%s: sha256 %s does not match the signed InRelease (%s)", url, got, ref.SHA256)
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
			r, err := c.open(bytes.NewReader(body))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
			if err := idx.add(r); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
			used = append(used, recipes.LockedIndex{Path: path, Size: ref.Size, SHA256: ref.SHA256})
			break
		}
		if !found {
			return nil, nil, fmt.Errorf("the release of %s lists no Packages index for component %s, architecture %s", suite, comp, arch)
		}
	}
	idx.finish()
	return idx, used, nil
}

// finish orders what add collected: versions of a name by candidate (pin,
// then newest first),
// providers of a virtual name by package name, so that choices among them
// do not depend on the order of the index.
func (idx *index) finish() {
	for _, list := range idx.byName {
		byCandidate(list)
	}
	for _, list := range idx.providers {
		sort.SliceStable(list, func(i, j int) bool { return list[i].pkg.Name < list[j].pkg.Name })
	}
}

func newIndex() *index {
	return &index{byName: map[string][]*pkg{}, providers: map[string][]provider{}}
}

// add reads the stanzas of one Packages file into the index.
func (idx *index) add(r io.Reader) error {
	reader, err := control.NewParagraphReader(bufio.NewReaderSize(r, 1<<20), nil)
	if err != nil {
		return err
	}
	for {
		para, err := reader.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := parseStanza(para.Values)
		if err != nil {
			return err
		}
		idx.byName[p.Name] = append(idx.byName[p.Name], p)
		for _, rel := range p.Provides.Relations {
			for _, poss := range rel.Possibilities {
				pr := provider{pkg: p}
				if poss.Version != nil && poss.Version.Operator == "=" {
					v, err := version.Parse(poss.Version.Number)
					if err == nil {
						pr.version = &v
					}
				}
				idx.providers[poss.Name] = append(idx.providers[poss.Name], pr)
			}
		}
	}
}

func parseStanza(v map[string]string) (*pkg, error) {
	name := v["Package"]
	ver, err := version.Parse(v["Version"])
	if err != nil {
		return nil, fmt.Errorf("package %s: version %q: %w", name, v["Version"], err)
	}
	size, err := strconv.ParseInt(v["Size"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("package %s: size %q", name, v["Size"])
	}
	p := &pkg{
		Name: name, Version: ver, Arch: v["Architecture"], Filename: v["Filename"],
		Size: size, SHA256: v["SHA256"], Priority: v["Priority"],
		Essential: strings.EqualFold(v["Essential"], "yes"),
		pin:       pinDefault,
	}
	for field, dst := range map[string]*dependency.Dependency{"Depends": &p.Depends, "Pre-Depends": &p.PreDepends, "Provides": &p.Provides} {
		if s := strings.TrimSpace(v[field]); s != "" {
			d, err := dependency.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("package %s: %s %q: %w", name, field, s, err)
			}
			*dst = *d
		}
	}
	if p.SHA256 == "" || p.Filename == "" {
		return nil, fmt.Errorf("package %s has no SHA256 or Filename", name)
	}
	return p, nil
}

// names lists every real and virtual package name, for suggestions.
func (idx *index) names() []string {
	out := make([]string, 0, len(idx.byName)+len(idx.providers))
	for n := range idx.byName {
		out = append(out, n)
	}
	for n := range idx.providers {
		if _, real := idx.byName[n]; !real {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
