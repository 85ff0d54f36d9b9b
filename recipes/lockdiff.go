package recipes

import (
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// LockChange is one difference between an old lock and a new one: a
// package upgraded, downgraded, added or removed in an environment, or a
// kernel source pinned to another version or file.
type LockChange struct {
	// Where is "environment NAME" or "kernel NAME".
	Where string
	// Kind is upgraded, downgraded, added, removed, changed, or replaced
	// (a kernel source now from another package: OldName).
	Kind    string
	Name    string
	OldName string
	// Old and New are the versions (empty when added or removed).
	Old, New string
	// Suite is the suite the new version comes from (the old one's when
	// removed).
	Suite string
}

// Security reports whether the change brings in a package from a security
// suite (bookworm-security, as Debian names them).
func (c LockChange) Security() bool { return strings.HasSuffix(c.Suite, "-security") }

func (c LockChange) String() string {
	from := ""
	if c.Suite != "" {
		from = " (" + c.Suite + ")"
	}
	switch c.Kind {
	case "added":
		return fmt.Sprintf("[%s] added %s %s%s", c.Where, c.Name, c.New, from)
	case "removed":
		return fmt.Sprintf("[%s] removed %s %s", c.Where, c.Name, c.Old)
	case "replaced":
		return fmt.Sprintf("[%s] replaced %s %s with %s %s%s", c.Where, c.OldName, c.Old, c.Name, c.New, from)
	default:
		return fmt.Sprintf("[%s] %s %s %s -> %s%s", c.Where, c.Kind, c.Name, c.Old, c.New, from)
	}
}

// DiffLocks lists what changed from old to new, in the order of the locks'
// sorted names. A nil old lock counts as empty.
func DiffLocks(old, new *Lock) []LockChange {
	if old == nil {
		old = &Lock{}
	}
	var out []LockChange
	for _, name := range SortedKeys(unionKeys(old.Environments, new.Environments)) {
		out = append(out, diffEnvironment("environment "+name, old.Environments[name], new.Environments[name])...)
	}
	for _, name := range SortedKeys(unionKeys(old.Kernels, new.Kernels)) {
		o, n := old.Kernels[name], new.Kernels[name]
		where := "kernel " + name
		switch {
		case o == nil:
			out = append(out, LockChange{Where: where, Kind: "added", Name: n.Source.describe(), New: n.Source.Version})
		case n == nil:
			out = append(out, LockChange{Where: where, Kind: "removed", Name: o.Source.describe(), Old: o.Source.Version})
		case o.Source.describe() != n.Source.describe():
			out = append(out, LockChange{Where: where, Kind: "replaced", OldName: o.Source.describe(), Name: n.Source.describe(),
				Old: o.Source.Version, New: n.Source.Version, Suite: n.Source.Suite})
		case o.Source.SHA256 != n.Source.SHA256 || o.Source.Local != n.Source.Local:
			out = append(out, LockChange{Where: where, Kind: versionChange(o.Source.Version, n.Source.Version),
				Name: n.Source.describe(), Old: o.Source.Version, New: n.Source.Version, Suite: n.Source.Suite})
		}
	}
	return out
}

func diffEnvironment(where string, o, n *LockedEnvironment) []LockChange {
	byName := func(le *LockedEnvironment) map[string]LockedPackage {
		m := map[string]LockedPackage{}
		if le != nil {
			for _, p := range le.Packages {
				m[p.Name] = p
			}
		}
		return m
	}
	olds, news := byName(o), byName(n)
	var out []LockChange
	for _, name := range SortedKeys(unionKeys(olds, news)) {
		op, inOld := olds[name]
		np, inNew := news[name]
		switch {
		case !inOld:
			out = append(out, LockChange{Where: where, Kind: "added", Name: name, New: np.Version, Suite: np.Suite})
		case !inNew:
			out = append(out, LockChange{Where: where, Kind: "removed", Name: name, Old: op.Version, Suite: op.Suite})
		case op.SHA256 != np.SHA256:
			out = append(out, LockChange{Where: where, Kind: versionChange(op.Version, np.Version), Name: name,
				Old: op.Version, New: np.Version, Suite: np.Suite})
		}
	}
	return out
}

// versionChange names the direction of a change in Debian version order.
func versionChange(old, new string) string {
	ov, oerr := version.Parse(old)
	nv, nerr := version.Parse(new)
	switch {
	case oerr != nil || nerr != nil || old == "" || new == "":
		return "changed"
	case version.Compare(nv, ov) > 0:
		return "upgraded"
	case version.Compare(nv, ov) < 0:
		return "downgraded"
	default:
		return "changed" // same version, other file: a rebuilt package
	}
}

// describe names a locked source in a change line.
func (s LockedSource) describe() string {
	switch {
	case s.Package != "":
		return s.Package
	case s.Local != "":
		return s.Local
	case s.Filename != "":
		return s.Filename
	case len(s.URLs) > 0:
		return s.URLs[0]
	}
	return "source"
}

func unionKeys[A, B any](a map[string]A, b map[string]B) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
