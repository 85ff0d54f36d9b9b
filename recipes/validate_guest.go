package recipes

import "slices"

var (
	guestInits         = []string{"systemd", "agent"}
	initrdCompressions = []string{"gzip", "zstd"}
)

// validateTargetNames refuses a name used by two targets: every
// environment, kernel, program, rootfs, image and initrd is built by name.
func validateTargetNames(r *Recipe, loc *locator) error {
	seen := map[string]string{}
	sections := []struct {
		name string
		keys []string
	}{
		{"environments", SortedKeys(r.Environments)}, {"kernels", SortedKeys(r.Kernels)},
		{"rust", SortedKeys(r.Rust)}, {"rootfs", SortedKeys(r.Rootfs)},
		{"images", SortedKeys(r.Images)}, {"initrds", SortedKeys(r.Initrds)},
		{"containers", SortedKeys(r.Containers)},
	}
	for _, sec := range sections {
		for _, k := range sec.keys {
			if !targetName.MatchString(k) {
				return loc.errorf("$."+sec.name+"."+k, "target name %q must be lower case letters, digits, '.', '_' or '-'", k)
			}
			if other, ok := seen[k]; ok {
				return loc.errorf("$."+sec.name+"."+k, "%q is also a target under %s: target names must be unique", k, other)
			}
			seen[k] = sec.name
		}
	}
	return nil
}

func validateGuest(r *Recipe, loc *locator) error {
	for _, name := range SortedKeys(r.Rootfs) {
		fs, at := r.Rootfs[name], "$.rootfs."+name
		if _, ok := r.Environments[fs.Base]; !ok {
			return loc.errorf(at+".base", "base %q is not an environment of this recipe (have: %v)", fs.Base, SortedKeys(r.Environments))
		}
		agent, ok := r.Rust[fs.Agent]
		if !ok {
			return loc.errorf(at+".agent", "agent %q is not a rust program of this recipe (have: %v)", fs.Agent, SortedKeys(r.Rust))
		}
		if agent.KataAgent == nil {
			return loc.errorf(at+".agent", "rust program %q is not a Kata agent: give it kataAgent: {...}", fs.Agent)
		}
		if fs.Init != "" && !slices.Contains(guestInits, fs.Init) {
			return loc.errorf(at+".init", "init %q is not systemd or agent", fs.Init)
		}
		if fs.InitOrDefault() == "agent" != agent.KataAgent.Init {
			return loc.errorf(at+".init", "init %s needs rust.%s.kataAgent.init: %v, so that the agent is built for it", fs.InitOrDefault(), fs.Agent, fs.InitOrDefault() == "agent")
		}
	}
	for _, name := range SortedKeys(r.Images) {
		img, at := r.Images[name], "$.images."+name
		if _, ok := r.Rootfs[img.Rootfs]; !ok {
			return loc.errorf(at+".rootfs", "rootfs %q is not a rootfs of this recipe (have: %v)", img.Rootfs, SortedKeys(r.Rootfs))
		}
		if _, ok := r.Environments[img.Builder]; !ok {
			return loc.errorf(at+".builder", "builder %q is not an environment of this recipe (have: %v); it needs e2fsprogs", img.Builder, SortedKeys(r.Environments))
		}
		if img.Size < 0 || img.FreeSpace < 0 {
			return loc.errorf(at, "size and freeSpace are MiB and cannot be negative")
		}
	}
	for _, name := range SortedKeys(r.Initrds) {
		in, at := r.Initrds[name], "$.initrds."+name
		if _, ok := r.Rootfs[in.Rootfs]; !ok {
			return loc.errorf(at+".rootfs", "rootfs %q is not a rootfs of this recipe (have: %v)", in.Rootfs, SortedKeys(r.Rootfs))
		}
		if in.Compression != "" && !slices.Contains(initrdCompressions, in.Compression) {
			return loc.errorf(at+".compression", "compression %q is not gzip or zstd", in.Compression)
		}
	}
	return nil
}
