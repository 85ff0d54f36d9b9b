package llb

import (
	"fmt"
	"slices"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// Inputs are everything a graph is built from: the recipe, its lock, the
// plans of its kernels (resolved against the recipe's files before any
// graph is built), and the named contexts.
type Inputs struct {
	Recipe   *recipes.Recipe
	Lock     *recipes.Lock
	LockPath string
	Kernels  map[string]*recipes.KernelPlan
	Rust     map[string]*recipes.RustPlan
	Contexts Contexts
	// Digests identify the recipe and lock in a guest rootfs's metadata.
	Digests GuestDigests
}

// Target returns the graph of a named target: an environment's root
// filesystem, or a kernel's installed files.
func (in *Inputs) Target(name string, fetches *Fetches) (bk.State, error) {
	if _, ok := in.Recipe.Environments[name]; ok {
		return in.environment(name, fetches)
	}
	if _, ok := in.Recipe.Kernels[name]; ok {
		p, src, builder, err := in.kernelParts(name, fetches)
		if err != nil {
			return bk.State{}, err
		}
		cfg := KernelConfig(p, src, builder, in.Contexts, p.Kernel.Config.PolicyOrDefault())
		return KernelCompile(p, src, cfg, builder, in.Contexts), nil
	}
	if p := in.Rust[name]; p != nil {
		builder, err := in.environment(p.Program.Builder, fetches)
		if err != nil {
			return bk.State{}, err
		}
		return RustProgram(p, builder, in.Contexts, fetches), nil
	}
	if _, ok := in.Recipe.Rust[name]; ok {
		return bk.State{}, fmt.Errorf("rust program %q was not planned", name)
	}
	if _, ok := in.Recipe.Rootfs[name]; ok {
		return in.rootfs(name, fetches)
	}
	if img, ok := in.Recipe.Images[name]; ok {
		rootfs, err := in.rootfs(img.Rootfs, fetches)
		if err != nil {
			return bk.State{}, err
		}
		builder, err := in.environment(img.Builder, fetches)
		if err != nil {
			return bk.State{}, err
		}
		return DiskImage(in.Recipe, name, rootfs, builder, in.Contexts), nil
	}
	if initrd, ok := in.Recipe.Initrds[name]; ok {
		rootfs, err := in.rootfs(initrd.Rootfs, fetches)
		if err != nil {
			return bk.State{}, err
		}
		return InitrdImage(in.Recipe, name, rootfs, in.Contexts), nil
	}
	if _, ok := in.Recipe.Containers[name]; ok {
		return in.containerTree(name, fetches)
	}
	if in.Recipe.TargetKind(name) == recipes.KindTest {
		return in.TestBundle(strings.TrimPrefix(name, recipes.TestTargetPrefix), fetches)
	}
	return bk.State{}, NoSuchTarget(in.Recipe, name)
}

// containerTree is a container target's filesystem, for its image.
func (in *Inputs) containerTree(name string, fetches *Fetches) (bk.State, error) {
	c := in.Recipe.Containers[name]
	base, err := in.environment(c.Base, fetches)
	if err != nil {
		return bk.State{}, err
	}
	return ContainerTree(in.Recipe, name, base, in.Contexts), nil
}

// NoSuchTarget is the error for a target the recipe lacks, naming those it has.
func NoSuchTarget(r *recipes.Recipe, name string) error {
	return fmt.Errorf("%s has no target %q; its targets are: %s", r.Path, name, strings.Join(TargetNames(r), ", "))
}

// rootfs is a guest rootfs: its base environment with the agent built by
// its rust target and Kata's wiring.
func (in *Inputs) rootfs(name string, fetches *Fetches) (bk.State, error) {
	fs := in.Recipe.Rootfs[name]
	le, err := in.Lock.Environment(in.Recipe, in.LockPath, fs.Base)
	if err != nil {
		return bk.State{}, err
	}
	base := Environment(in.Recipe, le, fs.Base, in.Contexts, fetches)
	agent, err := in.Target(fs.Agent, fetches)
	if err != nil {
		return bk.State{}, err
	}
	return Rootfs(in.Recipe, name, base, agent, le, in.Digests, in.Contexts), nil
}

// KernelConfigOnly returns a kernel's configured object tree without
// compiling; the report never fails the step, so that it can be shown.
func (in *Inputs) KernelConfigOnly(name string, fetches *Fetches) (bk.State, error) {
	p, src, builder, err := in.kernelParts(name, fetches)
	if err != nil {
		return bk.State{}, err
	}
	return KernelConfig(p, src, builder, in.Contexts, "warn"), nil
}

func (in *Inputs) environment(name string, fetches *Fetches) (bk.State, error) {
	le, err := in.Lock.Environment(in.Recipe, in.LockPath, name)
	if err != nil {
		return bk.State{}, err
	}
	return Environment(in.Recipe, le, name, in.Contexts, fetches), nil
}

func (in *Inputs) kernelParts(name string, fetches *Fetches) (*recipes.KernelPlan, bk.State, bk.State, error) {
	p := in.Kernels[name]
	if p == nil {
		return nil, bk.State{}, bk.State{}, fmt.Errorf("kernel %q was not planned", name)
	}
	builder, err := in.environment(p.Kernel.Builder, fetches)
	if err != nil {
		return nil, bk.State{}, bk.State{}, err
	}
	src := KernelSource(in.Recipe, p, builder, in.Contexts, fetches)
	return p, src, builder, nil
}

// TargetNames lists the targets a recipe offers.
func TargetNames(r *recipes.Recipe) []string {
	var names []string
	for _, section := range [][]string{recipes.SortedKeys(r.Environments), recipes.SortedKeys(r.Kernels), recipes.SortedKeys(r.Rust),
		recipes.SortedKeys(r.Rootfs), recipes.SortedKeys(r.Images), recipes.SortedKeys(r.Initrds), recipes.SortedKeys(r.Containers)} {
		names = append(names, section...)
	}
	return slices.Sorted(slices.Values(names))
}
