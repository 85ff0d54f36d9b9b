package recipes

import "slices"

// RustProgram is a Rust program (the kata-agent among them) built offline:
// the toolchain is a pinned input (Debian's rustc and cargo in the builder
// environment, or upstream dist tarballs by sha256), the crates come from a
// pinned source wired in through cargo's source replacement, and cargo runs
// --offline --locked with the network off.
type RustProgram struct {
	// Builder is the environment the program is built in: the toolchain
	// (unless toolchain.dist gives one), a C compiler and linker, and
	// librust-*-dev packages when crates come from their registry.
	Builder string `yaml:"builder" json:"builder"`
	// Toolchain replaces the builder's rustc and cargo with upstream Rust
	// dist tarballs; empty uses the builder's own (Debian's rustc-web and
	// cargo-web).
	Toolchain *RustToolchain `yaml:"toolchain,omitempty" json:"toolchain,omitempty"`
	// Source is the cargo project (a directory with Cargo.toml and
	// Cargo.lock) inside the recipe's directory.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	// SourceArchive is a source tarball fetched by sha256 (such as a
	// release tarball), instead of Source.
	SourceArchive *RemoteArchive `yaml:"sourceArchive,omitempty" json:"sourceArchive,omitempty"`
	// Templates are files the project's Makefile would generate before
	// cargo runs (Kata's agent: src/agent/src/version.rs from version.rs.in),
	// paths relative to the source.
	Templates []RustTemplate `yaml:"templates,omitempty" json:"templates,omitempty"`
	// Package is the workspace member to build (cargo -p); the whole
	// project when empty.
	Package string `yaml:"package,omitempty" json:"package,omitempty"`
	// Crates is where every dependency comes from; exactly one kind is set.
	Crates RustCrates `yaml:"crates" json:"crates"`
	// Target is the Rust target triple; x86_64-unknown-linux-gnu when empty,
	// or the one kataAgent.libc implies.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Static links the C library in (crt-static), for a binary that runs
	// with nothing beside it, such as an initrd's /init.
	Static bool `yaml:"static,omitempty" json:"static,omitempty"`
	// Features are cargo features to enable.
	Features []string `yaml:"features,omitempty" json:"features,omitempty"`
	// Binaries are the binaries to install (cargo's bin names), in /usr/bin
	// of the output; [kata-agent] for a Kata agent when empty.
	Binaries []string `yaml:"binaries,omitempty" json:"binaries,omitempty"`
	// KataAgent builds the program with the options of Kata's agent
	// Makefile and installs it with Kata's systemd units.
	KataAgent *KataAgent `yaml:"kataAgent,omitempty" json:"kataAgent,omitempty"`
}

// RustTemplate writes To from From with every key of Replace (a
// placeholder such as @AGENT_VERSION@) replaced by its value.
type RustTemplate struct {
	From    string            `yaml:"from" json:"from"`
	To      string            `yaml:"to" json:"to"`
	Replace map[string]string `yaml:"replace" json:"replace"`
}

// RustToolchain is a pinned Rust toolchain.
type RustToolchain struct {
	// Dist is a toolchain from upstream dist tarballs.
	Dist *RustDist `yaml:"dist" json:"dist"`
}

// RustDist names upstream Rust dist tarballs, each installed with its own
// install.sh into /opt/rust with the network off.
type RustDist struct {
	// Version is the Rust release, such as 1.92.0.
	Version string `yaml:"version" json:"version"`
	// Mirrors are roots of the dist layout (https://static.rust-lang.org/dist
	// or a mirror of it), tried in order.
	Mirrors []string `yaml:"mirrors" json:"mirrors" jsonschema:"minItems=1"`
	// Files maps each tarball's name to its sha256: the combined
	// rust-<version>-<host>.tar.xz (or .tar.gz), and rust-std-<version>-<target>
	// for further targets such as x86_64-unknown-linux-musl.
	Files map[string]string `yaml:"files" json:"files" jsonschema:"minProperties=1"`
}

// RemoteArchive is a tarball fetched by sha256 from URLs tried in order.
type RemoteArchive struct {
	URLs   []string `yaml:"urls" json:"urls" jsonschema:"minItems=1"`
	SHA256 string   `yaml:"sha256" json:"sha256" jsonschema:"pattern=^[0-9a-f]{64}$"`
	// Dir is the directory inside the tarball that is meant (a release
	// tarball's top directory, say); the tarball's root when empty.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
}

// RustCrates names the pinned crate source.
type RustCrates struct {
	// Directory is a directory registry inside the builder environment, such
	// as /usr/share/cargo/registry where Debian's librust-*-dev install.
	Directory string `yaml:"directory,omitempty" json:"directory,omitempty"`
	// Vendor is a tarball of `cargo vendor` output inside the recipe's
	// directory.
	Vendor string `yaml:"vendor,omitempty" json:"vendor,omitempty"`
	// VendorArchive is a tarball of `cargo vendor` output fetched by sha256
	// (such as the vendor tarball Kata releases publish); dir names the
	// vendor directory inside it.
	VendorArchive *RemoteArchive `yaml:"vendorArchive,omitempty" json:"vendorArchive,omitempty"`
}

// KataAgent holds the build options of Kata's agent Makefile.
type KataAgent struct {
	// Libc is musl (Kata's default) or gnu; it picks the target triple.
	// The binary is static either way.
	Libc string `yaml:"libc,omitempty" json:"libc,omitempty" jsonschema:"enum=musl,enum=gnu"`
	// Seccomp enables the agent's seccomp feature, with libseccomp linked
	// statically from the builder environment (libseccomp-dev).
	Seccomp bool `yaml:"seccomp,omitempty" json:"seccomp,omitempty"`
	// SeccompLibDir is the directory holding libseccomp.a for the target;
	// /usr/lib/x86_64-linux-gnu (Debian's) when empty.
	SeccompLibDir string `yaml:"seccompLibDir,omitempty" json:"seccompLibDir,omitempty"`
	// Init says the agent is the guest's init (Kata's AGENT_INIT=yes): the
	// systemd units are then left out.
	Init bool `yaml:"init,omitempty" json:"init,omitempty"`
}

// LibcOrDefault is the agent's C library, musl when unset as in Kata.
func (k KataAgent) LibcOrDefault() string {
	if k.Libc == "" {
		return "musl"
	}
	return k.Libc
}

// SeccompLibDirOrDefault is where libseccomp.a is looked for.
func (k KataAgent) SeccompLibDirOrDefault() string {
	if k.SeccompLibDir == "" {
		return "/usr/lib/x86_64-linux-gnu"
	}
	return k.SeccompLibDir
}

// TargetOrDefault is the Rust target triple.
func (p RustProgram) TargetOrDefault() string {
	switch {
	case p.Target != "":
		return p.Target
	case p.KataAgent != nil:
		return "x86_64-unknown-linux-" + p.KataAgent.LibcOrDefault()
	}
	return "x86_64-unknown-linux-gnu"
}

// BinariesOrDefault are the binaries installed.
func (p RustProgram) BinariesOrDefault() []string {
	if len(p.Binaries) == 0 && p.KataAgent != nil {
		return []string{"kata-agent"}
	}
	return p.Binaries
}

// StaticOrDefault says whether the C library is linked in: always for a
// Kata agent, which runs in a guest with nothing beside it.
func (p RustProgram) StaticOrDefault() bool {
	return p.Static || p.KataAgent != nil
}

// FeaturesOrDefault are the cargo features, seccomp added for an agent
// built with it.
func (p RustProgram) FeaturesOrDefault() []string {
	f := append([]string(nil), p.Features...)
	if p.KataAgent != nil && p.KataAgent.Seccomp && !slices.Contains(f, "seccomp") {
		f = append(f, "seccomp")
	}
	return f
}
