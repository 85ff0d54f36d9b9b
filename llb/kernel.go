package llb

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
	"github.com/kforge/kforge/recipes/kconfig"
)

//go:embed scripts/config-report.py
var configReportScript string

// Paths inside the kernel steps.
const (
	srcDir    = "/src"    // the kernel source tree
	cfgDir    = "/cfg"    // the configured object tree: .config and the report
	buildDir  = "/build"  // the persistent object tree of the compile
	outDir    = "/out"    // the installed kernel files
	recipeDir = "/recipe" // the recipe's directory: fragments, patches
	kforgeDir = "/kforge" // kforge's own files for a step: plan, scripts
)

// RecipeContextName is the named context carrying the files of the
// recipe's directory that a build reads.
const RecipeContextName = "recipe"

// kernelArch maps a kernel architecture to make's ARCH, the source
// directory under arch/, the cross-compiler prefix, and the boot image.
// ARCH=x86_64 (as Kata's build-kernel.sh passes it), not x86: with x86,
// 64BIT is a question that allnoconfig answers no.
var kernelArch = map[string]struct{ arch, srcarch, cross, image, imagePath string }{
	"x86_64": {"x86_64", "x86", "", "bzImage", "arch/x86/boot/bzImage"},
	"arm64":  {"arm64", "arm64", "aarch64-linux-gnu-", "Image", "arch/arm64/boot/Image"},
}

// KernelSource returns the unpacked (and patched) kernel source tree.
func KernelSource(r *recipes.Recipe, p *recipes.KernelPlan, builder bk.State, ctx Contexts, fetches *Fetches) bk.State {
	src := p.Source.Source
	var archive bk.State
	var unpack string
	switch {
	case src.Local != "" && !isTarball(src.Local): // a directory
		archive = ctx.Recipe
		unpack = fmt.Sprintf("cp -a /in/%s/. %s/", src.Local, srcDir)
	case src.Local != "":
		archive = ctx.Recipe
		unpack = untar("/in/"+src.Local, src.Local)
	case src.Filename != "" && src.Member == "": // a kernel.org tarball below mirror roots
		archive = fetches.file(src.URLs, src.Filename, src.SHA256)
		unpack = untar("/in/"+path.Base(src.Filename), src.Filename)
	case src.Filename != "": // a tarball inside a .deb
		mirrors := r.Debian.Mirrors
		if len(src.URLs) > 0 { // a package of another suite, on its own mirrors
			mirrors = src.URLs
		}
		archive = fetches.file(mirrors, src.Filename, src.SHA256)
		unpack = fmt.Sprintf("dpkg-deb --fsys-tarfile /in/%s | tar -xO ./%s | %s",
			path.Base(src.Filename), strings.TrimPrefix(src.Member, "./"), untar("-", src.Member))
	default:
		archive = fetches.file(src.URLs, "", src.SHA256)
		unpack = untar("/in/"+path.Base(src.URLs[0]), src.URLs[0])
	}
	tree := builder.Run(
		bk.Args([]string{"/bin/bash", "-c", "set -euo pipefail\n" + unpack}),
		bk.AddMount("/in", archive, bk.Readonly),
		bk.Network(bk.NetModeNone),
		ctx.at("$.kernels."+p.Name),
		bk.WithCustomName(fmt.Sprintf("[%s] unpack kernel source", p.Name)),
	).AddMount(srcDir, bk.Scratch())
	if len(p.Patches) == 0 {
		return tree
	}
	var script strings.Builder
	script.WriteString("set -eu\n")
	for _, patch := range p.Patches {
		// A dry run first, so that a patch that does not apply changes
		// nothing and is reported with patch's own account of the file.
		fmt.Fprintf(&script, `if ! patch -d %[1]s -p1 --forward --batch --dry-run < %[2]s > /tmp/patch.log 2>&1; then
  echo "kforge: patch %[3]s does not apply:" >&2; cat /tmp/patch.log >&2; exit 1
fi
patch -d %[1]s -p1 --forward --batch --silent < %[2]s
`, srcDir, path.Join(recipeDir, patch), patch)
	}
	return builder.Run(
		bk.Args([]string{"/bin/sh", "-c", script.String()}),
		bk.AddMount(recipeDir, ctx.Recipe, bk.Readonly),
		bk.Network(bk.NetModeNone),
		ctx.at("$.kernels."+p.Name),
		bk.WithCustomName(fmt.Sprintf("[%s] apply %d patches", p.Name, len(p.Patches))),
	).AddMount(srcDir, tree)
}

// untar is the command that unpacks a source tarball (a file, or - for
// standard input) into the source tree without its top directory; name
// tells the compression.
func untar(file, name string) string {
	return fmt.Sprintf("tar -x %s--strip-components=1 -C %s -f %s", compressionFlag(name), srcDir, file)
}

// compressionFlag is tar's option for the compression a name's suffix
// says, with a trailing space, or "" for none.
func compressionFlag(name string) string {
	switch {
	case strings.HasSuffix(name, ".xz"):
		return "-J "
	case strings.HasSuffix(name, ".gz"), strings.HasSuffix(name, ".tgz"):
		return "-z "
	case strings.HasSuffix(name, ".bz2"):
		return "-j "
	case strings.HasSuffix(name, ".zst"):
		return "--zstd "
	}
	return ""
}

// isTarball tells a source tarball from a source directory by its name.
func isTarball(name string) bool {
	return compressionFlag(name) != "" || strings.HasSuffix(name, ".tar")
}

// kernelEnv is the environment of every make in the kernel steps.
func kernelEnv(p *recipes.KernelPlan) string {
	ka := kernelArch[p.Kernel.ArchOrDefault()]
	env := "export ARCH=" + ka.arch + " SRCARCH=" + ka.srcarch
	if ka.cross != "" {
		env += " CROSS_COMPILE=" + ka.cross
	}
	return env + "\n"
}

// planJSON is what the report step is told: every request, the allow-list
// and the policy.
func planJSON(p *recipes.KernelPlan, policy string) string {
	reqs := p.Requests
	if reqs == nil {
		reqs = []kconfig.Request{}
	}
	data, _ := json.MarshalIndent(map[string]any{
		"requests": reqs,
		"allowed":  p.Allowed,
		"policy":   policy,
	}, "", " ")
	return string(data)
}

// KernelConfig returns the configured object tree (.config, the report in
// kforge-config-report.txt and .json): the base, the fragments merged by the
// kernel's own merge_config.sh in order, olddefconfig, then the report. With
// policy fail the step fails when a requested option did not land.
func KernelConfig(p *recipes.KernelPlan, src, builder bk.State, ctx Contexts, policy string) bk.State {
	var frags []string
	for _, f := range p.Fragments {
		frags = append(frags, path.Join(recipeDir, f))
	}
	list := strings.Join(frags, " ")
	merge := "scripts/kconfig/merge_config.sh"
	var script strings.Builder
	script.WriteString("set -eu\ncd " + srcDir + "\n" + kernelEnv(p))
	switch base := p.Kernel.Config.Base; {
	case p.BaseFile != "":
		fmt.Fprintf(&script, "%s -n -O %s %s %s\n", merge, cfgDir, path.Join(recipeDir, p.BaseFile), list)
	case base == "allnoconfig" && len(frags) > 0:
		fmt.Fprintf(&script, "%s -n -O %s %s\n", merge, cfgDir, list)
	case base == "alldefconfig" && len(frags) > 0:
		fmt.Fprintf(&script, "%s -O %s %s\n", merge, cfgDir, list)
	case len(frags) == 0:
		fmt.Fprintf(&script, "make -s O=%s %s\n", cfgDir, base)
	default: // defconfig, tinyconfig: the target's own .config, then the fragments
		fmt.Fprintf(&script, "make -s O=%s %s\n%s -m -O %s %s/.config %s\n", cfgDir, base, merge, cfgDir, cfgDir, list)
	}
	fmt.Fprintf(&script, "make -s O=%s olddefconfig\n", cfgDir)
	// The report reads the Kconfig tree with the variables the kernel's
	// Makefile gives Kconfig, so that $(cc-option ...) and friends agree.
	// kconfiglib 14 predates the bare "modules" attribute (Linux 5.12); it
	// reads the older spelling, "option modules", which means the same. The
	// rewrite touches this step's scratch copy of the tree only.
	script.WriteString("grep -rlE --include='Kconfig*' '^[[:space:]]*modules[[:space:]]*$' . | xargs -r sed -i -E 's/^([[:space:]]*)modules[[:space:]]*$/\\1option modules/'\n")
	fmt.Fprintf(&script, `export srctree=%[1]s CC=${CROSS_COMPILE:-}gcc LD=${CROSS_COMPILE:-}ld OBJCOPY=${CROSS_COMPILE:-}objcopy HOSTCC=gcc HOSTCXX=g++ CLANG_FLAGS= KERNELVERSION=$(make -s kernelversion)
cd %[2]s && python3 %[3]s/config-report.py Kconfig %[3]s/plan.json
`, srcDir, cfgDir, kforgeDir)

	files := bk.Scratch().
		File(bk.Mkfile("config-report.py", 0o644, []byte(configReportScript))).
		File(bk.Mkfile("plan.json", 0o644, []byte(planJSON(p, policy))))
	return builder.Run(
		bk.Args([]string{"/bin/sh", "-c", script.String()}),
		// Writable, though nothing is kept: merge_config.sh puts its
		// scratch file in the source tree.
		bk.AddMount(srcDir, src),
		bk.AddMount(recipeDir, ctx.Recipe, bk.Readonly),
		bk.AddMount(kforgeDir, files, bk.Readonly),
		bk.Network(bk.NetModeNone),
		ctx.at("$.kernels."+p.Name+".config"),
		bk.WithCustomName(fmt.Sprintf("[%s] configure: %s + %d fragments, olddefconfig, report", p.Name, p.Kernel.Config.Base, len(frags))),
	).AddMount(cfgDir, bk.Scratch())
}

// objectTreeID names the persistent object tree of a kernel: by its pinned
// source and architecture. A kernel with patches, or with a source inside
// the recipe's directory (not pinned by digest), keeps a tree of its own:
// make tells changed sources by their times, and a patched file's time
// says nothing about which patches the tree's objects were built from.
// The builder environment is not part of the name: kbuild includes
// compiler-version.h in every object, so a compiler of another version
// rebuilds the whole tree, and a changed option rebuilds what uses it.
func objectTreeID(p *recipes.KernelPlan) string {
	src := "kernel-" + p.Name
	if sha := p.Source.Source.SHA256; sha != "" && len(p.Patches) == 0 {
		src = "source-" + sha[:16]
	} else if sha != "" {
		src += "-source-" + sha[:16]
	}
	return "kforge-kernel-" + src + "-" + p.Kernel.ArchOrDefault()
}

// KernelBuildTimestamp is the build time the kernel records, from the
// recipe's SOURCE_DATE_EPOCH, in the form `date` prints.
func KernelBuildTimestamp(epoch int64) string {
	return time.Unix(epoch, 0).UTC().Format("Mon Jan _2 15:04:05 UTC 2006")
}

// KernelCompile compiles the configured kernel in a persistent object tree
// and installs it under Kata's names. The tree is a cache mount per kernel
// source and architecture (objectTreeID): changing one option rebuilds only
// what depends on it, and kernels of one source with other configurations
// (the Kata kernel and the TSN kernel on linux-source-6.12) share the
// objects their configurations agree on, since make rebuilds exactly what
// the changed options touch.
func KernelCompile(p *recipes.KernelPlan, src, cfg, builder bk.State, ctx Contexts) bk.State {
	ka := kernelArch[p.Kernel.ArchOrDefault()]
	cv := p.Kernel.ConfigVersionOrDefault()
	script := fmt.Sprintf(`set -eu
%[1]sexport KBUILD_BUILD_TIMESTAMP='%[2]s' KBUILD_BUILD_USER=kforge KBUILD_BUILD_HOST=kforge KBUILD_BUILD_VERSION=1 SOURCE_DATE_EPOCH=%[3]d
# Only a changed .config may touch the object tree's copy: make decides what
# to rebuild from its timestamp.
cmp -s %[4]s/.config %[5]s/.config || cp %[4]s/.config %[5]s/.config
make -C %[6]s O=%[5]s -j"$(nproc)" %[7]s vmlinux
kv=$(make -s -C %[6]s O=%[5]s kernelversion)
name="$kv-%[8]s"
install -m 0644 %[5]s/vmlinux %[9]s/vmlinux-$name
install -m 0644 %[5]s/%[10]s %[9]s/vmlinuz-$name
install -m 0644 %[5]s/.config %[9]s/config-$name
install -m 0644 %[5]s/System.map %[9]s/System.map-$name
ln -s vmlinux-$name %[9]s/vmlinux.container
ln -s vmlinuz-$name %[9]s/vmlinuz.container
cp %[4]s/kforge-config-report.txt %[9]s/config-report-$name.txt
touch -h -d @%[3]d %[9]s/*
`, kernelEnv(p), KernelBuildTimestamp(p.SourceEpoch), p.SourceEpoch, cfgDir, buildDir, srcDir, ka.image, cv, outDir, ka.imagePath)
	return builder.Run(
		bk.Args([]string{"/bin/sh", "-c", script}),
		bk.AddMount(srcDir, src, bk.Readonly),
		bk.AddMount(cfgDir, cfg, bk.Readonly),
		bk.AddMount(buildDir, bk.Scratch(), bk.AsPersistentCacheDir(objectTreeID(p), bk.CacheMountLocked)),
		bk.Network(bk.NetModeNone),
		ctx.at("$.kernels."+p.Name),
		bk.WithCustomName(fmt.Sprintf("[%s] compile %s for %s", p.Name, ka.image, p.Kernel.ArchOrDefault())),
	).AddMount(outDir, bk.Scratch())
}
