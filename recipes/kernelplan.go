package recipes

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kforge/kforge/recipes/kconfig"
)

// KernelPlan is a kernel with every input resolved: the locked source, the
// fragments and patches in the order they apply (paths relative to the
// recipe's directory), and what the fragments request.
type KernelPlan struct {
	Name        string
	Kernel      Kernel
	Source      *LockedKernel
	Builder     *LockedEnvironment
	BaseFile    string // a whole config file as the base, when Base names one
	Fragments   []string
	Patches     []string
	Requests    []kconfig.Request
	Allowed     []string // symbols that may be missing (from the allow-list)
	SourceEpoch int64
}

// Files lists every recipe-directory file the plan reads, for the context
// that carries them into the build.
func (p *KernelPlan) Files() []string {
	files := append(append([]string(nil), p.Fragments...), p.Patches...)
	if p.Kernel.Source.Local != "" {
		files = append(files, p.Kernel.Source.Local)
	}
	if p.BaseFile != "" {
		files = append(files, p.BaseFile)
	}
	return files
}

// PlanKernel resolves a kernel of the recipe against its lock and the
// recipe's directory (fsys). Every problem is reported before any build work:
// a missing fragment or patch names the recipe field it came from.
func PlanKernel(r *Recipe, lock *Lock, lockPath, name string, fsys fs.FS) (*KernelPlan, error) {
	k, ok := r.Kernels[name]
	if !ok {
		return nil, fmt.Errorf("%s has no kernel %q", r.Path, name)
	}
	at := "$.kernels." + name
	src, err := lock.Kernel(r, lockPath, name)
	if err != nil {
		return nil, err
	}
	builder, err := lock.Environment(r, lockPath, k.Builder)
	if err != nil {
		return nil, err
	}
	p := &KernelPlan{Name: name, Kernel: k, Source: src, Builder: builder, SourceEpoch: r.SourceDateEpoch}
	if l := k.Source.Local; l != "" {
		if _, err := fs.Stat(fsys, l); err != nil {
			return nil, r.Errorf(at+".source.local", "kernel source %s: %v", l, cleanFSError(err))
		}
	}

	var frags [][]kconfig.Assignment
	read := func(field, file string) ([]kconfig.Assignment, error) {
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, r.Errorf(field, "fragment %s: %v", file, cleanFSError(err))
		}
		a, err := kconfig.Parse(file, data)
		if err != nil {
			return nil, r.Errorf(field, "%v", err)
		}
		return a, nil
	}
	if base := k.Config.Base; !slices.Contains(kernelBases, base) {
		a, err := read(at+".config.base", base)
		if err != nil {
			return nil, err
		}
		p.BaseFile = base
		frags = append(frags, a)
	}
	if kata := k.Config.Kata; kata != nil {
		files, err := kconfig.SelectKata(fsys, kata.Tree, kconfig.KataOptions{
			Arch: k.ArchOrDefault(), Confidential: kata.Confidential, Debug: kata.Debug, BuildType: kata.BuildType,
		})
		if err != nil {
			return nil, r.Errorf(at+".config.kata.tree", "Kata fragment tree %s: %v", kata.Tree, cleanFSError(err))
		}
		for _, f := range files {
			a, err := read(at+".config.kata.tree", f)
			if err != nil {
				return nil, err
			}
			p.Fragments = append(p.Fragments, f)
			frags = append(frags, a)
		}
	}
	for i, f := range k.Config.Fragments {
		a, err := read(fmt.Sprintf("%s.config.fragments[%d]", at, i), f)
		if err != nil {
			return nil, err
		}
		p.Fragments = append(p.Fragments, f)
		frags = append(frags, a)
	}
	p.Requests = kconfig.Merge(frags)
	if k.Config.Allow != "" {
		data, err := fs.ReadFile(fsys, k.Config.Allow)
		if err != nil {
			return nil, r.Errorf(at+".config.allow", "allow-list %s: %v", k.Config.Allow, cleanFSError(err))
		}
		for s := range kconfig.ParseAllowList(data) {
			p.Allowed = append(p.Allowed, s)
		}
		sort.Strings(p.Allowed)
	}
	for i, patch := range k.Patches {
		files, err := patchFiles(fsys, patch)
		if err != nil {
			return nil, r.Errorf(fmt.Sprintf("%s.patches[%d]", at, i), "patch %s: %v", patch, cleanFSError(err))
		}
		p.Patches = append(p.Patches, files...)
	}
	return p, nil
}

// patchFiles expands a directory to its *.patch files in Kata's order: by
// the number they start with, then by name.
func patchFiles(fsys fs.FS, p string) ([]string, error) {
	fi, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := fs.ReadDir(fsys, p)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".patch") {
			names = append(names, e.Name())
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		ni, iok := leadingNumber(names[i])
		nj, jok := leadingNumber(names[j])
		if iok && jok && ni != nj {
			return ni < nj
		}
		return names[i] < names[j]
	})
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = path.Join(p, n)
	}
	return out, nil
}

func leadingNumber(name string) (int, bool) {
	end := 0
	for end < len(name) && name[end] >= '0' && name[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(name[:end])
	return n, err == nil
}

// cleanFSError drops the operation prefix of an fs error ("open x: ...").
func cleanFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
