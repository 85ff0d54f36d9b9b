package recipes

// Kernel is a guest kernel: where its source comes from, the patches, the
// configuration, and the environment it is compiled in.
type Kernel struct {
	// Builder is the environment the kernel is configured and compiled in;
	// it needs make, gcc, flex, bison, bc, libelf-dev, libssl-dev, python3
	// and python3-kconfiglib (for the report), and a cross compiler for
	// another architecture.
	Builder string `yaml:"builder" json:"builder"`
	// Arch is the kernel architecture: x86_64 (default) or arm64 (cross-compiled).
	Arch string `yaml:"arch,omitempty" json:"arch,omitempty" jsonschema:"enum=x86_64,enum=arm64"`
	// ConfigVersion is Kata's config version, the last part of the installed
	// names (vmlinux-<version>-<configVersion>); 1 when empty.
	ConfigVersion string `yaml:"configVersion,omitempty" json:"configVersion,omitempty"`
	// Source is where the kernel source comes from; exactly one kind is set.
	Source KernelSource `yaml:"source" json:"source"`
	// Patches are patch files, or directories of *.patch files in Kata's
	// layout (applied in numeric order), relative to the recipe.
	Patches []string `yaml:"patches,omitempty" json:"patches,omitempty"`
	// Config is how the .config is made.
	Config KernelConfig `yaml:"config" json:"config"`
}

// KernelSource names one kind of kernel source.
type KernelSource struct {
	// Deb takes the source tarball from a Debian package, such as
	// linux-source-6.1, resolved from the builder environment's suite.
	Deb *DebSource `yaml:"deb,omitempty" json:"deb,omitempty"`
	// HTTP is a source tarball at URLs tried in order, pinned by sha256.
	HTTP *HTTPSource `yaml:"http,omitempty" json:"http,omitempty"`
	// KernelOrg is a release of kernel.org, pinned by `kforge lock` from the
	// signed sha256sums.asc of its directory.
	KernelOrg *KernelOrgSource `yaml:"kernelOrg,omitempty" json:"kernelOrg,omitempty"`
	// Local is a source directory or tarball inside the recipe's directory;
	// BuildKit identifies it by content.
	Local string `yaml:"local,omitempty" json:"local,omitempty"`
}

// KernelOrgSource is linux-<version>.tar.xz from kernel.org's layout.
type KernelOrgSource struct {
	// Version is the release, such as 6.1.62.
	Version string `yaml:"version" json:"version"`
	// Mirrors are roots of kernel.org's /pub/linux/kernel layout, tried in
	// order; kernel.org itself when empty.
	Mirrors []string `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
	// Keys are the OpenPGP public keys (files relative to the recipe) that
	// may sign sha256sums.asc: the release keys the recipe trusts.
	Keys []string `yaml:"keys" json:"keys" jsonschema:"minItems=1"`
}

// DebSource is a file inside a Debian package.
type DebSource struct {
	// Package is the Debian package holding the tarball.
	Package string `yaml:"package" json:"package"`
	// Path is the tarball inside the package, e.g. usr/src/linux-source-6.1.tar.xz.
	Path string `yaml:"path" json:"path"`
	// Suite is the suite the package is taken from when it is not the
	// recipe's, such as bookworm-security (which carries the kernel's
	// stable updates, linux-source-6.12 among them).
	Suite string `yaml:"suite,omitempty" json:"suite,omitempty"`
	// Mirrors are the archive roots of that suite, tried in order, such as
	// http://deb.debian.org/debian-security; when empty, those of the suite
	// in debian.suites, or debian.mirrors.
	Mirrors []string `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
}

// SuiteOf is the suite a Debian-packaged source comes from.
func (d DebSource) SuiteOf(r *Recipe) string {
	if d.Suite == "" {
		return r.Debian.Suite
	}
	return d.Suite
}

// Sources are the suites a Debian-packaged source is resolved against:
// the named suite (one of debian.suites, or another on the source's own
// mirrors), or every suite of the recipe when it names none.
func (d DebSource) Sources(r *Recipe) []SuiteSource {
	all := r.Debian.SuiteSources()
	if d.Suite == "" {
		if len(d.Mirrors) > 0 {
			all[0].Mirrors = d.Mirrors
		}
		return all
	}
	for _, s := range all {
		if s.Suite == d.Suite {
			if len(d.Mirrors) > 0 {
				s.Mirrors = d.Mirrors
			}
			return []SuiteSource{s}
		}
	}
	first := all[0]
	return []SuiteSource{{Suite: d.Suite, Mirrors: d.MirrorsOf(r), Components: first.Components, Keyring: first.Keyring}}
}

// MirrorsOf are the archive roots a Debian-packaged source comes from.
func (d DebSource) MirrorsOf(r *Recipe) []string {
	if len(d.Mirrors) == 0 {
		return r.Debian.MirrorsOfSuite(d.SuiteOf(r))
	}
	return d.Mirrors
}

// HTTPSource is a tarball fetched by URL and checked against its sha256.
type HTTPSource struct {
	URLs   []string `yaml:"urls" json:"urls" jsonschema:"minItems=1"`
	SHA256 string   `yaml:"sha256" json:"sha256" jsonschema:"pattern=^[0-9a-f]{64}$"`
}

// KernelConfig is the recipe for the .config: a base, fragments merged on
// it as the kernel's merge_config.sh does, then olddefconfig, then a report
// of every requested option that did not land.
type KernelConfig struct {
	// Base is allnoconfig (as Kata's merge_config.sh -n), alldefconfig,
	// defconfig, tinyconfig, or the path of a whole config file.
	Base string `yaml:"base" json:"base"`
	// Kata selects fragments from a tree in Kata's layout.
	Kata *KataFragments `yaml:"kata,omitempty" json:"kata,omitempty"`
	// Fragments are further fragment files, merged after Kata's, in order.
	Fragments []string `yaml:"fragments,omitempty" json:"fragments,omitempty"`
	// Policy says what a requested option that did not land does: fail
	// (default) or warn.
	Policy string `yaml:"policy,omitempty" json:"policy,omitempty" jsonschema:"enum=fail,enum=warn"`
	// Allow is a file in the format of Kata's whitelist.conf: options that
	// may be missing without failing the build.
	Allow string `yaml:"allow,omitempty" json:"allow,omitempty"`
}

// KataFragments selects fragments the way Kata's build-kernel.sh does.
type KataFragments struct {
	// Tree is the fragments directory (Kata's
	// tools/packaging/kernel/configs/fragments), relative to the recipe.
	Tree string `yaml:"tree" json:"tree"`
	// Confidential adds the confidential-guest fragments.
	Confidential bool `yaml:"confidential,omitempty" json:"confidential,omitempty"`
	// Debug adds debug/*.conf.
	Debug bool `yaml:"debug,omitempty" json:"debug,omitempty"`
	// BuildType adds build-type/<name>/*.conf.
	BuildType string `yaml:"buildType,omitempty" json:"buildType,omitempty"`
}

// ArchOrDefault is the kernel's architecture, x86_64 when unset.
func (k Kernel) ArchOrDefault() string {
	if k.Arch == "" {
		return "x86_64"
	}
	return k.Arch
}

// ConfigVersionOrDefault is the config version, 1 when unset.
func (k Kernel) ConfigVersionOrDefault() string {
	if k.ConfigVersion == "" {
		return "1"
	}
	return k.ConfigVersion
}

// PolicyOrDefault is the dropped-option policy, fail when unset.
func (c KernelConfig) PolicyOrDefault() string {
	if c.Policy == "" {
		return "fail"
	}
	return c.Policy
}
