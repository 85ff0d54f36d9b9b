package llb

import (
	"fmt"
	"path"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// RustProgram builds a Rust program offline in its builder environment and
// returns its installed binaries (/usr/bin/<name>). Every crate comes from
// the pinned source through cargo's source replacement; cargo runs
// --offline --locked, with the network off, in a persistent target
// directory so that a rebuild after touching one file is incremental.
func RustProgram(p *recipes.RustPlan, builder bk.State, ctx Contexts) bk.State {
	prog := p.Program
	target := prog.TargetOrDefault()
	var s strings.Builder
	s.WriteString("set -eu\n")
	crates := prog.Crates.Directory
	if v := prog.Crates.Vendor; v != "" {
		// cargo vendor's output is a vendor/ directory of crates; a tarball
		// may hold it or its contents.
		fmt.Fprintf(&s, "mkdir -p /tmp/vendor && tar -xf %s -C /tmp/vendor\n", path.Join(recipeDir, v))
		s.WriteString("crates=/tmp/vendor; [ -d /tmp/vendor/vendor ] && crates=/tmp/vendor/vendor\n")
		crates = "$crates"
	} else {
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
export CARGO_HOME=/cargo-home CARGO_TARGET_DIR=/target SOURCE_DATE_EPOCH=%d
export RUSTFLAGS="--remap-path-prefix=%s=/src%s"
cd %s
`, crates, p.Epoch, path.Join(recipeDir, prog.Source), staticFlag(prog.Static), path.Join(recipeDir, prog.Source))
	args := []string{"cargo", "build", "--offline", "--locked", "--release", "--target", target}
	if len(prog.Features) > 0 {
		args = append(args, "--features", strings.Join(prog.Features, ","))
	}
	s.WriteString(strings.Join(args, " ") + "\n")
	s.WriteString("mkdir -p " + outDir + "/usr/bin\n")
	for _, b := range prog.Binaries {
		fmt.Fprintf(&s, "install -m 0755 /target/%s/release/%s %s/usr/bin/%s\n", target, b, outDir, b)
	}
	fmt.Fprintf(&s, "touch -h -d @%d %s/usr/bin/* %s/usr/bin %s/usr %s\n", p.Epoch, outDir, outDir, outDir, outDir)
	return builder.Run(
		bk.Args([]string{"/bin/sh", "-c", s.String()}),
		bk.AddMount(recipeDir, ctx.Recipe, bk.Readonly),
		bk.AddMount("/target", bk.Scratch(), bk.AsPersistentCacheDir("kforge-rust-"+p.Name+"-"+target, bk.CacheMountLocked)),
		bk.Network(bk.NetModeNone),
		bk.WithCustomName(fmt.Sprintf("[%s] cargo build --offline --locked (%s)", p.Name, target)),
	).AddMount(outDir, bk.Scratch())
}

func staticFlag(static bool) string {
	if static {
		return " -C target-feature=+crt-static"
	}
	return ""
}
