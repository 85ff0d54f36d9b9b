package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"

	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// The subrequests kforge answers: `--call targets`, `--call outline` and
// `--check` (lint). dockerui answers `frontend.subrequests.describe` from
// which of these are set, and refuses any other.
type (
	targetsList   = targets.List
	outlineResult = outline.Outline
	lintResults   = lint.LintResults
)

func targetList(r *recipes.Recipe) string { return strings.Join(kllb.TargetNames(r), ", ") }

// location is a recipe node as a subrequest location into source 0.
func (s *recipeSource) location(yamlPath string) *pb.Location {
	line, column := s.recipe.Position(yamlPath)
	return &pb.Location{SourceIndex: 0, Ranges: lineRange(line, column)}
}

// describeTarget says what a target is in a few words.
func describeTarget(r *recipes.Recipe, name string) string {
	switch kind := r.TargetKind(name); kind {
	case recipes.KindEnvironment:
		e := r.Environments[name]
		return fmt.Sprintf("environment: Debian %s (%s), %d packages requested", r.Debian.Suite, e.ArchitectureOrDefault(), len(e.Packages))
	case recipes.KindKernel:
		k := r.Kernels[name]
		config := k.Config.Base
		if k.Config.Kata != nil {
			config += " + Kata's fragments from " + k.Config.Kata.Tree
		}
		if n := len(k.Config.Fragments); n > 0 {
			config += fmt.Sprintf(" + %d fragments", n)
		}
		return fmt.Sprintf("kernel for %s: %s, policy %s", k.ArchOrDefault(), config, k.Config.PolicyOrDefault())
	case recipes.KindRust:
		return fmt.Sprintf("rust program built in %s, offline", r.Rust[name].Builder)
	case recipes.KindRootfs:
		fs := r.Rootfs[name]
		return fmt.Sprintf("Kata guest rootfs: %s with agent %s (init: %s)", fs.Base, fs.Agent, fs.InitOrDefault())
	case recipes.KindImage:
		return "Kata disk image (kata-containers.img) of rootfs " + r.Images[name].Rootfs
	case recipes.KindInitrd:
		return "Kata initrd (kata-containers-initrd.img) of rootfs " + r.Initrds[name].Rootfs
	case recipes.KindContainer:
		return "container image of package set " + r.Containers[name].Base
	default:
		return kind
	}
}

func listTargets(s *recipeSource) *targets.List {
	l := &targets.List{Sources: [][]byte{s.SourceMap.Data}}
	for _, name := range kllb.TargetNames(s.recipe) {
		l.Targets = append(l.Targets, targets.Target{
			Name:        name,
			Description: describeTarget(s.recipe, name),
			Location:    s.location(s.recipe.TargetPath(name)),
		})
	}
	return l
}

func outlineOf(s *recipeSource) *outline.Outline {
	o := &outline.Outline{Name: s.recipe.Name, Description: "kforge recipe " + s.recipe.Path, Sources: [][]byte{s.SourceMap.Data}}
	for _, a := range BuildArgs {
		o.Args = append(o.Args, outline.Arg{Name: a.Name, Description: a.Description})
	}
	return o
}

// Lint rules of --check.
const (
	ruleStaleLock    = "LockOutOfDate"
	rulePolicyWarn   = "KernelConfigPolicyWarn"
	ruleUnpinned     = "UnpinnedInput"
	ruleMissingLock  = "MissingLock"
	unpinnedDetail   = "%s is read from the build context as it is, not pinned by sha256 in the lock: a changed file changes the build without changing the recipe; use %s with urls and sha256 to pin it"
	policyWarnDetail = "kernel %q builds under config policy warn: an option its fragments request may be missing from the built kernel and the build still succeeds; set config.policy: fail, or list the option in the allow-list"
)

// lint checks what a recipe can get wrong and still build: a lock out of
// date with the recipe, inputs not pinned by digest, a kernel whose missing
// options only warn.
func lintRecipe(ctx context.Context, bc *dockerui.Client, s *recipeSource) (*lint.LintResults, error) {
	r := s.recipe
	res := &lint.LintResults{}
	res.AddSource(s.SourceMap)
	warn := func(rule, yamlPath, detail string) {
		res.Warnings = append(res.Warnings, lint.Warning{RuleName: rule, Description: ruleDescription[rule], Detail: detail, Location: s.location(yamlPath)})
	}
	files, err := loadFiles(ctx, bc, r, "")
	var re *recipes.Error
	switch {
	case err == nil:
		for _, name := range recipes.SortedKeys(r.Environments) {
			if _, err := files.lock.Environment(r, files.lockPath, name); err != nil {
				warn(ruleStaleLock, "$.environments."+name, err.Error())
			}
		}
		for _, name := range recipes.SortedKeys(r.Kernels) {
			if _, err := files.lock.Kernel(r, files.lockPath, name); err != nil {
				warn(ruleStaleLock, "$.kernels."+name+".source", err.Error())
			}
		}
	case errors.As(err, &re):
		warn(ruleMissingLock, "$", err.Error())
	default:
		return nil, err
	}
	for _, name := range recipes.SortedKeys(r.Kernels) {
		k := r.Kernels[name]
		if k.Source.Local != "" {
			warn(ruleUnpinned, "$.kernels."+name+".source.local", fmt.Sprintf(unpinnedDetail, "kernel source "+k.Source.Local, "source.http"))
		}
		if k.Config.PolicyOrDefault() == "warn" {
			warn(rulePolicyWarn, "$.kernels."+name+".config", fmt.Sprintf(policyWarnDetail, name))
		}
	}
	for _, name := range recipes.SortedKeys(r.Rust) {
		p := r.Rust[name]
		if p.Source != "" {
			warn(ruleUnpinned, "$.rust."+name+".source", fmt.Sprintf(unpinnedDetail, "source directory "+p.Source, "sourceArchive"))
		}
		if p.Crates.Vendor != "" {
			warn(ruleUnpinned, "$.rust."+name+".crates.vendor", fmt.Sprintf(unpinnedDetail, "vendor tarball "+p.Crates.Vendor, "crates.vendorArchive"))
		}
	}
	return res, nil
}

var ruleDescription = map[string]string{
	ruleStaleLock:   "The lock was resolved from other inputs than the recipe names; run `kforge lock -f RECIPE` to re-resolve it",
	ruleMissingLock: "The recipe has no lock; run `kforge lock -f RECIPE` to create it",
	rulePolicyWarn:  "A kernel's requested options are checked but not enforced",
	ruleUnpinned:    "An input is taken from the build context without a digest",
}
