// Package rustdist lays out pinned upstream Rust dist tarballs as a rustup
// dist server: the directory that RUSTUP_DIST_SERVER points at, so that
// rustup can install the same pinned toolchain offline from a mirror.
//
// Given rust-<version>-<host>.tar.xz|.tar.gz (the combined package) and
// optionally per-component tarballs such as rust-std-<version>-<target>,
// Layout writes under a root R:
//
//	R/dist/<date>/<file>-<version>-<target>.tar.gz   one per component
//	R/dist/<date>/rust-<version>-<host>.tar.gz       the combined package
//	R/dist/channel-rust-<version>.toml               the v2 channel manifest
//	R/dist/channel-rust-<version>.toml.sha256
//
// rustup 1.x reads R/dist/channel-rust-<version>.toml for the toolchain
// "<version>", and downloads each url in it with its
// https://static.rust-lang.org prefix replaced by RUSTUP_DIST_SERVER.
//
// The output is the same bytes for the same inputs: tar entries are sorted,
// owners are 0, every modification time is one fixed epoch, gzip streams
// carry no name or time, and the manifest is written in sorted order. Every
// file is written through a temporary file and renamed into place, so an
// error leaves no partial file behind.
package rustdist

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// UpstreamServer is the dist server that the manifest's urls name; rustup
// replaces it with RUSTUP_DIST_SERVER when it downloads.
const UpstreamServer = "https://static.rust-lang.org"

// File is one file that Layout wrote.
type File struct {
	Path   string // slash-separated, relative to the root
	SHA256 string // lower-case hex
	Size   int64
	// Pkg and Target name the manifest package the file is for ("rust",
	// "cargo", "rust-std", "clippy-preview", ...; Target "*" for packages
	// that are the same for all targets). Both are "" for the channel
	// manifest and its .sha256.
	Pkg    string
	Target string
}

// Result lists what Layout wrote.
type Result struct {
	Root     string
	Manifest string // path of dist/channel-rust-<version>.toml
	Files    []File // sorted by Path
}

// input is one given tarball.
type input struct {
	path   string
	name   string // "rust", "rust-std", "cargo", ... as in the file name
	target string // from the file name; "" for target-independent tarballs
	base   string // file name without .tar.xz / .tar.gz
	xz     bool
	arc    *archive
}

func (in *input) combined() bool { return in.name == "rust" }

// provider is the tarball component that a manifest package is cut from.
type provider struct {
	in     *input
	comp   string // rust-installer component name, e.g. "clippy-preview"
	pkg    string // manifest package, e.g. "clippy-preview"
	target string // manifest target, "*" for target-independent packages
}

// output is one tarball to write.
type output struct {
	file    string // file name under dist/<date>/
	pkg     string
	target  string
	in      *input
	members []member
	sum     string
	size    int64
}

// Layout lays out the given dist tarballs for version (e.g. "1.93.0") and
// date (YYYY-MM-DD, the release's dist date) under root. epoch is the
// modification time of every tar entry; when it is 0 or less the date's
// midnight UTC is used.
//
// At least one combined rust-<version>-<host> tarball must be given. A
// component given in its own tarball takes the place of the same
// component cut from a combined tarball. Files from earlier runs that this
// run does not write are left alone.
func Layout(root, version, date string, epoch int64, tarballs []string) (*Result, error) {
	if root == "" {
		return nil, fmt.Errorf("rustdist: no root directory given")
	}
	if err := checkName("version", version); err != nil {
		return nil, err
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil || day.Format(time.DateOnly) != date {
		return nil, fmt.Errorf("rustdist: date %q is not YYYY-MM-DD", date)
	}
	if epoch <= 0 {
		epoch = day.Unix()
	}
	mtime := time.Unix(epoch, 0).UTC()
	if len(tarballs) == 0 {
		return nil, fmt.Errorf("rustdist: no dist tarballs given")
	}

	inputs := make([]*input, 0, len(tarballs))
	byBase := map[string]string{}
	for _, p := range tarballs {
		in, err := parseInputName(p, version)
		if err != nil {
			return nil, err
		}
		if prev, ok := byBase[in.base]; ok {
			return nil, fmt.Errorf("rustdist: %s and %s are the same dist package %s", prev, p, in.base)
		}
		byBase[in.base] = p
		inputs = append(inputs, in)
	}
	// Standalone component tarballs first, then combined ones, each by name:
	// the first provider of a package wins, whatever the argument order.
	sort.Slice(inputs, func(i, j int) bool {
		if a, b := inputs[i].combined(), inputs[j].combined(); a != b {
			return b
		}
		return inputs[i].base < inputs[j].base
	})

	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("rustdist: %w", err)
	}
	stage, err := os.MkdirTemp(root, ".rustdist-")
	if err != nil {
		return nil, fmt.Errorf("rustdist: %w", err)
	}
	defer os.RemoveAll(stage)

	// Read every tarball once; regular file contents go to a blob file in
	// the staging directory, so that the outputs can be written in sorted
	// order whatever order the input has.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, in := range inputs {
		g.Go(func() error {
			blob, err := os.Create(filepath.Join(stage, fmt.Sprintf("blob-%d", i)))
			if err != nil {
				return fmt.Errorf("rustdist: %w", err)
			}
			arc, err := readArchive(in.path, in.xz, blob)
			if err != nil {
				blob.Close()
				return err
			}
			in.arc = arc
			if arc.top != in.base {
				return fmt.Errorf("rustdist: %s: its top directory is %s/, want %s/", in.path, arc.top, in.base)
			}
			return arc.checkInstaller()
		})
	}
	err = g.Wait()
	defer func() {
		for _, in := range inputs {
			if in.arc != nil {
				in.arc.blob.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	outputs, hosts, err := plan(inputs, version)
	if err != nil {
		return nil, err
	}
	dateDir := filepath.Join(root, "dist", date)
	if err := os.MkdirAll(dateDir, 0o755); err != nil {
		return nil, fmt.Errorf("rustdist: %w", err)
	}

	g = errgroup.Group{}
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, o := range outputs {
		g.Go(func() error {
			dst := filepath.Join(dateDir, o.file)
			base := strings.TrimSuffix(o.file, ".tar.gz")
			sum, size, err := writeAtomic(dst, func(w *bufferedWriter) error {
				return writeTarGz(w, o.in.arc, base, o.members, mtime)
			})
			if err != nil {
				return fmt.Errorf("rustdist: writing %s: %w", dst, err)
			}
			o.sum, o.size = sum, size
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	res := &Result{Root: root}
	ch := newChannel(version, date)
	for _, o := range outputs {
		ch.add(o.pkg, o.target, UpstreamServer+"/dist/"+date+"/"+o.file, o.sum)
		res.Files = append(res.Files, File{
			Path: "dist/" + date + "/" + o.file, SHA256: o.sum, Size: o.size,
			Pkg: o.pkg, Target: o.target,
		})
	}
	ch.finish(hosts)
	text := ch.toml()

	name := "channel-rust-" + version + ".toml"
	res.Manifest = filepath.Join(root, "dist", name)
	sum, size, err := writeAtomic(res.Manifest, func(w *bufferedWriter) error {
		_, err := w.Write(text)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rustdist: writing %s: %w", res.Manifest, err)
	}
	res.Files = append(res.Files, File{Path: "dist/" + name, SHA256: sum, Size: size})

	// As upstream publishes it: sha256sum's line for the bare file name.
	// rustup reads the first 64 characters.
	shaLine := []byte(sum + "  " + name + "\n")
	shaPath := res.Manifest + ".sha256"
	sum2, size2, err := writeAtomic(shaPath, func(w *bufferedWriter) error {
		_, err := w.Write(shaLine)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rustdist: writing %s: %w", shaPath, err)
	}
	res.Files = append(res.Files, File{Path: "dist/" + name + ".sha256", SHA256: sum2, Size: size2})

	sort.Slice(res.Files, func(i, j int) bool { return res.Files[i].Path < res.Files[j].Path })
	return res, nil
}

// parseInputName splits <name>-<version>[-<target>].tar.xz|.tar.gz.
func parseInputName(p, version string) (*input, error) {
	file := filepath.Base(p)
	in := &input{path: p}
	switch {
	case strings.HasSuffix(file, ".tar.xz"):
		in.base, in.xz = strings.TrimSuffix(file, ".tar.xz"), true
	case strings.HasSuffix(file, ".tar.gz"):
		in.base = strings.TrimSuffix(file, ".tar.gz")
	default:
		return nil, fmt.Errorf("rustdist: %s is not a dist tarball: want <name>-%s[-<target>].tar.xz or .tar.gz", p, version)
	}
	if i := strings.Index(in.base, "-"+version+"-"); i > 0 {
		in.name, in.target = in.base[:i], in.base[i+len(version)+2:]
	} else if n := len(in.base) - len(version) - 1; n > 0 && in.base[n:] == "-"+version {
		in.name = in.base[:n]
	} else {
		return nil, fmt.Errorf("rustdist: %s: the file name does not carry version %s (want <name>-%s[-<target>].tar.xz or .tar.gz)", p, version, version)
	}
	if err := checkName("package name in "+p, in.name); err != nil {
		return nil, err
	}
	if in.target != "" {
		if err := checkName("target in "+p, in.target); err != nil {
			return nil, err
		}
	}
	if in.combined() && in.target == "" {
		return nil, fmt.Errorf("rustdist: %s: a combined rust tarball is rust-%s-<host>", p, version)
	}
	return in, nil
}

// plan decides which tarball component each manifest package is cut from,
// and the tarballs to write. It returns the hosts of the combined tarballs.
func plan(inputs []*input, version string) ([]*output, []string, error) {
	providers := map[[2]string]*provider{}
	var hosts []string
	for _, in := range inputs {
		if in.combined() {
			hosts = append(hosts, in.target)
		}
		for _, comp := range in.arc.components {
			pkg, target := componentPkg(comp, in.target)
			if pkg == "rust" {
				return nil, nil, fmt.Errorf("rustdist: %s: component %q clashes with the combined package rust", in.path, comp)
			}
			key := [2]string{pkg, target}
			if prev := providers[key]; prev != nil {
				if !prev.in.combined() && !in.combined() {
					return nil, nil, fmt.Errorf("rustdist: %s and %s both hold %s for target %s", prev.in.path, in.path, pkg, target)
				}
				continue // an earlier (standalone, or first combined) one wins
			}
			providers[key] = &provider{in: in, comp: comp, pkg: pkg, target: target}
		}
	}
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("rustdist: no combined rust-%s-<host> tarball given; rustup needs the rust package", version)
	}

	keys := make([][2]string, 0, len(providers))
	for k := range providers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})

	var outs []*output
	files := map[string]string{}
	addOut := func(o *output, what string) error {
		if prev, ok := files[o.file]; ok {
			return fmt.Errorf("rustdist: %s and %s would both be written as %s", prev, what, o.file)
		}
		files[o.file] = what
		outs = append(outs, o)
		return nil
	}
	for _, k := range keys {
		p := providers[k]
		file := pkgFile(p.pkg, version, p.target)
		o := &output{file: file, pkg: p.pkg, target: p.target, in: p.in, members: p.in.arc.split(p.comp)}
		if err := addOut(o, fmt.Sprintf("component %s of %s", p.comp, p.in.path)); err != nil {
			return nil, nil, err
		}
	}
	for _, in := range inputs {
		if !in.combined() {
			continue
		}
		o := &output{file: in.base + ".tar.gz", pkg: "rust", target: in.target, in: in, members: in.arc.whole()}
		if err := addOut(o, in.path); err != nil {
			return nil, nil, err
		}
	}
	sort.Strings(hosts)
	return outs, hosts, nil
}

// checkName accepts the characters that dist file names and target
// triples use.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("rustdist: empty %s", what)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '+':
		default:
			return fmt.Errorf("rustdist: %s %q has a character other than letters, digits and . - _ +", what, s)
		}
	}
	if s == "." || s == ".." {
		return fmt.Errorf("rustdist: %s %q is not a name", what, s)
	}
	return nil
}

// typeName is for messages about tar entry types.
func typeName(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q", t)
}
