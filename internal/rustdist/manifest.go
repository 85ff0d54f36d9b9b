package rustdist

import (
	"fmt"
	"sort"
	"strings"
)

// The v2 channel manifest, as rust-lang/rust src/tools/build-manifest
// writes it and rustup src/dist/manifest.rs reads it:
//
//	manifest-version = "2"
//	date = "<date>"
//	[pkg.<pkg>]                      version
//	[pkg.<pkg>.target.<target>]      available, url, hash (of the .tar.gz)
//	[[pkg.rust.target.<host>.components]]  pkg, target
//	[[pkg.rust.target.<host>.extensions]]  pkg, target
//	[renames.<from>]                 to
//	[profiles]                       minimal, default, complete = [pkg, ...]
//
// Packages that are the same for every target (rust-src) have the target
// "*". rustup installs a component by looking for "<pkg>-<target>" or
// "<pkg>" in the package tarball's components file, so a package is named
// after its rust-installer component: clippy-preview, not clippy.

// componentPkg maps a rust-installer component of a tarball for target
// (from the file name; "" for a target-independent tarball) to its
// manifest package and target: rustc → (rustc, target),
// rust-std-<t> → (rust-std, t), rust-src → (rust-src, *).
func componentPkg(comp, target string) (pkg, tgt string) {
	switch {
	case comp == "rust-src":
		return comp, "*"
	case target != "" && strings.HasSuffix(comp, "-"+target) && len(comp) > len(target)+1:
		return strings.TrimSuffix(comp, "-"+target), target
	case strings.HasPrefix(comp, "rust-std-") && len(comp) > len("rust-std-"):
		return "rust-std", strings.TrimPrefix(comp, "rust-std-")
	case target == "":
		return comp, "*"
	}
	return comp, target
}

// fileStem is the name a package's tarball starts with: the manifest name
// without "-preview" (clippy-preview ships as clippy-<version>-<target>).
func fileStem(pkg string) string {
	return strings.TrimSuffix(pkg, "-preview")
}

// pkgFile is the .tar.gz file name of pkg for target.
func pkgFile(pkg, version, target string) string {
	if target == "*" {
		return fileStem(pkg) + "-" + version + ".tar.gz"
	}
	return fileStem(pkg) + "-" + version + "-" + target + ".tar.gz"
}

// requiredComponents are the rust package's components (the rest are
// extensions), as build-manifest lists them; each only where present.
var requiredComponents = []string{"rustc", "rust-std", "cargo", "rust-docs", "rust-mingw"}

// allTargetExtensions are the packages whose every target is an extension
// of each host's rust package; other packages are extensions for their
// own host only, or for every host when target-independent.
var allTargetExtensions = map[string]bool{"rust-std": true, "rustc-dev": true, "rustc-docs": true}

// profiles are build-manifest's, by manifest package name; each is
// written with the packages present.
var profiles = func() map[string][]string {
	minimal := []string{"rustc", "cargo", "rust-std", "rust-mingw"}
	def := append(append([]string{}, minimal...), "rust-docs", "rustfmt-preview", "clippy-preview")
	complete := append(append([]string{}, def...),
		"rls-preview", "rust-analyzer-preview", "rust-src", "llvm-tools-preview",
		"rust-analysis", "miri-preview", "rustc-codegen-cranelift-preview")
	return map[string][]string{"minimal": minimal, "default": def, "complete": complete}
}()

type comp struct{ pkg, target string }

type pkgTarget struct {
	url, hash              string
	rust                   bool // write components and extensions
	components, extensions []comp
}

type channel struct {
	version, date string
	pkgs          map[string]map[string]*pkgTarget
	renames       map[string]string
	profiles      map[string][]string
}

func newChannel(version, date string) *channel {
	return &channel{version: version, date: date, pkgs: map[string]map[string]*pkgTarget{}}
}

func (c *channel) add(pkg, target, url, hash string) {
	if c.pkgs[pkg] == nil {
		c.pkgs[pkg] = map[string]*pkgTarget{}
	}
	c.pkgs[pkg][target] = &pkgTarget{url: url, hash: hash, rust: pkg == "rust"}
}

func (c *channel) has(pkg, target string) bool {
	_, ok := c.pkgs[pkg][target]
	return ok
}

// finish fills in the rust package's components and extensions for each
// host, the renames and the profiles.
func (c *channel) finish(hosts []string) {
	var all []comp
	for pkg, ts := range c.pkgs {
		if pkg == "rust" {
			continue
		}
		for t := range ts {
			all = append(all, comp{pkg, t})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].pkg != all[j].pkg {
			return all[i].pkg < all[j].pkg
		}
		return all[i].target < all[j].target
	})
	for _, host := range hosts {
		t := c.pkgs["rust"][host]
		required := map[comp]bool{}
		for _, pkg := range requiredComponents {
			if cp := (comp{pkg, host}); c.has(pkg, host) {
				t.components = append(t.components, cp)
				required[cp] = true
			}
		}
		for _, cp := range all {
			if !required[cp] && (cp.target == "*" || cp.target == host || allTargetExtensions[cp.pkg]) {
				t.extensions = append(t.extensions, cp)
			}
		}
	}

	c.renames = map[string]string{}
	for pkg := range c.pkgs {
		if stem := fileStem(pkg); stem != pkg {
			c.renames[stem] = pkg
		}
	}

	c.profiles = map[string][]string{}
	for name, pkgs := range profiles {
		list := []string{}
		for _, pkg := range pkgs {
			if c.pkgs[pkg] != nil {
				list = append(list, pkg)
			}
		}
		c.profiles[name] = list
	}
}

// toml writes the manifest: tables in sorted order, each key-value table
// after its parent's keys, like the toml crate's output upstream.
func (c *channel) toml() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "manifest-version = %s\n", tomlString("2"))
	fmt.Fprintf(&b, "date = %s\n", tomlString(c.date))
	for _, pkg := range sortedKeys(c.pkgs) {
		fmt.Fprintf(&b, "\n[pkg.%s]\nversion = %s\n", tomlKey(pkg), tomlString(c.version))
		for _, target := range sortedKeys(c.pkgs[pkg]) {
			t := c.pkgs[pkg][target]
			prefix := "pkg." + tomlKey(pkg) + ".target." + tomlKey(target)
			fmt.Fprintf(&b, "\n[%s]\navailable = true\nurl = %s\nhash = %s\n", prefix, tomlString(t.url), tomlString(t.hash))
			if !t.rust {
				continue
			}
			if len(t.components) == 0 {
				b.WriteString("components = []\n")
			}
			if len(t.extensions) == 0 {
				b.WriteString("extensions = []\n")
			}
			for _, cp := range t.components {
				fmt.Fprintf(&b, "\n[[%s.components]]\npkg = %s\ntarget = %s\n", prefix, tomlString(cp.pkg), tomlString(cp.target))
			}
			for _, cp := range t.extensions {
				fmt.Fprintf(&b, "\n[[%s.extensions]]\npkg = %s\ntarget = %s\n", prefix, tomlString(cp.pkg), tomlString(cp.target))
			}
		}
	}
	if len(c.renames) == 0 {
		b.WriteString("\n[renames]\n")
	}
	for _, from := range sortedKeys(c.renames) {
		fmt.Fprintf(&b, "\n[renames.%s]\nto = %s\n", tomlKey(from), tomlString(c.renames[from]))
	}
	b.WriteString("\n[profiles]\n")
	for _, name := range sortedKeys(c.profiles) {
		quoted := make([]string, len(c.profiles[name]))
		for i, pkg := range c.profiles[name] {
			quoted[i] = tomlString(pkg)
		}
		fmt.Fprintf(&b, "%s = [%s]\n", tomlKey(name), strings.Join(quoted, ", "))
	}
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tomlKey writes k bare when TOML allows (A-Za-z0-9_-), else quoted: "*"
// and triples with a dot such as thumbv8m.main-none-eabi need quotes.
func tomlKey(k string) string {
	if k == "" {
		return tomlString(k)
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return tomlString(k)
		}
	}
	return k
}

// tomlString is a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
