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
		return KernelCompile(p, src, cfg, builder), nil
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
	return bk.State{}, fmt.Errorf("%s has no target %q; its targets are: %s", in.Recipe.Path, name, strings.Join(TargetNames(in.Recipe), ", "))
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
	names := append(recipes.SortedKeys(r.Environments), recipes.SortedKeys(r.Kernels)...)
	return slices.Sorted(slices.Values(append(names, recipes.SortedKeys(r.Rust)...)))
}
