package llb

import (
	"fmt"
	"strings"
	"time"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// Where the guest steps find their inputs.
const (
	rootfsMount = "/rootfs" // the rootfs an image or initrd is made from
	stageMount  = "/stage"  // an empty tmpfs for the image's staging copy
)

// GuestDigests identify what a rootfs was built from, for its metadata file.
type GuestDigests struct {
	Recipe string // sha256 of the recipe file
	Lock   string // sha256 of the lock file
}

// Rootfs lays out a Kata guest root filesystem: the base package set, the
// agent's files, and Kata's wiring as osbuilder's rootfs.sh leaves it, in a
// step with the network off.
func Rootfs(r *recipes.Recipe, name string, base, agent bk.State, le *recipes.LockedEnvironment, d GuestDigests, ctx Contexts) bk.State {
	fs := r.Rootfs[name]
	withAgent := base.File(bk.Copy(agent, "/", "/", &bk.CopyInfo{CopyDirContentsOnly: true}),
		bk.WithCustomName(fmt.Sprintf("[%s] add the agent of %s", name, fs.Agent)))
	wired := withAgent.Run(
		bk.Args([]string{"/bin/sh", "-c", rootfsScript(r, name, le, d)}),
		bk.Network(bk.NetModeNone),
		ctx.at("$.rootfs."+name),
		bk.WithCustomName(fmt.Sprintf("[%s] Kata guest wiring (init: %s)", name, fs.InitOrDefault())),
	).Root()
	// A step sees the runtime's own /etc/resolv.conf over the layer's, so
	// the guest's empty one (the runtime provides DNS) is written apart.
	return wired.File(bk.Rm("/etc/resolv.conf", bk.WithAllowNotFound(true)).
		Mkfile("/etc/resolv.conf", 0o644, nil, bk.WithCreatedTime(time.Unix(r.SourceDateEpoch, 0))),
		bk.WithCustomName(fmt.Sprintf("[%s] empty /etc/resolv.conf", name)))
}

// kataTrimmedUnits are the units rootfs.sh deletes from a guest: services
// a Kata guest does not need and that slow its boot.
var kataTrimmedUnits = []string{"systemd-coredump@", "systemd-journald", "systemd-journald-dev-log",
	"systemd-journal-flush", "systemd-random-seed", "systemd-timesyncd", "systemd-tmpfiles-setup",
	"systemd-udevd", "systemd-udevd-control", "systemd-udevd-kernel", "systemd-udev-trigger", "systemd-update-utmp"}

// kataTrimmedFiles are the generators and timers rootfs.sh deletes.
var kataTrimmedFiles = []string{"systemd-bless-boot-generator", "systemd-fstab-generator", "systemd-getty-generator",
	"systemd-gpt-auto-generator", "systemd-tmpfiles-cleanup.timer"}

func rootfsScript(r *recipes.Recipe, name string, le *recipes.LockedEnvironment, d GuestDigests) string {
	fs := r.Rootfs[name]
	var s strings.Builder
	s.WriteString("set -eu\ncd /\n")
	if fs.InitOrDefault() == "agent" {
		// AGENT_INIT=yes: the agent is the init, as setup_agent_init moves it.
		s.WriteString("rm -f /sbin/init && mv /usr/bin/kata-agent /sbin/init\n")
	} else {
		s.WriteString(`[ -x /lib/systemd/systemd ] || { echo "kforge: init systemd needs systemd in the rootfs's package set (add systemd and systemd-sysv to its base environment)" >&2; exit 1; }
ln -sf /lib/systemd/systemd /sbin/init
mkdir -p /etc/systemd/system/basic.target.wants /etc/systemd/system/sockets.target.wants
ln -sf /usr/lib/systemd/system/kata-containers.target /etc/systemd/system/basic.target.wants/kata-containers.target
if [ -f /usr/lib/systemd/system/dbus.socket ]; then ln -sf /usr/lib/systemd/system/dbus.socket /etc/systemd/system/sockets.target.wants/dbus.socket; fi
if [ -f /usr/share/systemd/tmp.mount ]; then cp /usr/share/systemd/tmp.mount /etc/systemd/system/tmp.mount; fi
`)
		if !fs.KeepUnits {
			for _, u := range kataTrimmedUnits {
				fmt.Fprintf(&s, "find / -xdev -type f \\( -name '%[1]s.service' -o -name '%[1]s.socket' \\) -exec rm -f {} +\n", u)
			}
			for _, f := range kataTrimmedFiles {
				fmt.Fprintf(&s, "find / -xdev -name '%s' -exec rm -f {} +\n", f)
			}
		}
	}
	// A guest's network and identity come from the runtime; the logs and
	// caches of the package installation would make two builds differ.
	s.WriteString(`: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -rf /var/log/* ` + installLeftovers + `
rm -rf /var/tmp && ln -s /tmp /var/tmp
mkdir -p /var/lib/osbuilder
`)
	fmt.Fprintf(&s, "cat > /var/lib/osbuilder/osbuilder.yaml <<'KFORGE_EOF'\n%sKFORGE_EOF\n", osbuilderYAML(r, name, le, d))
	return s.String()
}

// osbuilderYAML is the metadata file Kata's rootfs.sh writes, in its 0.0.2
// format, with the recipe's and lock's digests that pin the whole rootfs.
func osbuilderYAML(r *recipes.Recipe, name string, le *recipes.LockedEnvironment, d GuestDigests) string {
	fs := r.Rootfs[name]
	var pkgs []string
	for _, p := range le.Packages {
		pkgs = append(pkgs, p.Name+"="+p.Version)
	}
	isInit := "no"
	if fs.InitOrDefault() == "agent" {
		isInit = "yes"
	}
	return fmt.Sprintf(`---
osbuilder:
  url: "kforge"
  version: "kforge/v1"
rootfs-creation-time: "@%d"
description: "kforge rootfs %s of recipe %s"
file-format-version: "0.0.2"
architecture: "x86_64"
base-distro:
  name: "Debian"
  version: "%s"
  packages:
    default: [%s]
    extra: []
agent:
  name: "kata-agent"
  agent-is-init-daemon: "%s"
kforge:
  recipe-sha256: "%s"
  lock-sha256: "%s"
`, r.SourceDateEpoch, name, r.Name, le.Codename, strings.Join(pkgs, ", "), isInit, d.Recipe, d.Lock)
}

// DiskImage makes kata-containers.img from a rootfs in the builder
// environment (for mkfs.ext4 and debugfs), with the kforge helper: no loop
// device, no privilege, no network. The step says what capabilities and
// devices it had, so that the log shows it.
func DiskImage(r *recipes.Recipe, name string, rootfs, builder bk.State, ctx Contexts) bk.State {
	img := r.Images[name]
	args := []string{helperCommand, "helper", "disk-image", "--rootfs", rootfsMount, "--stage", stageMount,
		"--out", outDir + "/kata-containers.img", "--epoch", fmt.Sprint(r.SourceDateEpoch),
		"--size", fmt.Sprint(img.Size), "--free", fmt.Sprint(img.FreeSpace), fmt.Sprintf("--dax=%v", img.DAXOrDefault())}
	return builder.Run(
		bk.Args(args),
		bk.AddMount(helperMount, ctx.Helper, bk.Readonly),
		bk.AddMount(rootfsMount, rootfs, bk.Readonly),
		bk.AddMount(stageMount, bk.Scratch(), bk.Tmpfs()),
		bk.Network(bk.NetModeNone),
		ctx.at("$.images."+name),
		bk.WithCustomName(fmt.Sprintf("[%s] kata-containers.img from rootfs %s", name, img.Rootfs)),
	).AddMount(outDir, bk.Scratch())
}

// InitrdImage makes kata-containers-initrd.img from a rootfs with the
// kforge helper: a sorted newc cpio with clamped times and owners 0.
func InitrdImage(r *recipes.Recipe, name string, rootfs bk.State, ctx Contexts) bk.State {
	in := r.Initrds[name]
	return helperOverTree(ctx, rootfs, ctx.at("$.initrds."+name),
		fmt.Sprintf("[%s] kata-containers-initrd.img from rootfs %s (%s)", name, in.Rootfs, in.CompressionOrDefault()),
		initrdArgs(r, "kata-containers-initrd.img", in.CompressionOrDefault(), "/sbin/init")...)
}

// initrdArgs are the helper's arguments for an initrd of the tree at
// rootfsMount, written to outDir/file.
func initrdArgs(r *recipes.Recipe, file, compression, init string) []string {
	return []string{"initrd", "--rootfs", rootfsMount, "--out", outDir + "/" + file,
		"--epoch", fmt.Sprint(r.SourceDateEpoch), "--compression", compression, "--init", init}
}

// helperOverTree runs `kforge helper ARGS...` with the tree read-only at
// rootfsMount and no network, in an empty root; its result is what the
// helper wrote to outDir.
func helperOverTree(ctx Contexts, tree bk.State, at bk.ConstraintsOpt, customName string, args ...string) bk.State {
	return bk.Scratch().Run(
		bk.Args(append([]string{helperCommand, "helper"}, args...)),
		bk.AddMount(helperMount, ctx.Helper, bk.Readonly),
		bk.AddMount(rootfsMount, tree, bk.Readonly),
		bk.Network(bk.NetModeNone),
		at,
		bk.WithCustomName(customName),
	).AddMount(outDir, bk.Scratch())
}
