package llb

import (
	"fmt"
	"path"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// debsDir is where the fetched .deb files are mounted in the assembly steps.
const debsDir = "/debs"

// DefaultPath is PATH in every step that runs in a Debian environment.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Environment turns a locked package set into a configured Debian root
// filesystem: every .deb fetched by checksum, unpacked by the kforge helper
// into an empty tree with a merged /usr, then installed and configured by
// dpkg inside that tree with no network, so that maintainer scripts run and
// the package database lists every package.
func Environment(r *recipes.Recipe, le *recipes.LockedEnvironment, name string, ctx Contexts, fetches *Fetches) bk.State {
	var debs []bk.State
	var files []string
	for _, p := range le.Packages {
		debs = append(debs, fetches.file(r.Debian.MirrorsOfSuite(p.Suite), p.Filename, p.SHA256))
		files = append(files, path.Join(debsDir, path.Base(p.Filename)))
	}
	pool := bk.Merge(debs, bk.WithCustomName(fmt.Sprintf("[%s] collect %d packages", name, len(debs))))

	unpack := bk.Scratch().Run(
		bk.Args(append([]string{helperCommand, "helper", "unpack-debs", "--root", "/rootfs"}, files...)),
		bk.AddMount(helperMount, ctx.Helper, bk.Readonly),
		bk.AddMount(debsDir, pool, bk.Readonly),
		bk.Network(bk.NetModeNone),
		ctx.at("$.environments."+name),
		bk.WithCustomName(fmt.Sprintf("[%s] unpack %d packages", name, len(debs))),
	)
	unpacked := unpack.AddMount("/rootfs", bk.Scratch())

	configured := unpacked.
		AddEnv("PATH", DefaultPath).
		Run(
			bk.Args([]string{"/bin/sh", "-c", installScript(le)}),
			bk.AddMount(debsDir, pool, bk.Readonly),
			bk.Network(bk.NetModeNone),
			ctx.at("$.environments."+name),
			bk.WithCustomName(fmt.Sprintf("[%s] dpkg: install and configure %d packages", name, len(debs))),
		).Root()

	// The root keeps the PATH set above; the recipe's env comes after it
	// so that it may change PATH too.
	env := r.Environments[name]
	for _, k := range recipes.SortedKeys(env.Env) {
		configured = configured.AddEnv(k, env.Env[k])
	}
	return configured.Dir("/")
}

// firstPackages are installed before the rest, as debootstrap does: users
// and groups, then the base directory layout, exist before any other
// package's maintainer scripts run.
var firstPackages = []string{"base-passwd", "base-files"}

// installScript is debootstrap's second stage in short: register and
// configure every package with dpkg. Services are kept from starting.
func installScript(le *recipes.LockedEnvironment) string {
	byName := map[string]string{}
	for _, p := range le.Packages {
		byName[p.Name] = path.Join(debsDir, path.Base(p.Filename))
	}
	var first, rest []string
	for _, n := range firstPackages {
		if f, ok := byName[n]; ok {
			first = append(first, f)
			delete(byName, n)
		}
	}
	for _, n := range recipes.SortedKeys(byName) {
		rest = append(rest, byName[n])
	}
	var b strings.Builder
	b.WriteString(`set -eu
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C LANGUAGE=C LANG=C
mkdir -p /var/lib/dpkg/info /var/lib/dpkg/updates /var/lib/dpkg/triggers /var/lib/dpkg/alternatives /etc/alternatives
: > /var/lib/dpkg/status
: > /var/lib/dpkg/available
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
`)
	for _, f := range first {
		fmt.Fprintf(&b, "dpkg --force-depends --force-confold --install %s\n", f)
	}
	fmt.Fprintf(&b, "dpkg --force-depends --force-confold --unpack %s\n", strings.Join(rest, " "))
	b.WriteString(`dpkg --force-confold --configure --pending --force-configure-any --force-depends
dpkg --configure -a
rm -f /usr/sbin/policy-rc.d /var/lib/dpkg/*-old /var/cache/debconf/*-old
`)
	return b.String()
}
