package llb

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"

	"github.com/kforge/kforge/recipes"
)

// compileTreeIDs are the cache-mount ids of a target's compile steps.
func compileTreeIDs(t *testing.T, recipePath, target string) []string {
	t.Helper()
	var ids []string
	for _, dt := range marshalTarget(t, recipePath, target).Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		for _, m := range op.GetExec().GetMounts() {
			if m.GetMountType() == pb.MountType_CACHE {
				ids = append(ids, m.GetCacheOpt().GetID())
			}
		}
	}
	return ids
}

// The Kata kernel and the TSN kernel are one source with two
// configurations: they compile in one object tree, so that the second
// rebuilds only what the TSN options touch.
func TestKernelsOfOneSourceShareTheirObjectTree(t *testing.T) {
	kata := compileTreeIDs(t, "../recipes/kata-kernel.yaml", "kernel")
	tsn := compileTreeIDs(t, "../recipes/kata-tsn.yaml", "tsn-kernel")
	if len(kata) != 1 || len(tsn) != 1 {
		t.Fatalf("compile cache mounts: %v and %v", kata, tsn)
	}
	if kata[0] != tsn[0] || !strings.HasPrefix(kata[0], "kforge-kernel-source-") || !strings.HasSuffix(kata[0], "-x86_64") {
		t.Errorf("the Kata kernel compiles in %s, the TSN kernel in %s", kata[0], tsn[0])
	}
}

// A patched kernel keeps a tree of its own: make cannot tell from a
// patched file's time which patches the objects were built from.
func TestAPatchedKernelHasATreeOfItsOwn(t *testing.T) {
	p := &recipes.KernelPlan{Name: "patched", Source: &recipes.LockedKernel{Source: recipes.LockedSource{SHA256: strings.Repeat("ab", 32)}},
		Patches: []string{"patches/0001-x.patch"}}
	unpatched := *p
	unpatched.Patches = nil
	if a, b := objectTreeID(p), objectTreeID(&unpatched); a == b || !strings.Contains(a, "patched") {
		t.Errorf("patched %s, unpatched %s", a, b)
	}
}
