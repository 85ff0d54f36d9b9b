package recipes

import (
	"errors"
	"strings"
)

// Kinds of build target, as the recipe's sections name them.
const (
	KindEnvironment = "environment"
	KindKernel      = "kernel"
	KindRust        = "rust"
	KindRootfs      = "rootfs"
	KindImage       = "image"
	KindInitrd      = "initrd"
	KindContainer   = "container"
	// KindTest is a test's boot bundle, addressed as "test:NAME".
	KindTest = "test"
)

// TargetKind returns the kind of a named target, or "" when the recipe has
// no such target.
func (r *Recipe) TargetKind(name string) string {
	switch {
	case has(r.Environments, name):
		return KindEnvironment
	case has(r.Kernels, name):
		return KindKernel
	case has(r.Rust, name):
		return KindRust
	case has(r.Rootfs, name):
		return KindRootfs
	case has(r.Images, name):
		return KindImage
	case has(r.Initrds, name):
		return KindInitrd
	case has(r.Containers, name):
		return KindContainer
	case strings.HasPrefix(name, TestTargetPrefix) && has(r.Tests, strings.TrimPrefix(name, TestTargetPrefix)):
		return KindTest
	}
	return ""
}

// GuestArchitecture is the Debian architecture of a rootfs, image or
// initrd target: that of its rootfs's base environment.
func (r *Recipe) GuestArchitecture(name string) string {
	if img, ok := r.Images[name]; ok {
		name = img.Rootfs
	}
	if initrd, ok := r.Initrds[name]; ok {
		name = initrd.Rootfs
	}
	if fs, ok := r.Rootfs[name]; ok {
		return r.Environments[fs.Base].ArchitectureOrDefault()
	}
	if c, ok := r.Containers[name]; ok {
		return r.Environments[c.Base].ArchitectureOrDefault()
	}
	return r.Environments[name].ArchitectureOrDefault()
}

func has[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// sectionOf is the recipe section that holds each kind of target.
var sectionOf = map[string]string{
	KindEnvironment: "environments", KindKernel: "kernels", KindRust: "rust",
	KindRootfs: "rootfs", KindImage: "images", KindInitrd: "initrds",
	KindContainer: "containers", KindTest: "tests",
}

// TargetPath is the YAML path of a target's definition ("$.kernels.tiny"),
// or "$" when the recipe has no such target.
func (r *Recipe) TargetPath(name string) string {
	kind := r.TargetKind(name)
	if kind == "" {
		return "$"
	}
	return "$." + sectionOf[kind] + "." + strings.TrimPrefix(name, TestTargetPrefix)
}

// Position is the 1-based line and column of the node at a YAML path, or of
// its nearest parent that exists; 0, 0 when the recipe was not parsed from
// text.
func (r *Recipe) Position(path string) (line, column int) {
	if r.loc == nil {
		return 0, 0
	}
	var e *Error
	if errors.As(r.loc.errorf(path, ""), &e) {
		return e.Line, e.Column
	}
	return 0, 0
}

// KernelPlatforms maps the platforms a kernel builds for (--platform) to
// its architecture: kernels cross-compile for both.
var KernelPlatforms = map[string]string{"linux/amd64": "x86_64", "linux/arm64": "arm64"}

// TargetArchitecture is the architecture of what a target builds, as an
// OCI platform names it (every target is linux): a kernel's from its
// architecture (which --platform sets), anything else's from the
// architecture of its guest or environment.
func (r *Recipe) TargetArchitecture(target string) string {
	k, ok := r.Kernels[target]
	if !ok {
		return r.GuestArchitecture(target)
	}
	for platform, arch := range KernelPlatforms {
		if arch == k.ArchOrDefault() {
			return strings.TrimPrefix(platform, "linux/")
		}
	}
	return r.GuestArchitecture(target)
}
