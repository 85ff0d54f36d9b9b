package llb

import (
	"fmt"
	"path"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// Where the inputs of a Rust build sit inside its steps.
const (
	rustDistDir     = "/in/rust-dist"  // dist tarballs of the toolchain
	rustSourceIn    = "/in/source"     // the unpacked source tarball
	rustVendorIn    = "/in/vendor"     // a vendor tarball fetched by sha256
	rustToolchainAt = "/opt/rust"      // where a dist toolchain is installed
	rustTargetDir   = "/target"        // cargo's persistent target directory
	rustWork        = "/tmp/kforge-rs" // unpacked source and crates
)

// RustProgram builds a Rust program offline and returns its installed files
// (/usr/bin/<name>, and Kata's units for an agent that is not init). The
// toolchain is the builder's own or dist tarballs installed on top of it;
// every crate comes from the pinned source through cargo's source
// replacement; cargo runs --offline --locked with the network off, in a
// persistent target directory so that touching one file rebuilds little.
func RustProgram(p *recipes.RustPlan, builder bk.State, ctx Contexts, fetches *Fetches) bk.State {
	prog := p.Program
	target := prog.TargetOrDefault()
	env := builder
	if prog.Toolchain != nil {
		env = rustDistToolchain(p.Name, prog.Toolchain.Dist, builder, ctx, fetches)
	}
	opts := []bk.RunOption{
		bk.Args([]string{"/bin/sh", "-c", rustBuildScript(p, target)}),
		bk.AddMount(recipeDir, ctx.Recipe, bk.Readonly),
		bk.AddMount(rustTargetDir, bk.Scratch(), bk.AsPersistentCacheDir("kforge-rust-"+p.Name+"-"+target, bk.CacheMountLocked)),
		bk.Network(bk.NetModeNone),
		ctx.at("$.rust." + p.Name),
		bk.WithCustomName(fmt.Sprintf("[%s] cargo build --offline --locked (%s)", p.Name, target)),
	}
	if a := prog.SourceArchive; a != nil {
		opts = append(opts, bk.AddMount(rustSourceIn, rustSourceTree(p, builder, ctx, fetches), bk.Readonly))
	}
	if a := prog.Crates.VendorArchive; a != nil {
		opts = append(opts, bk.AddMount(rustVendorIn, fetches.file(a.URLs, "", a.SHA256), bk.Readonly))
	}
	return env.Run(opts...).AddMount(outDir, bk.Scratch())
}

// rustDistToolchain installs upstream dist tarballs into /opt/rust of the
// builder with their own install.sh, as rustup would, with the network off.
func rustDistToolchain(name string, d *recipes.RustDist, builder bk.State, ctx Contexts, fetches *Fetches) bk.State {
	var s strings.Builder
	s.WriteString("set -eu\n")
	opts := []bk.RunOption{bk.Network(bk.NetModeNone), ctx.at("$.rust." + name + ".toolchain"),
		bk.WithCustomName(fmt.Sprintf("[%s] install Rust %s from its dist tarballs", name, d.Version))}
	for i, file := range recipes.SortedKeys(d.Files) {
		at := fmt.Sprintf("%s/%d", rustDistDir, i)
		opts = append(opts, bk.AddMount(at, fetches.file(d.Mirrors, file, d.Files[file]), bk.Readonly))
		// A dist tarball holds one directory with install.sh; it installs the
		// components listed in its `components` file.
		fmt.Fprintf(&s, `rm -rf /tmp/kforge-dist && mkdir -p /tmp/kforge-dist
tar -xf %[1]s/%[2]s -C /tmp/kforge-dist || { echo "kforge: %[2]s could not be unpacked (a .tar.xz needs xz-utils in the builder environment)" >&2; exit 1; }
set -- /tmp/kforge-dist/*/install.sh
[ -f "$1" ] || { echo "kforge: %[2]s has no install.sh: it is not a Rust dist tarball" >&2; exit 1; }
"$1" --prefix=%[3]s --disable-ldconfig
`, at, file, rustToolchainAt)
	}
	s.WriteString("rm -rf /tmp/kforge-dist\n")
	fmt.Fprintf(&s, "%[1]s/bin/rustc --version && %[1]s/bin/cargo --version\n", rustToolchainAt)
	opts = append(opts, bk.Args([]string{"/bin/sh", "-c", s.String()}))
	return builder.Run(opts...).Root().AddEnv("PATH", rustToolchainAt+"/bin:"+DefaultPath)
}

// rustBuildScript is the compile step: the source and crates laid out,
// cargo's config pointing every crates.io dependency at the pinned source,
// cargo build, and the binaries (and units) installed.
func rustBuildScript(p *recipes.RustPlan, target string) string {
	prog := p.Program
	var s strings.Builder
	s.WriteString("set -eu\n")
	src := path.Join(recipeDir, prog.Source)
	if a := prog.SourceArchive; a != nil {
		src = path.Join(rustSourceIn, a.Dir)
		fmt.Fprintf(&s, "[ -f %[1]s/Cargo.lock ] || { echo \"kforge: the source tarball has no %[2]s: cargo builds --locked\" >&2; exit 1; }\n",
			src, path.Join(a.Dir, "Cargo.lock"))
	}
	crates := prog.Crates.Directory
	switch c := prog.Crates; {
	case c.Vendor != "":
		// cargo vendor's output is a vendor/ directory of crates; a tarball
		// may hold it or its contents.
		fmt.Fprintf(&s, "mkdir -p %[1]s/vendor && tar -xf %[2]s -C %[1]s/vendor\n", rustWork, path.Join(recipeDir, c.Vendor))
		fmt.Fprintf(&s, "crates=%[1]s/vendor; [ -d %[1]s/vendor/vendor ] && crates=%[1]s/vendor/vendor\n", rustWork)
		crates = "$crates"
	case c.VendorArchive != nil:
		fmt.Fprintf(&s, "mkdir -p %[1]s/vendor && set -- %[2]s/* && tar -xf \"$1\" -C %[1]s/vendor\n", rustWork, rustVendorIn)
		crates = path.Join(rustWork, "vendor", c.VendorArchive.Dir)
	default:
		fmt.Fprintf(&s, "[ -d %[1]s ] || { echo \"kforge: crate directory %[1]s is not in the builder environment: add the librust-*-dev packages that provide it\" >&2; exit 1; }\n", crates)
	}
	fmt.Fprintf(&s, `mkdir -p /cargo-home
cat > /cargo-home/config.toml <<KFORGE_EOF
[source.crates-io]
replace-with = "kforge-pinned"
[source.kforge-pinned]
directory = "%s"
[net]
offline = true
KFORGE_EOF
export CARGO_HOME=/cargo-home CARGO_TARGET_DIR=%s SOURCE_DATE_EPOCH=%d
export RUSTFLAGS="--remap-path-prefix=%s=/src%s"
`, crates, rustTargetDir, p.Epoch, src, staticFlag(prog.StaticOrDefault()))
	if a := prog.KataAgent; a != nil && a.Seccomp {
		// libseccomp-sys reads these, as Kata's build scripts set them.
		fmt.Fprintf(&s, `[ -f %[1]s/libseccomp.a ] || { echo "kforge: kataAgent.seccomp needs %[1]s/libseccomp.a for the target: add libseccomp-dev to the builder environment or set kataAgent.seccompLibDir" >&2; exit 1; }
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=%[1]s
`, a.SeccompLibDirOrDefault())
	}
	args := []string{"cargo", "build", "--offline", "--locked", "--release", "--target", target}
	if prog.Package != "" {
		args = append(args, "--package", prog.Package)
	}
	if f := prog.FeaturesOrDefault(); len(f) > 0 {
		args = append(args, "--features", strings.Join(f, ","))
	}
	fmt.Fprintf(&s, "cd %s\n%s\n", src, strings.Join(args, " "))
	s.WriteString("mkdir -p " + outDir + "/usr/bin\n")
	for _, b := range prog.BinariesOrDefault() {
		fmt.Fprintf(&s, "install -m 0755 %s/%s/release/%s %s/usr/bin/%s\n", rustTargetDir, target, b, outDir, b)
	}
	if a := prog.KataAgent; a != nil && !a.Init {
		s.WriteString(kataAgentUnitsScript(outDir))
	}
	fmt.Fprintf(&s, "find %s -exec touch -h -d @%d {} +\n", outDir, p.Epoch)
	return s.String()
}

// rustSourceTree unpacks a source tarball, fetched by sha256, and writes
// its templates with the kforge helper (typed arguments, no shell), each as
// a step with the network off.
func rustSourceTree(p *recipes.RustPlan, builder bk.State, ctx Contexts, fetches *Fetches) bk.State {
	a := p.Program.SourceArchive
	tree := builder.Run(
		bk.Args([]string{"/bin/sh", "-c", `set -eu; set -- /in/*; tar -xf "$1" -C /src`}),
		bk.AddMount("/in", fetches.file(a.URLs, "", a.SHA256), bk.Readonly),
		bk.Network(bk.NetModeNone),
		ctx.at("$.rust."+p.Name+".sourceArchive"),
		bk.WithCustomName(fmt.Sprintf("[%s] unpack the source tarball", p.Name)),
	).AddMount("/src", bk.Scratch())
	for _, tp := range p.Program.Templates {
		dir := path.Join("/src", a.Dir)
		args := []string{helperCommand, "helper", "template", "--from", path.Join(dir, tp.From), "--to", path.Join(dir, tp.To)}
		for _, k := range recipes.SortedKeys(tp.Replace) {
			args = append(args, "--set", k+"="+tp.Replace[k])
		}
		tree = bk.Scratch().Run(
			bk.Args(args),
			bk.AddMount(helperMount, ctx.Helper, bk.Readonly),
			bk.Network(bk.NetModeNone),
			ctx.at("$.rust."+p.Name+".sourceArchive"),
			bk.WithCustomName(fmt.Sprintf("[%s] write %s from its template", p.Name, tp.To)),
		).AddMount("/src", tree)
	}
	return tree
}

func staticFlag(static bool) string {
	if static {
		return " -C target-feature=+crt-static"
	}
	return ""
}
