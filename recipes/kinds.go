package recipes

// Kinds of build target, as the recipe's sections name them.
const (
	KindEnvironment = "environment"
	KindKernel      = "kernel"
	KindRust        = "rust"
	KindRootfs      = "rootfs"
	KindImage       = "image"
	KindInitrd      = "initrd"
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
	return r.Environments[name].ArchitectureOrDefault()
}

func has[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
