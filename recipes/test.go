package recipes

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Test is a boot test: a kernel target booted in QEMU with a root
// filesystem, running a script as the guest's init (or the filesystem's own
// init), and the lines its console must show.
type Test struct {
	// Kernel is the kernel target booted.
	Kernel string `yaml:"kernel" json:"kernel"`
	// Rootfs is the target the guest's root filesystem comes from: a rootfs
	// or container target (booted as an initrd made of its tree and the
	// test's files), an image (attached as Kata does, an NVDIMM, unless
	// machine.disk says virtio-blk) or an initrd.
	Rootfs string `yaml:"rootfs" json:"rootfs"`
	// Machine is the QEMU machine.
	Machine Machine `yaml:"machine,omitempty" json:"machine,omitempty"`
	// Script is a file of the recipe's directory that the guest runs as its
	// init (under kforge's init, which mounts /proc, /sys, /dev, /run and
	// /tmp first); its steps start with a line "kforge-step: NAME". With
	// no script the root filesystem's own init runs. Only rootfs and
	// container targets take a script.
	Script string `yaml:"script,omitempty" json:"script,omitempty"`
	// Files are further files of the recipe's directory, placed beside the
	// script in /kforge/test.
	Files []string `yaml:"files,omitempty" json:"files,omitempty"`
	// KernelSelftests are directories below tools/testing/selftests of the
	// kernel's own source (such as tc-testing), placed at
	// /kforge/selftests/<dir>, so that the guest runs the tests of the very
	// kernel it boots.
	KernelSelftests []string `yaml:"kernelSelftests,omitempty" json:"kernelSelftests,omitempty"`
	// Timeout bounds the boot and the script, such as 10m; 10m when empty.
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Checks are what the console must show, each in a step of the script
	// (or anywhere with no step).
	Checks []Check `yaml:"checks" json:"checks" jsonschema:"minItems=1"`
}

// Machine is a QEMU machine for a boot test.
type Machine struct {
	// Memory is the guest's memory in MiB; 1024 when 0.
	Memory int `yaml:"memory,omitempty" json:"memory,omitempty" jsonschema:"minimum=0"`
	// CPUs is the number of virtual CPUs; 1 when 0.
	CPUs int `yaml:"cpus,omitempty" json:"cpus,omitempty" jsonschema:"minimum=0"`
	// NICs are network cards, in order (eth0, eth1, ...), all on one QEMU
	// hub so that they are wired to each other: igb (82576, multiqueue,
	// PTP clock; QEMU 8 or newer), e1000e or virtio-net-pci.
	NICs []string `yaml:"nics,omitempty" json:"nics,omitempty"`
	// Disk is how an image target is attached: nvdimm (default, as Kata
	// does) or virtio-blk.
	Disk string `yaml:"disk,omitempty" json:"disk,omitempty" jsonschema:"enum=nvdimm,enum=virtio-blk"`
	// Append is added to the kernel command line.
	Append string `yaml:"append,omitempty" json:"append,omitempty"`
}

// Check is one thing a test's console must show.
type Check struct {
	// Step is the script's step whose output is checked; the whole console
	// when empty.
	Step string `yaml:"step,omitempty" json:"step,omitempty"`
	// Description says what the check proves; the report shows it.
	Description string `yaml:"description" json:"description"`
	// Expect are regular expressions (RE2) that must each match a line.
	Expect []string `yaml:"expect" json:"expect" jsonschema:"minItems=1"`
}

// NICModels are the network cards a test machine can have.
var NICModels = []string{"igb", "e1000e", "virtio-net-pci"}

// TestTargetPrefix names a test as a build target: "test:NAME" builds
// what the test boots (the kernel and the root filesystem with the test's
// files), which `kforge test` then boots.
const TestTargetPrefix = "test:"

// TimeoutOrDefault is the test's timeout.
func (t Test) TimeoutOrDefault() time.Duration {
	d, err := time.ParseDuration(t.Timeout)
	if t.Timeout == "" || err != nil {
		return 10 * time.Minute
	}
	return d
}

// MemoryOrDefault is the guest memory in MiB.
func (m Machine) MemoryOrDefault() int {
	if m.Memory == 0 {
		return 1024
	}
	return m.Memory
}

// CPUsOrDefault is the number of virtual CPUs.
func (m Machine) CPUsOrDefault() int {
	if m.CPUs == 0 {
		return 1
	}
	return m.CPUs
}

// CheckTestFiles checks that a test's script and files exist in the
// recipe's directory, so that a test fails at its field before any work.
func (r *Recipe) CheckTestFiles(fsys fs.FS, name string) error {
	t := r.Tests[name]
	if t.Script != "" {
		if err := r.CheckFile(fsys, "$.tests."+name+".script", t.Script); err != nil {
			return err
		}
	}
	for i, f := range t.Files {
		if err := r.CheckFile(fsys, fmt.Sprintf("$.tests.%s.files[%d]", name, i), f); err != nil {
			return err
		}
	}
	return nil
}

// CheckFile checks that a file the recipe names at a field is a regular
// file of the recipe's directory.
func (r *Recipe) CheckFile(fsys fs.FS, at, name string) error {
	st, err := fs.Stat(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r.Errorf(at, "%s does not exist (paths are relative to the recipe's directory)", name)
	case err != nil:
		return r.Errorf(at, "%v", err)
	case !st.Mode().IsRegular():
		return r.Errorf(at, "%s is not a regular file", name)
	}
	return nil
}
