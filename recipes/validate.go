package recipes

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

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
		if err := validateEnvironment(name, r.Environments[name], suiteNames(r.Debian), loc); err != nil {
			return err
		}
	}
	if err := validateTargetNames(r, loc); err != nil {
		return err
	}
	for _, name := range SortedKeys(r.Rust) {
		if err := validateRust(r, name, r.Rust[name], loc); err != nil {
			return err
		}
	}
	for _, name := range SortedKeys(r.Kernels) {
		if err := validateKernel(r, name, r.Kernels[name], loc); err != nil {
			return err
		}
	}
	if err := validateGuest(r, loc); err != nil {
		return err
	}
	if err := validateContainers(r, loc); err != nil {
		return err
	}
	return validateTests(r, loc)
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
		for i, m := range src.Deb.Mirrors {
			if u, err := url.Parse(m); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return loc.errorf(fmt.Sprintf("%s.source.deb.mirrors[%d]", path, i), "%q is not an http:// or https:// URL", m)
			}
		}
		if len(src.Deb.Mirrors) > 0 && src.Deb.Suite == "" {
			return loc.errorf(path+".source.deb.suite", "mirrors of their own need the suite they serve, such as bookworm-security")
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

var (
	rustBinName     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	rustVersion     = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	rustDistFile    = regexp.MustCompile(`^(rust|rust-std|rustc|cargo)-[0-9][0-9.]*-[a-z0-9_-]+\.tar\.(gz|xz)$`)
	rustAgentLibcs  = []string{"musl", "gnu"}
	cargoPackageRef = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func validateRust(r *Recipe, name string, p RustProgram, loc *locator) error {
	path := "$.rust." + name
	if !targetName.MatchString(name) {
		return loc.errorf(path, "rust program name %q must be lower case letters, digits, '.', '_' or '-'", name)
	}
	if _, ok := r.Environments[p.Builder]; !ok {
		return loc.errorf(path+".builder", "builder %q is not an environment of this recipe (have: %v)", p.Builder, SortedKeys(r.Environments))
	}
	switch {
	case (p.Source == "") == (p.SourceArchive == nil):
		return loc.errorf(path+".source", "name exactly one of source (a directory inside the recipe's directory) or sourceArchive (a tarball by sha256)")
	case p.Source != "" && !isLocalPath(p.Source):
		return loc.errorf(path+".source", "source %q must be a directory inside the recipe's directory", p.Source)
	case p.SourceArchive != nil:
		if err := validateArchive(path+".sourceArchive", p.SourceArchive, loc); err != nil {
			return err
		}
	}
	if len(p.Templates) > 0 && p.SourceArchive == nil {
		return loc.errorf(path+".templates", "templates write into the unpacked sourceArchive; a source directory of the recipe is read-only in the build: generate those files in it instead")
	}
	for i, tp := range p.Templates {
		at := fmt.Sprintf("%s.templates[%d]", path, i)
		if !isLocalPath(tp.From) || !isLocalPath(tp.To) {
			return loc.errorf(at, "from and to must be relative paths inside the source")
		}
		if len(tp.Replace) == 0 {
			return loc.errorf(at+".replace", "name the placeholders to replace")
		}
	}
	if p.Package != "" && !cargoPackageRef.MatchString(p.Package) {
		return loc.errorf(path+".package", "%q is not a cargo package name", p.Package)
	}
	c := p.Crates
	kinds := 0
	for _, set := range []bool{c.Directory != "", c.Vendor != "", c.VendorArchive != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		return loc.errorf(path+".crates", "crates needs exactly one of directory (a registry in the builder environment), vendor (a tarball in the recipe's directory) or vendorArchive (a tarball by sha256)")
	case c.Directory != "" && !filepath.IsAbs(c.Directory):
		return loc.errorf(path+".crates.directory", "directory %q must be an absolute path inside the builder environment", c.Directory)
	case c.Vendor != "" && !isLocalPath(c.Vendor):
		return loc.errorf(path+".crates.vendor", "vendor tarball %q leaves the recipe's directory", c.Vendor)
	case c.VendorArchive != nil:
		if err := validateArchive(path+".crates.vendorArchive", c.VendorArchive, loc); err != nil {
			return err
		}
	}
	if t := p.Toolchain; t != nil {
		if err := validateRustDist(path+".toolchain.dist", t.Dist, loc); err != nil {
			return err
		}
	}
	if a := p.KataAgent; a != nil {
		if a.Libc != "" && !slices.Contains(rustAgentLibcs, a.Libc) {
			return loc.errorf(path+".kataAgent.libc", "libc %q is not musl or gnu", a.Libc)
		}
		if a.SeccompLibDir != "" && !filepath.IsAbs(a.SeccompLibDir) {
			return loc.errorf(path+".kataAgent.seccompLibDir", "%q must be an absolute path inside the builder environment", a.SeccompLibDir)
		}
	}
	if len(p.BinariesOrDefault()) == 0 {
		return loc.errorf(path+".binaries", "name the binaries to install")
	}
	for i, b := range p.Binaries {
		if !rustBinName.MatchString(b) {
			return loc.errorf(fmt.Sprintf("%s.binaries[%d]", path, i), "%q is not a cargo binary name", b)
		}
	}
	return nil
}

func validateRustDist(path string, d *RustDist, loc *locator) error {
	if d == nil {
		return loc.errorf(path, "toolchain needs dist: {version, mirrors, files}")
	}
	if !rustVersion.MatchString(d.Version) {
		return loc.errorf(path+".version", "%q is not a Rust release such as 1.92.0", d.Version)
	}
	if err := validateURLs(path+".mirrors", d.Mirrors, loc); err != nil {
		return err
	}
	if len(d.Files) == 0 {
		return loc.errorf(path+".files", "name the dist tarballs with their sha256, e.g. rust-%s-x86_64-unknown-linux-gnu.tar.xz: <sha256>", d.Version)
	}
	for _, f := range SortedKeys(d.Files) {
		if !rustDistFile.MatchString(f) || !strings.Contains(f, "-"+d.Version+"-") {
			return loc.errorf(path+".files.'"+f+"'", "%q is not a dist tarball of Rust %s (rust-%s-<triple>.tar.xz, rust-std-%s-<target>.tar.xz)", f, d.Version, d.Version, d.Version)
		}
		if !sha256Hex.MatchString(d.Files[f]) {
			return loc.errorf(path+".files.'"+f+"'", "sha256 of %s must be 64 lower-case hex digits", f)
		}
	}
	return nil
}

func validateArchive(path string, a *RemoteArchive, loc *locator) error {
	if err := validateURLs(path+".urls", a.URLs, loc); err != nil {
		return err
	}
	if !sha256Hex.MatchString(a.SHA256) {
		return loc.errorf(path+".sha256", "sha256 must be 64 lower-case hex digits")
	}
	if a.Dir != "" && !isLocalPath(a.Dir) {
		return loc.errorf(path+".dir", "dir %q must be a relative path inside the tarball", a.Dir)
	}
	return nil
}

func validateURLs(path string, urls []string, loc *locator) error {
	if len(urls) == 0 {
		return loc.errorf(path, "name at least one http:// or https:// URL")
	}
	for i, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return loc.errorf(fmt.Sprintf("%s[%d]", path, i), "%q is not an http:// or https:// URL", u)
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
	seen := map[string]bool{d.Suite: true}
	for i, s := range d.Suites {
		at := fmt.Sprintf("$.debian.suites[%d]", i)
		if s.Suite == "" {
			return loc.errorf(at+".suite", "a suite of debian.suites has no name: give one such as bookworm-security")
		}
		if seen[s.Suite] {
			return loc.errorf(at+".suite", "suite %q is listed twice (debian.suite is %q)", s.Suite, d.Suite)
		}
		seen[s.Suite] = true
		if len(s.Mirrors) > 0 { // debian.mirrors when empty
			if err := validateURLs(at+".mirrors", s.Mirrors, loc); err != nil {
				return err
			}
		}
		if s.Keyring != "" && !isLocalPath(s.Keyring) && !filepath.IsAbs(s.Keyring) {
			return loc.errorf(at+".keyring", "keyring %q leaves the recipe's directory", s.Keyring)
		}
	}
	return nil
}

// suiteNames lists the recipe's suites, the first first.
func suiteNames(d Debian) []string {
	out := []string{d.Suite}
	for _, s := range d.Suites {
		out = append(out, s.Suite)
	}
	return out
}

func validateEnvironment(name string, e Environment, suites []string, loc *locator) error {
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
		pkgName, suite, pinned := strings.Cut(p, "/")
		if !debianPackageName.MatchString(pkgName) {
			return loc.errorf(at, "%q is not a Debian package name", p)
		}
		if pinned && !slices.Contains(suites, suite) {
			msg := fmt.Sprintf("%q names suite %q, which the recipe does not have (its suites: %s)", p, suite, strings.Join(suites, ", "))
			if len(suites) == 1 {
				msg += "; add it under debian.suites"
			}
			return loc.errorf(at, "%s", msg)
		}
		if seen[pkgName] {
			return loc.errorf(at, "package %q is listed twice", pkgName)
		}
		seen[pkgName] = true
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
