package llb

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/kforge/kforge/recipes"
)

// NewInputs are a recipe and its lock, with no target planned yet.
func NewInputs(r *recipes.Recipe, lock *recipes.Lock, lockPath string) *Inputs {
	return &Inputs{Recipe: r, Lock: lock, LockPath: lockPath,
		Kernels: map[string]*recipes.KernelPlan{}, Rust: map[string]*recipes.RustPlan{}}
}

// Plan checks a kernel's or Rust program's inputs against the recipe's
// directory and adds its plan to in; it returns the files of the recipe's
// directory the target reads. It reads the recipe's directory, not the
// graph: graphs are built from the plans.
func (in *Inputs) Plan(recipeDir, target string) ([]string, error) {
	return in.PlanFS(os.DirFS(recipeDir), target)
}

// PlanFS is Plan against the recipe's directory as a file system: the
// frontend reads it from the build context, not from a host directory.
func (in *Inputs) PlanFS(fsys fs.FS, target string) ([]string, error) {
	r := in.Recipe
	if _, ok := r.Kernels[target]; ok {
		plan, err := recipes.PlanKernel(r, in.Lock, in.LockPath, target, fsys)
		if err != nil {
			return nil, err
		}
		in.Kernels[target] = plan
		return plan.Files(), nil
	}
	if _, ok := r.Rust[target]; ok {
		plan, err := recipes.PlanRust(r, in.Lock, in.LockPath, target, fsys)
		if err != nil {
			return nil, err
		}
		in.Rust[target] = plan
		return plan.Files(), nil
	}
	// A guest's rootfs, image and initrd read the files of the agent.
	if rootfs, ok := r.Rootfs[target]; ok {
		return in.PlanFS(fsys, rootfs.Agent)
	}
	if img, ok := r.Images[target]; ok {
		return in.PlanFS(fsys, img.Rootfs)
	}
	if initrd, ok := r.Initrds[target]; ok {
		return in.PlanFS(fsys, initrd.Rootfs)
	}
	if c, ok := r.Containers[target]; ok {
		var files []string
		for i, f := range c.Files {
			if err := r.CheckFile(fsys, fmt.Sprintf("$.containers.%s.files[%d].src", target, i), f.Src); err != nil {
				return nil, err
			}
			files = append(files, f.Src)
		}
		return files, nil
	}
	if r.TargetKind(target) == recipes.KindTest {
		return in.planTest(fsys, strings.TrimPrefix(target, recipes.TestTargetPrefix))
	}
	return nil, nil
}

// planTest plans a test's kernel and root filesystem and checks that its
// script and files exist, before any work.
func (in *Inputs) planTest(fsys fs.FS, name string) ([]string, error) {
	r := in.Recipe
	t := r.Tests[name]
	files, err := in.PlanFS(fsys, t.Kernel)
	if err != nil {
		return nil, err
	}
	more, err := in.PlanFS(fsys, t.Rootfs)
	if err != nil {
		return nil, err
	}
	files = append(files, more...)
	if err := r.CheckTestFiles(fsys, name); err != nil {
		return nil, err
	}
	if t.Script != "" {
		files = append(files, t.Script)
	}
	return append(files, t.Files...), nil
}
