// Package attest says what went into a build: an SPDX 2.3 SBOM and an
// in-toto statement with a SLSA provenance v1 predicate, both made from the
// recipe and its lock rather than by scanning the outputs. The lock pins
// every input by digest, so the list is exact: each .deb, the kernel
// source, the recipe's own files (patches, fragments), Rust toolchains and
// crates. The same recipe, lock and outputs give the same bytes.
package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// Kinds of input.
const (
	KindDeb           = "deb"            // a .deb of a package set
	KindKernelSource  = "kernel-source"  // the kernel's source tarball or .deb
	KindRustToolchain = "rust-toolchain" // an upstream Rust dist tarball
	KindCrate         = "crate"          // a crate of a Cargo.lock
	KindDownload      = "download"       // any other pinned file (source or vendor tarballs)
	KindLocal         = "local"          // a file of the recipe's directory
)

// Input is one thing a build read, pinned by its sha256.
type Input struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
	SHA256  string `json:"sha256"`
	// URI is where the file is fetched from (the recipe's first mirror, so
	// that it is the same on every machine), or the path of a local file
	// relative to the recipe's directory.
	URI string `json:"uri,omitempty"`
	// Suite is the Debian suite a .deb was resolved from.
	Suite string `json:"suite,omitempty"`
}

// Purl is the package URL of a .deb, a kernel source .deb or a crate, and
// empty for anything else.
func (in Input) Purl() string {
	switch {
	case in.Kind == KindCrate:
		return "pkg:cargo/" + purlEscape(in.Name) + "@" + purlEscape(in.Version)
	case (in.Kind == KindDeb || in.Kind == KindKernelSource) && in.Arch != "":
		return "pkg:deb/debian/" + purlEscape(in.Name) + "@" + purlEscape(in.Version) + "?arch=" + in.Arch
	}
	return ""
}

// purlEscape percent-encodes a purl component, as the purl specification
// asks: Debian's epochs (1:2.3) and the '+' of versions and of names such
// as libstdc++6.
func purlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Key identifies an input in comparisons: two lists name the same inputs
// when their keys are the same.
func (in Input) Key() string { return in.Kind + " " + in.Name + " " + in.SHA256 }

// Output is one file a build produced.
type Output struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Collect lists the inputs of a target: every file its graph fetches, each
// named from the lock, and every file of the recipe's directory (fsys) it
// reads, with the crates of each Cargo.lock among them. No mirror of the
// command line enters: an input's URI is the recipe's first mirror, the same
// on every machine.
func Collect(in *kllb.Inputs, target string, fsys fs.FS) ([]Input, error) {
	local, err := in.PlanFS(fsys, target)
	if err != nil {
		return nil, err
	}
	graph := *in // the graph's contexts are not looked at: only its fetches
	graph.Contexts = kllb.Contexts{Helper: bk.Scratch(), Recipe: bk.Scratch()}
	rec := &kllb.Fetches{}
	if _, err := graph.Target(target, rec); err != nil {
		return nil, err
	}
	names := lockNames(in.Recipe, in.Lock)
	var inputs []Input
	for _, f := range rec.All {
		i, ok := names[f.SHA256]
		if !ok {
			i = Input{Kind: KindDownload, Name: f.Name}
		}
		i.SHA256 = f.SHA256
		i.URI = kllb.MirrorURL(f.Mirrors[0], f.Path)
		inputs = append(inputs, i)
	}
	for _, p := range local {
		files, err := localInputs(fsys, p)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, files...)
	}
	return Sorted(inputs), nil
}

// Sorted orders inputs by kind, name and digest and drops repeats: a file
// several steps fetch is one input.
func Sorted(inputs []Input) []Input {
	inputs = slices.Clone(inputs)
	slices.SortFunc(inputs, func(a, b Input) int { return strings.Compare(a.Key(), b.Key()) })
	return slices.CompactFunc(inputs, func(a, b Input) bool { return a.Key() == b.Key() })
}

// lockNames maps the sha256 of every file the lock and recipe pin to what
// it is: packages with their versions, kernel sources, Rust toolchains.
func lockNames(r *recipes.Recipe, lock *recipes.Lock) map[string]Input {
	names := map[string]Input{}
	for _, env := range lock.Environments {
		for _, p := range env.Packages {
			suite := p.Suite
			if suite == "" {
				suite = env.Suite
			}
			names[p.SHA256] = Input{Kind: KindDeb, Name: p.Name, Version: p.Version, Arch: p.Architecture, Suite: suite}
		}
	}
	for name, k := range lock.Kernels {
		s := k.Source
		i := Input{Kind: KindKernelSource, Name: name, Version: s.Version, Suite: s.Suite}
		if s.Package != "" {
			i.Name, i.Arch = s.Package, "all" // linux-source-* is architecture-independent
		}
		names[s.SHA256] = i
	}
	for _, prog := range r.Rust {
		if prog.Toolchain == nil || prog.Toolchain.Dist == nil {
			continue
		}
		for file, sha := range prog.Toolchain.Dist.Files {
			names[sha] = Input{Kind: KindRustToolchain, Name: file, Version: prog.Toolchain.Dist.Version}
		}
	}
	return names
}

// localInputs lists a file of the recipe's directory, or each file below a
// directory (a Rust project) with the crates of its Cargo.lock.
func localInputs(fsys fs.FS, p string) ([]Input, error) {
	var inputs []Input
	err := fs.WalkDir(fsys, p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		sum, err := fileSHA256(fsys, name)
		if err != nil {
			return err
		}
		inputs = append(inputs, Input{Kind: KindLocal, Name: name, SHA256: sum, URI: name})
		if path.Base(name) == "Cargo.lock" {
			crates, err := cargoLockCrates(fsys, name)
			if err != nil {
				return err
			}
			inputs = append(inputs, crates...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the inputs of %s: %w", p, err)
	}
	return inputs, nil
}

func fileSHA256(fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
