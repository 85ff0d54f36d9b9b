// Package recipes holds the kforge recipe format: the Go types of a recipe and
// its lock, parsing with positioned errors, validation, and the JSON Schema that
// editors use to complete recipes.
package recipes

import (
	"fmt"
	"slices"
)

// APIVersion is the only recipe format version this kforge reads.
const APIVersion = "kforge/v1"

// Recipe is a parsed recipe file. Field order follows the order in which a
// reader meets the sections of a recipe.
type Recipe struct {
	// APIVersion names the recipe format; it must be "kforge/v1".
	APIVersion string `yaml:"apiVersion" json:"apiVersion" jsonschema:"enum=kforge/v1"`
	// Name is a short name for what this recipe builds.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9][a-z0-9._-]*$"`
	// SourceDateEpoch is the timestamp every output is stamped with.
	SourceDateEpoch int64 `yaml:"sourceDateEpoch,omitempty" json:"sourceDateEpoch,omitempty" jsonschema:"minimum=0"`
	// Debian holds the defaults shared by every package set.
	Debian Debian `yaml:"debian" json:"debian"`
	// Environments are build environments made from pinned Debian package sets;
	// each environment is also a build target of the same name.
	Environments map[string]Environment `yaml:"environments" json:"environments"`
	// Kernels are guest kernels; each is a build target of its own name.
	Kernels map[string]Kernel `yaml:"kernels,omitempty" json:"kernels,omitempty"`
	// Rust are Rust programs built offline; each is a build target of its own name.
	Rust map[string]RustProgram `yaml:"rust,omitempty" json:"rust,omitempty"`
	// Rootfs are Kata guest root filesystems; each is a build target.
	Rootfs map[string]Rootfs `yaml:"rootfs,omitempty" json:"rootfs,omitempty"`
	// Images are Kata disk images (kata-containers.img); each is a target.
	Images map[string]Image `yaml:"images,omitempty" json:"images,omitempty"`
	// Initrds are Kata initrds (kata-containers-initrd.img); each is a target.
	Initrds map[string]Initrd `yaml:"initrds,omitempty" json:"initrds,omitempty"`
	// Containers are OCI container images; each is a target.
	Containers map[string]Container `yaml:"containers,omitempty" json:"containers,omitempty"`
	// Tests are boot tests, run by `kforge test`.
	Tests map[string]Test `yaml:"tests,omitempty" json:"tests,omitempty"`

	// Path is the file the recipe was read from (not part of the format).
	Path string `yaml:"-" json:"-"`
	// loc places errors found after parsing at the line of their field.
	loc *locator
}

// Errorf is an error at the recipe field addressed by path ("$.a.b[0]").
func (r *Recipe) Errorf(path, format string, args ...any) error {
	if r.loc == nil {
		return &Error{File: r.Path, Msg: fmt.Sprintf(format, args...)}
	}
	return r.loc.errorf(path, format, args...)
}

// Debian describes where Debian packages come from.
type Debian struct {
	// Mirrors are Debian archive roots (the directory holding dists/ and pool/),
	// tried in order.
	Mirrors []string `yaml:"mirrors" json:"mirrors" jsonschema:"minItems=1"`
	// Suite is a Debian suite or codename such as bookworm.
	Suite string `yaml:"suite" json:"suite"`
	// Components are archive components; main when empty.
	Components []string `yaml:"components,omitempty" json:"components,omitempty"`
	// Keyring is an OpenPGP keyring (binary or armored) that must have signed
	// the suite's InRelease, relative to the recipe; Debian's archive keyring
	// when empty.
	Keyring string `yaml:"keyring,omitempty" json:"keyring,omitempty"`
	// Suites are further suites every package set resolves against, as
	// apt's sources list has them beside the first: bookworm-updates,
	// bookworm-security (at the debian-security root), bookworm-backports.
	// The highest version across the suites wins, in Debian version order;
	// a suite whose Release says NotAutomatic (backports) gives a package
	// only when it is named as NAME/SUITE, when no other suite has it, or
	// when a dependency needs its version.
	Suites []DebianSuite `yaml:"suites,omitempty" json:"suites,omitempty"`
}

// DebianSuite is one further suite of the recipe's Debian sources.
type DebianSuite struct {
	// Suite is the suite or codename, such as bookworm-security.
	Suite string `yaml:"suite" json:"suite"`
	// Mirrors are the suite's archive roots, tried in order; debian.mirrors
	// when empty.
	Mirrors []string `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
	// Components are the suite's components; debian.components when empty.
	Components []string `yaml:"components,omitempty" json:"components,omitempty"`
	// Keyring must have signed the suite's InRelease, relative to the
	// recipe; debian.keyring when empty.
	Keyring string `yaml:"keyring,omitempty" json:"keyring,omitempty"`
}

// SuiteSource is a suite with every default filled in: what the lock reads.
type SuiteSource struct {
	Suite      string
	Mirrors    []string
	Components []string
	Keyring    string // as written in the recipe; empty for Debian's keyring
}

// SuiteSources lists the recipe's suites, the first (debian.suite) first,
// with the defaults of debian: applied.
func (d Debian) SuiteSources() []SuiteSource {
	out := []SuiteSource{{Suite: d.Suite, Mirrors: d.Mirrors, Components: d.ComponentsOrDefault(), Keyring: d.Keyring}}
	for _, s := range d.Suites {
		src := SuiteSource{Suite: s.Suite, Mirrors: s.Mirrors, Components: s.Components, Keyring: s.Keyring}
		if len(src.Mirrors) == 0 {
			src.Mirrors = d.Mirrors
		}
		if len(src.Components) == 0 {
			src.Components = d.ComponentsOrDefault()
		}
		if src.Keyring == "" {
			src.Keyring = d.Keyring
		}
		out = append(out, src)
	}
	return out
}

// LockedSuiteNames lists every suite a lock of the recipe reads: the
// recipe's suites, then the suites kernel sources name on their own.
func (r *Recipe) LockedSuiteNames() []string {
	var out []string
	for _, s := range r.Debian.SuiteSources() {
		out = append(out, s.Suite)
	}
	for _, name := range SortedKeys(r.Kernels) {
		if d := r.Kernels[name].Source.Deb; d != nil && d.Suite != "" && !slices.Contains(out, d.Suite) {
			out = append(out, d.Suite)
		}
	}
	return out
}

// MirrorsOfSuite are the archive roots of a suite of the recipe: a
// package locked from it is fetched there. The empty suite (a lock written
// before packages recorded theirs) is the first suite.
func (d Debian) MirrorsOfSuite(suite string) []string {
	for _, s := range d.SuiteSources()[1:] {
		if s.Suite == suite {
			return s.Mirrors
		}
	}
	return d.Mirrors
}

// Environment is a package set: the packages wanted, closed over their
// dependencies plus Debian's required and essential set when locked.
type Environment struct {
	// Architecture is the Debian architecture of the package set; amd64 when empty.
	Architecture string `yaml:"architecture,omitempty" json:"architecture,omitempty" jsonschema:"enum=amd64,enum=arm64"`
	// Packages are the Debian package names wanted in the environment; as
	// in apt, NAME/SUITE takes the package from that suite of the recipe
	// (e2fsprogs/bookworm-backports).
	Packages []string `yaml:"packages" json:"packages" jsonschema:"minItems=1"`
	// Env sets environment variables in every step that runs in the environment.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// DefaultKeyring is where Debian keeps the archive keyring on its own systems.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// ArchitectureOrDefault is the environment's architecture, amd64 when unset.
func (e Environment) ArchitectureOrDefault() string {
	if e.Architecture == "" {
		return "amd64"
	}
	return e.Architecture
}

// ComponentsOrDefault is the configured component list, main when unset.
func (d Debian) ComponentsOrDefault() []string {
	if len(d.Components) == 0 {
		return []string{"main"}
	}
	return d.Components
}
