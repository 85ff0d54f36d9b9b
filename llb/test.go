package llb

import (
	"fmt"
	"path"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// Where a boot test's files are in its guest.
const (
	TestDir      = "/kforge/test"      // the script and its files
	SelftestsDir = "/kforge/selftests" // the kernel's own selftests
	TestInit     = "/kforge/init"      // kforge's init, which runs the script
)

// Files of a test's boot bundle, relative to its root.
const (
	BundleKernel = "kernel" // the kernel target's files
	BundleRoot   = "root"   // the root filesystem: an initrd or a disk image
	// TestInitrd is the initrd made of a rootfs or container tree.
	TestInitrd = "test-initrd.img"
)

// TestBundle is what a boot test boots: the kernel target's files under
// kernel/, and under root/ the root filesystem — the image or initrd
// target itself, or an initrd made of a rootfs or container tree with the
// test's script and files in /kforge/test, the kernel's selftests it names
// in /kforge/selftests, and kforge's init.
func (in *Inputs) TestBundle(name string, fetches *Fetches) (bk.State, error) {
	r := in.Recipe
	t := r.Tests[name]
	at := in.Contexts.at("$.tests." + name)
	kernel, err := in.Target(t.Kernel, fetches)
	if err != nil {
		return bk.State{}, err
	}
	var root bk.State
	switch r.TargetKind(t.Rootfs) {
	case recipes.KindImage, recipes.KindInitrd:
		if root, err = in.Target(t.Rootfs, fetches); err != nil {
			return bk.State{}, err
		}
	default: // a tree: a rootfs's or a container's
		var tree bk.State
		if _, ok := r.Containers[t.Rootfs]; ok {
			tree, err = in.containerTree(t.Rootfs, fetches)
		} else {
			tree, err = in.rootfs(t.Rootfs, fetches)
		}
		if err != nil {
			return bk.State{}, err
		}
		if t.Script != "" {
			if tree, err = in.withTestFiles(name, tree, fetches); err != nil {
				return bk.State{}, err
			}
		}
		initPath := "/sbin/init"
		if t.Script != "" {
			initPath = TestInit
		}
		root = helperOverTree(in.Contexts, tree, at, fmt.Sprintf("[test %s] initrd of %s with the test's files", name, t.Rootfs),
			// Booted once by the test and thrown away: compressed fast.
			append(initrdArgs(r, TestInitrd, "gzip", initPath), "--fast")...)
	}
	return bk.Scratch().
		File(bk.Copy(kernel, "/", "/"+BundleKernel+"/", &bk.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true}),
			at, bk.WithCustomName(fmt.Sprintf("[test %s] kernel %s", name, t.Kernel))).
		File(bk.Copy(root, "/", "/"+BundleRoot+"/", &bk.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true}),
			at, bk.WithCustomName(fmt.Sprintf("[test %s] root filesystem %s", name, t.Rootfs))), nil
}

// withTestFiles adds a test's script, files, selftests and kforge's init
// to a tree.
func (in *Inputs) withTestFiles(name string, tree bk.State, fetches *Fetches) (bk.State, error) {
	r := in.Recipe
	t := r.Tests[name]
	at := in.Contexts.at("$.tests." + name)
	exec := bk.ChmodOpt{Mode: 0o755}
	root := &bk.ChownOpt{User: &bk.UserOpt{UID: 0}, Group: &bk.UserOpt{UID: 0}}
	fa := bk.Mkdir(TestDir, 0o755, bk.WithParents(true)).
		Mkfile(TestInit, 0o755, []byte(testInitScript(path.Base(t.Script)))).
		Copy(in.Contexts.Recipe, "/"+t.Script, TestDir+"/"+path.Base(t.Script), &bk.CopyInfo{Mode: &exec, ChownOpt: root})
	for _, f := range t.Files {
		fa = fa.Copy(in.Contexts.Recipe, "/"+f, TestDir+"/"+path.Base(f), &bk.CopyInfo{ChownOpt: root})
	}
	tree = tree.File(fa, at, bk.WithCustomName(fmt.Sprintf("[test %s] add %s and its files", name, t.Script)))
	if len(t.KernelSelftests) == 0 {
		return tree, nil
	}
	_, src, _, err := in.kernelParts(t.Kernel, fetches)
	if err != nil {
		return bk.State{}, err
	}
	for _, d := range t.KernelSelftests {
		tree = tree.File(bk.Copy(src, "/tools/testing/selftests/"+d, SelftestsDir+"/"+d,
			&bk.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true, ChownOpt: root}),
			at, bk.WithCustomName(fmt.Sprintf("[test %s] selftests %s of kernel %s's source", name, d, t.Kernel)))
	}
	return tree, nil
}

// TestDoneMarker starts the line kforge's init prints when the script has
// ended, with its exit status.
const TestDoneMarker = "kforge-test: exit "

// testInitScript is the guest's init under a test: the file systems a
// script expects, the loopback, then the script with its output on the
// console, then the end marker and a power-off.
func testInitScript(script string) string {
	var s strings.Builder
	s.WriteString(`#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up 2>/dev/null
echo "kforge-test: start"
`)
	fmt.Fprintf(&s, "cd %s && ./%s < /dev/null 2>&1\n", TestDir, script)
	s.WriteString(`echo "` + TestDoneMarker + `$?"
sync
echo o > /proc/sysrq-trigger 2>/dev/null
exit 0
`)
	return s.String()
}
