package recipes

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/kforge/kforge/internal/suggest"
)

var (
	// Debian policy 5.6.1: lower case letters, digits, + - and ., at least two
	// characters, starting with an alphanumeric.
	debianPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	targetName        = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	debianArches      = []string{"amd64", "arm64"}
)

func validate(r *Recipe, loc *locator) error {
	if r.APIVersion != APIVersion {
		return loc.errorf("$.apiVersion", "apiVersion is %q; this kforge reads %q", r.APIVersion, APIVersion)
	}
	if !targetName.MatchString(r.Name) {
		return loc.errorf("$.name", "name %q must be lower case letters, digits, '.', '_' or '-'", r.Name)
	}
	if r.SourceDateEpoch < 0 {
		return loc.errorf("$.sourceDateEpoch", "sourceDateEpoch must not be negative")
	}
	if err := validateDebian(r.Debian, loc); err != nil {
		return err
	}
	if len(r.Environments) == 0 {
		return loc.errorf("$.environments", "the recipe has no environments: add one under environments:")
	}
	for _, name := range SortedKeys(r.Environments) {
		if err := validateEnvironment(name, r.Environments[name], loc); err != nil {
			return err
		}
	}
	for _, name := range SortedKeys(r.Rust) {
		_, env := r.Environments[name]
		_, kernel := r.Kernels[name]
		if env || kernel {
			return loc.errorf("$.rust."+name, "rust program %q has the name of another target: target names must be unique", name)
		}
		if err := validateRust(r, name, r.Rust[name], loc); err != nil {
			return err
		}
	}
	for _, name := range SortedKeys(r.Kernels) {
		if _, clash := r.Environments[name]; clash {
			return loc.errorf("$.kernels."+name, "kernel %q has the name of an environment: target names must be unique", name)
		}
		if err := validateKernel(r, name, r.Kernels[name], loc); err != nil {
			return err
		}
	}
	return nil
}

var (
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	kernelVersion = regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`)
	kernelBases   = []string{"allnoconfig", "alldefconfig", "defconfig", "tinyconfig"}
)

func validateKernel(r *Recipe, name string, k Kernel, loc *locator) error {
	path := "$.kernels." + name
	if !targetName.MatchString(name) {
		return loc.errorf(path, "kernel name %q must be lower case letters, digits, '.', '_' or '-'", name)
	}
	if _, ok := r.Environments[k.Builder]; !ok {
		return loc.errorf(path+".builder", "builder %q is not an environment of this recipe (have: %v)", k.Builder, SortedKeys(r.Environments))
	}
	if k.Arch != "" && k.Arch != "x86_64" && k.Arch != "arm64" {
		return loc.errorf(path+".arch", "arch %q is not x86_64 or arm64", k.Arch)
	}
	src := k.Source
	kinds := 0
	for _, set := range []bool{src.Deb != nil, src.HTTP != nil, src.KernelOrg != nil, src.Local != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		return loc.errorf(path+".source", "kernel %q needs exactly one source kind: deb, http, kernelOrg or local", name)
	case src.Local != "":
		if !isLocalPath(src.Local) {
			return loc.errorf(path+".source.local", "source %q leaves the recipe's directory: it must be inside it", src.Local)
		}
	case src.KernelOrg != nil:
		ko := src.KernelOrg
		if !kernelVersion.MatchString(ko.Version) {
			return loc.errorf(path+".source.kernelOrg.version", "%q is not a kernel version such as 6.1 or 6.1.62", ko.Version)
		}
		if len(ko.Keys) == 0 {
			return loc.errorf(path+".source.kernelOrg.keys", "kernelOrg needs the release keys that may sign sha256sums.asc")
		}
		for i, k := range ko.Keys {
			if !isLocalPath(k) {
				return loc.errorf(fmt.Sprintf("%s.source.kernelOrg.keys[%d]", path, i), "key %q leaves the recipe's directory", k)
			}
		}
		for i, m := range ko.Mirrors {
			if u, err := url.Parse(m); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return loc.errorf(fmt.Sprintf("%s.source.kernelOrg.mirrors[%d]", path, i), "%q is not an http:// or https:// URL", m)
			}
		}
	case src.Deb != nil:
		if !debianPackageName.MatchString(src.Deb.Package) {
			return loc.errorf(path+".source.deb.package", "%q is not a Debian package name", src.Deb.Package)
		}
		if !isLocalPath(src.Deb.Path) {
			return loc.errorf(path+".source.deb.path", "path %q must be relative to the package root, without ..", src.Deb.Path)
		}
	case src.HTTP != nil:
		if len(src.HTTP.URLs) == 0 {
			return loc.errorf(path+".source.http.urls", "source.http needs at least one URL")
		}
		for i, u := range src.HTTP.URLs {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
				return loc.errorf(fmt.Sprintf("%s.source.http.urls[%d]", path, i), "%q is not an http:// or https:// URL", u)
			}
		}
		if !sha256Hex.MatchString(src.HTTP.SHA256) {
			return loc.errorf(path+".source.http.sha256", "sha256 must be 64 lower-case hex digits")
		}
	}
	for i, p := range k.Patches {
		if !isLocalPath(p) {
			return loc.errorf(fmt.Sprintf("%s.patches[%d]", path, i), "patch path %q leaves the recipe's directory: patches must be inside it", p)
		}
	}
	c := k.Config
	if !slices.Contains(kernelBases, c.Base) && !isLocalPath(c.Base) {
		return loc.errorf(path+".config.base", "base %q is not one of %v nor a config file inside the recipe's directory", c.Base, kernelBases)
	}
	if c.Kata != nil && !isLocalPath(c.Kata.Tree) {
		return loc.errorf(path+".config.kata.tree", "fragment tree %q leaves the recipe's directory: it must be inside it", c.Kata.Tree)
	}
	for i, f := range c.Fragments {
		if !isLocalPath(f) {
			return loc.errorf(fmt.Sprintf("%s.config.fragments[%d]", path, i), "fragment path %q leaves the recipe's directory: fragments must be inside it", f)
		}
	}
	if c.Policy != "" && c.Policy != "fail" && c.Policy != "warn" {
		return loc.errorf(path+".config.policy", "policy %q is not fail or warn", c.Policy)
	}
	if c.Allow != "" && !isLocalPath(c.Allow) {
		return loc.errorf(path+".config.allow", "allow-list %q leaves the recipe's directory", c.Allow)
	}
	return nil
}

var rustBinName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func validateRust(r *Recipe, name string, p RustProgram, loc *locator) error {
	path := "$.rust." + name
	if !targetName.MatchString(name) {
		return loc.errorf(path, "rust program name %q must be lower case letters, digits, '.', '_' or '-'", name)
	}
	if _, ok := r.Environments[p.Builder]; !ok {
		return loc.errorf(path+".builder", "builder %q is not an environment of this recipe (have: %v)", p.Builder, SortedKeys(r.Environments))
	}
	if !isLocalPath(p.Source) {
		return loc.errorf(path+".source", "source %q must be a directory inside the recipe's directory", p.Source)
	}
	switch c := p.Crates; {
	case (c.Directory == "") == (c.Vendor == ""):
		return loc.errorf(path+".crates", "crates needs exactly one of directory (a registry in the builder environment) or vendor (a tarball)")
	case c.Directory != "" && !filepath.IsAbs(c.Directory):
		return loc.errorf(path+".crates.directory", "directory %q must be an absolute path inside the builder environment", c.Directory)
	case c.Vendor != "" && !isLocalPath(c.Vendor):
		return loc.errorf(path+".crates.vendor", "vendor tarball %q leaves the recipe's directory", c.Vendor)
	}
	if len(p.Binaries) == 0 {
		return loc.errorf(path+".binaries", "name the binaries to install")
	}
	for i, b := range p.Binaries {
		if !rustBinName.MatchString(b) {
			return loc.errorf(fmt.Sprintf("%s.binaries[%d]", path, i), "%q is not a cargo binary name", b)
		}
	}
	return nil
}

// isLocalPath accepts a relative path that stays below its base directory.
func isLocalPath(p string) bool {
	return p != "" && filepath.IsLocal(p)
}

func validateDebian(d Debian, loc *locator) error {
	if len(d.Mirrors) == 0 {
		return loc.errorf("$.debian.mirrors", "debian.mirrors is empty: name at least one Debian archive, e.g. http://deb.debian.org/debian")
	}
	for i, m := range d.Mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return loc.errorf(fmt.Sprintf("$.debian.mirrors[%d]", i), "mirror %q is not an http:// or https:// URL", m)
		}
	}
	if d.Suite == "" {
		return loc.errorf("$.debian.suite", "debian.suite is missing: name a suite such as bookworm")
	}
	return nil
}

func validateEnvironment(name string, e Environment, loc *locator) error {
	path := "$.environments." + name
	if !targetName.MatchString(name) {
		return loc.errorf(path, "environment name %q must be lower case letters, digits, '.', '_' or '-'", name)
	}
	if e.Architecture != "" && !slices.Contains(debianArches, e.Architecture) {
		return loc.errorf(path+".architecture", "architecture %q is not one of %v", e.Architecture, debianArches)
	}
	if len(e.Packages) == 0 {
		return loc.errorf(path+".packages", "environment %q lists no packages", name)
	}
	seen := map[string]bool{}
	for i, p := range e.Packages {
		at := fmt.Sprintf("%s.packages[%d]", path, i)
		if !debianPackageName.MatchString(p) {
			return loc.errorf(at, "%q is not a Debian package name", p)
		}
		if seen[p] {
			return loc.errorf(at, "package %q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// closest names the most likely intended spelling of word, or "".
func closest(word string, candidates []string) string {
	if s := suggest.Closest(word, candidates, 1); len(s) > 0 {
		return s[0]
	}
	return ""
}

// SortedKeys lists a map's keys in order: recipes are read and their
// sections visited in the same order every time.
func SortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
