package recipes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LockVersion is the lock format this kforge writes and reads.
const LockVersion = 1

// Lock pins every input of a recipe: what `kforge lock` resolved online, and
// the only thing `kforge build` uses.
type Lock struct {
	LockVersion  int                           `json:"lockVersion"`
	Environments map[string]*LockedEnvironment `json:"environments"`
	Kernels      map[string]*LockedKernel      `json:"kernels,omitempty"`
}

// LockedKernel pins a kernel's source.
type LockedKernel struct {
	Request string       `json:"request"`
	Source  LockedSource `json:"source"`
}

// LockedSource is one pinned source file: a .deb below a Debian mirror
// (Filename, with Member the tarball inside it), a tarball at Filename below
// the mirror roots in URLs (kernel.org), or a tarball at URLs.
type LockedSource struct {
	Package  string   `json:"package,omitempty"`
	Version  string   `json:"version,omitempty"`
	Filename string   `json:"filename,omitempty"`
	Member   string   `json:"member,omitempty"`
	URLs     []string `json:"urls,omitempty"`
	Size     int64    `json:"size,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	// Suite is the suite a Debian-packaged source was resolved from.
	Suite string `json:"suite,omitempty"`
	// Local is a source inside the recipe's directory: pinned by content
	// when it is sent to the build, not by the lock.
	Local string `json:"local,omitempty"`
}

// LockedEnvironment is a package set resolved against one signed index.
type LockedEnvironment struct {
	// Request is the digest of the recipe inputs this entry was resolved
	// from; a build refuses an entry whose request no longer matches.
	Request      string        `json:"request"`
	Suite        string        `json:"suite"`
	Codename     string        `json:"codename"`
	Architecture string        `json:"architecture"`
	Release      LockedRelease `json:"release"`
	// Suites are the further suites of the recipe (debian.suites) the set
	// was resolved against, each with its signed release, in recipe order.
	Suites   []LockedSuite   `json:"suites,omitempty"`
	Packages []LockedPackage `json:"packages"`
}

// LockedSuite is one further suite of a package set's resolution.
type LockedSuite struct {
	Suite    string        `json:"suite"`
	Codename string        `json:"codename"`
	Release  LockedRelease `json:"release"`
}

// LockedRelease identifies the signed InRelease and the indexes the
// resolution used.
type LockedRelease struct {
	Date string `json:"date"`
	// ValidUntil is the release's own expiry, when it states one (security
	// and updates suites do); an index past it was refused or, with
	// --allow-expired, accepted on purpose.
	ValidUntil string        `json:"validUntil,omitempty"`
	SHA256     string        `json:"sha256"`
	SignedBy   []string      `json:"signedBy"`
	Indexes    []LockedIndex `json:"indexes"`
}

// LockedIndex is one Packages index file, as listed in InRelease.
type LockedIndex struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// LockedPackage is one .deb of the closure.
type LockedPackage struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	Filename     string `json:"filename"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	// Suite is the suite the package was resolved from, whose mirrors
	// serve it; empty in locks written before suites were recorded, which
	// means the first suite.
	Suite string `json:"suite,omitempty"`
}

// LockPath is where the lock of the recipe at recipePath lives: beside it,
// with the extension replaced by .lock.
func LockPath(recipePath string) string {
	return strings.TrimSuffix(recipePath, filepath.Ext(recipePath)) + ".lock"
}

// EnvironmentRequest is the digest of everything in the recipe that decides
// what an environment resolves to. Mirrors are left out: any mirror serves the
// same signed archive.
func EnvironmentRequest(r *Recipe, name string) string {
	env := r.Environments[name]
	pkgs := append([]string(nil), env.Packages...)
	sort.Strings(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "suite=%s\ncomponents=%s\narch=%s\npackages=%s\n",
		r.Debian.Suite, strings.Join(r.Debian.ComponentsOrDefault(), ","),
		env.ArchitectureOrDefault(), strings.Join(pkgs, ","))
	writeMoreSuites(h, r)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeMoreSuites adds the recipe's further suites to a request digest.
// Nothing is written for a one-suite recipe, so that its locks from before
// suites existed stay valid.
func writeMoreSuites(w io.Writer, r *Recipe) {
	for _, s := range r.Debian.SuiteSources()[1:] {
		fmt.Fprintf(w, "more-suite=%s components=%s keyring=%s\n", s.Suite, strings.Join(s.Components, ","), s.Keyring)
	}
}

// KernelRequest is the digest of what decides a kernel's pinned source.
func KernelRequest(r *Recipe, name string) string {
	k := r.Kernels[name]
	h := sha256.New()
	if d := k.Source.Deb; d != nil {
		env := r.Environments[k.Builder]
		fmt.Fprintf(h, "deb=%s\npath=%s\nsuite=%s\ncomponents=%s\narch=%s\n", d.Package, d.Path,
			d.SuiteOf(r), strings.Join(r.Debian.ComponentsOrDefault(), ","), env.ArchitectureOrDefault())
		if len(d.Mirrors) > 0 {
			fmt.Fprintf(h, "mirrors=%s\n", strings.Join(d.Mirrors, " "))
		}
		if d.Suite == "" { // resolved across every suite of the recipe
			writeMoreSuites(h, r)
		}
	}
	if u := k.Source.HTTP; u != nil {
		fmt.Fprintf(h, "http=%s\nsha256=%s\n", strings.Join(u.URLs, " "), u.SHA256)
	}
	if k.Source.Local != "" {
		fmt.Fprintf(h, "local=%s\n", k.Source.Local)
	}
	if ko := k.Source.KernelOrg; ko != nil {
		fmt.Fprintf(h, "kernel.org=%s\nmirrors=%s\nkeys=%s\n", ko.Version, strings.Join(ko.Mirrors, " "), strings.Join(ko.Keys, " "))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Kernel returns the locked source of a kernel of the recipe, refusing one
// that is missing or was locked from other inputs.
func (l *Lock) Kernel(r *Recipe, lockPath, name string) (*LockedKernel, error) {
	lk := l.Kernels[name]
	if lk == nil {
		return nil, &Error{File: lockPath, Msg: fmt.Sprintf("kernel %q is not in the lock: run `kforge lock -f %s`", name, r.Path)}
	}
	if lk.Request != KernelRequest(r, name) {
		return nil, &Error{File: lockPath, Msg: fmt.Sprintf("the source of kernel %q changed in %s since it was locked: run `kforge lock -f %s`", name, r.Path, r.Path)}
	}
	if lk.Source.SHA256 == "" && lk.Source.Local == "" {
		return nil, &Error{File: lockPath, Msg: fmt.Sprintf("the source of kernel %q is not pinned: run `kforge lock -f %s`", name, r.Path)}
	}
	return lk, nil
}

// Marshal renders the lock deterministically: the same lock gives the same
// bytes.
func (l *Lock) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLock writes the lock atomically: a reader sees the old lock or the new
// one, never a part.
func WriteLock(path string, l *Lock) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadLock reads a lock; a missing file is reported with the command that
// creates it.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, MissingLock(path)
	}
	if err != nil {
		return nil, err
	}
	return ParseLock(path, data)
}

// MissingLock is the error for a lock that does not exist, with the command
// that creates it.
func MissingLock(path string) error {
	return &Error{File: path, Msg: "no lock file: run `kforge lock -f <recipe>` (online) to create it"}
}

// ParseLock decodes a lock read from path (used in messages only).
func ParseLock(path string, data []byte) (*Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, &Error{File: path, Msg: "not a valid lock: " + err.Error() + "; re-create it with `kforge lock`"}
	}
	if l.LockVersion != LockVersion {
		return nil, &Error{File: path, Msg: fmt.Sprintf("lock version %d is not %d: re-create it with `kforge lock`", l.LockVersion, LockVersion)}
	}
	return &l, nil
}

// Environment returns the locked entry for an environment of the recipe,
// refusing one that is missing or was resolved from other inputs.
func (l *Lock) Environment(r *Recipe, lockPath, name string) (*LockedEnvironment, error) {
	le := l.Environments[name]
	if le == nil {
		return nil, &Error{File: lockPath, Msg: fmt.Sprintf("environment %q is not in the lock: run `kforge lock -f %s`", name, r.Path)}
	}
	if le.Request != EnvironmentRequest(r, name) {
		return nil, &Error{File: lockPath, Msg: fmt.Sprintf("environment %q changed in %s since it was locked: run `kforge lock -f %s`", name, r.Path, r.Path)}
	}
	for _, p := range le.Packages {
		if p.SHA256 == "" || p.Filename == "" {
			return nil, &Error{File: lockPath, Msg: fmt.Sprintf("package %s in environment %q is not pinned (no sha256 or filename): run `kforge lock -f %s`", p.Name, name, r.Path)}
		}
	}
	return le, nil
}
