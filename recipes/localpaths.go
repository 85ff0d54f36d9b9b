package recipes

import (
	"slices"
	"strings"
)

// LocalPaths are the paths in the recipe's directory that a target and the
// targets it builds on name: kernel sources, config bases, fragment trees,
// allow-lists and patches, Rust project directories and vendor tarballs. A
// build that cannot read the recipe's directory itself (the gateway
// frontend) loads exactly these to plan the target; the plan then narrows
// them to files.
func (r *Recipe) LocalPaths(target string) []string {
	var paths []string
	add := func(p string) {
		if p != "" && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	var walk func(name string)
	walk = func(name string) {
		if k, ok := r.Kernels[name]; ok {
			add(k.Source.Local)
			if !slices.Contains(kernelBases, k.Config.Base) {
				add(k.Config.Base)
			}
			if k.Config.Kata != nil {
				add(k.Config.Kata.Tree)
			}
			for _, f := range k.Config.Fragments {
				add(f)
			}
			add(k.Config.Allow)
			for _, p := range k.Patches {
				add(p)
			}
		}
		if p, ok := r.Rust[name]; ok {
			add(p.Source)
			add(p.Crates.Vendor)
		}
		if fs, ok := r.Rootfs[name]; ok {
			walk(fs.Agent)
		}
		if img, ok := r.Images[name]; ok {
			walk(img.Rootfs)
		}
		if initrd, ok := r.Initrds[name]; ok {
			walk(initrd.Rootfs)
		}
		if c, ok := r.Containers[name]; ok {
			for _, f := range c.Files {
				add(f.Src)
			}
		}
		if t, ok := r.Tests[strings.TrimPrefix(name, TestTargetPrefix)]; ok && strings.HasPrefix(name, TestTargetPrefix) {
			walk(t.Kernel)
			walk(t.Rootfs)
			add(t.Script)
			for _, f := range t.Files {
				add(f)
			}
		}
	}
	walk(target)
	return paths
}
