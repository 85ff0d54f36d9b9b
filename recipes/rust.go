package recipes

// RustProgram is a Rust program (the kata-agent among them) built offline:
// the toolchain comes from the builder environment (Debian's rustc and
// cargo, a pinned package set), the crates from a pinned source wired in
// through cargo's source replacement, and cargo runs --offline --locked with
// the network off.
type RustProgram struct {
	// Builder is the environment with the toolchain (rustc, cargo, and
	// librust-*-dev packages when crates come from their registry).
	Builder string `yaml:"builder" json:"builder"`
	// Source is the cargo project (a directory with Cargo.toml and
	// Cargo.lock) inside the recipe's directory.
	Source string `yaml:"source" json:"source"`
	// Crates is where every dependency comes from; exactly one kind is set.
	Crates RustCrates `yaml:"crates" json:"crates"`
	// Target is the Rust target triple; x86_64-unknown-linux-gnu when empty.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Static links the C library in (crt-static), for a binary that runs
	// with nothing beside it, such as an initrd's /init.
	Static bool `yaml:"static,omitempty" json:"static,omitempty"`
	// Features are cargo features to enable.
	Features []string `yaml:"features,omitempty" json:"features,omitempty"`
	// Binaries are the binaries to install (cargo's bin names), in /usr/bin
	// of the output.
	Binaries []string `yaml:"binaries" json:"binaries" jsonschema:"minItems=1"`
}

// RustCrates names the pinned crate source.
type RustCrates struct {
	// Directory is a directory registry inside the builder environment, such
	// as /usr/share/cargo/registry where Debian's librust-*-dev install.
	Directory string `yaml:"directory,omitempty" json:"directory,omitempty"`
	// Vendor is a tarball of `cargo vendor` output inside the recipe's
	// directory (such as the vendor tarball Kata releases publish).
	Vendor string `yaml:"vendor,omitempty" json:"vendor,omitempty"`
}

// TargetOrDefault is the Rust target triple.
func (p RustProgram) TargetOrDefault() string {
	if p.Target == "" {
		return "x86_64-unknown-linux-gnu"
	}
	return p.Target
}
