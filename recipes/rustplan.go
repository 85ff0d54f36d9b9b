package recipes

import (
	"io/fs"
	"path"
)

// RustPlan is a Rust program with its files checked: the project and, for
// vendored crates, the tarball, as paths relative to the recipe's directory.
type RustPlan struct {
	Name    string
	Program RustProgram
	Builder *LockedEnvironment
	Epoch   int64
}

// Files lists the recipe-directory files the build reads.
func (p *RustPlan) Files() []string {
	var files []string
	if p.Program.Source != "" {
		files = append(files, p.Program.Source)
	}
	if p.Program.Crates.Vendor != "" {
		files = append(files, p.Program.Crates.Vendor)
	}
	return files
}

// PlanRust checks a Rust program's inputs before any build work: the
// project with its Cargo.lock (cargo runs --locked), the vendor tarball.
func PlanRust(r *Recipe, lock *Lock, lockPath, name string, fsys fs.FS) (*RustPlan, error) {
	prog := r.Rust[name]
	at := "$.rust." + name
	builder, err := lock.Environment(r, lockPath, prog.Builder)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"Cargo.toml", "Cargo.lock"} {
		if prog.Source == "" {
			// A source tarball is checked when it is unpacked, in the build.
			break
		}
		if _, err := fs.Stat(fsys, path.Join(prog.Source, f)); err != nil {
			hint := ""
			if f == "Cargo.lock" {
				hint = ": cargo builds --locked; generate it (cargo generate-lockfile) against the same crate source"
			}
			return nil, r.Errorf(at+".source", "%s/%s: %v%s", prog.Source, f, cleanFSError(err), hint)
		}
	}
	if v := prog.Crates.Vendor; v != "" {
		if _, err := fs.Stat(fsys, v); err != nil {
			return nil, r.Errorf(at+".crates.vendor", "vendor tarball %s: %v", v, cleanFSError(err))
		}
	}
	return &RustPlan{Name: name, Program: prog, Builder: builder, Epoch: r.SourceDateEpoch}, nil
}
