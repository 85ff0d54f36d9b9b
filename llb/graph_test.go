package llb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/opencontainers/go-digest"

	"github.com/kforge/kforge/recipes"
)

// The built-in recipes, with their committed locks: every target's graph
// is built and marshalled without a daemon, as a solve would send it.
var builtinRecipes = []string{"builder.yaml", "kata-kernel.yaml", "kata-agent.yaml", "kata-tsn.yaml"}

func marshalTarget(t *testing.T, recipePath, target string) *bk.Definition {
	t.Helper()
	return marshalLocated(t, recipePath, target, nil)
}

// marshalLocated marshals a target with its ops placed in the recipe by
// locate (nil: no source map).
func marshalLocated(t *testing.T, recipePath, target string, locate func(*recipes.Recipe) func(string) bk.ConstraintsOpt) *bk.Definition {
	t.Helper()
	r, err := recipes.Load(recipePath)
	if err != nil {
		t.Fatal(err)
	}
	lockPath := recipes.LockPath(recipePath)
	lock, err := recipes.ReadLock(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	in := NewInputs(r, lock, lockPath)
	files, err := in.Plan(filepath.Dir(recipePath), target)
	if err != nil {
		t.Fatalf("%s: planning %s: %v", recipePath, target, err)
	}
	in.Digests = GuestDigests{Recipe: strings.Repeat("a", 64), Lock: strings.Repeat("b", 64)}
	in.Contexts = Contexts{
		Helper: Helper(bk.Local(HelperContextName, bk.SharedKeyHint(HelperContextName))),
		Recipe: bk.Local(RecipeContextName, bk.IncludePatterns(files), bk.SharedKeyHint(RecipeContextName)),
	}
	if locate != nil {
		in.Contexts.Locate = locate(r)
	}
	st, err := in.Target(target, &Fetches{Skip: map[string]int{}, Down: map[string]bool{}})
	if err != nil {
		t.Fatalf("%s: graph of %s: %v", recipePath, target, err)
	}
	// BuildKit gives each marshalled local a random local.unique, so that
	// the solves of two clients never share a local's vertex; the CLI keeps
	// that, and the test fixes it to compare the rest.
	def, err := st.Marshal(context.Background(), bk.LinuxAmd64, bk.LocalUniqueID("graph-test"))
	if err != nil {
		t.Fatalf("%s: marshalling %s: %v", recipePath, target, err)
	}
	return def
}

// Every step but a pinned fetch runs with the network off, and every input
// is a download with its sha256, a named context or an image by digest.
func TestBuiltinGraphsArePinnedAndOffline(t *testing.T) {
	eachBuiltinTarget(t, func(name, path, target string) {
		execs := 0
		for _, dt := range marshalTarget(t, path, target).Def {
			var op pb.Op
			if err := op.UnmarshalVT(dt); err != nil {
				t.Fatal(err)
			}
			if e := op.GetExec(); e != nil {
				execs++
				if e.GetNetwork() != pb.NetMode_NONE {
					t.Errorf("%s %s: step %v has network %v", name, target, e.GetMeta().GetArgs(), e.GetNetwork())
				}
			}
			if s := op.GetSource(); s != nil {
				if err := pinnedSource(s); err != nil {
					t.Errorf("%s %s: %v", name, target, err)
				}
			}
		}
		if execs == 0 {
			t.Errorf("%s %s: a graph with no steps", name, target)
		}
	})
}

// pinnedSource accepts a download with its sha256, one of kforge's named
// contexts, or an image by digest.
func pinnedSource(s *pb.SourceOp) error {
	id := s.GetIdentifier()
	switch {
	case strings.HasPrefix(id, "local://"):
		if n := strings.TrimPrefix(id, "local://"); n != HelperContextName && n != RecipeContextName {
			return fmt.Errorf("unknown named context %s", n)
		}
	case strings.HasPrefix(id, "http://"), strings.HasPrefix(id, "https://"):
		if !strings.HasPrefix(s.GetAttrs()[pb.AttrHTTPChecksum], "sha256:") {
			return fmt.Errorf("download %s is not pinned by sha256", id)
		}
	case strings.HasPrefix(id, "docker-image://"):
		if !strings.Contains(id, "@sha256:") {
			return fmt.Errorf("image %s is not pinned by digest", id)
		}
	default:
		return fmt.Errorf("source %s is neither a pinned download, a named context nor an image by digest", id)
	}
	return nil
}

// The same recipe and lock give the same definition, op for op.
func TestBuiltinGraphsAreDeterministic(t *testing.T) {
	eachBuiltinTarget(t, func(name, path, target string) {
		a, b := marshalTarget(t, path, target), marshalTarget(t, path, target)
		if da, db := definitionDigest(a), definitionDigest(b); da != db {
			t.Errorf("%s %s: two graphs of the same recipe: %s and %s", name, target, da, db)
		}
	})
}

// eachBuiltinTarget calls fn for every target of every built-in recipe.
func eachBuiltinTarget(t *testing.T, fn func(name, path, target string)) {
	t.Helper()
	for _, name := range builtinRecipes {
		path := filepath.Join("..", "recipes", name)
		r, err := recipes.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range TargetNames(r) {
			fn(name, path, target)
		}
		for _, test := range recipes.SortedKeys(r.Tests) {
			fn(name, path, recipes.TestTargetPrefix+test)
		}
	}
}

// definitionDigest is the digest of the definition's last op, which names
// its inputs by digest and so stands for the whole graph: BuildKit's cache
// keys follow from it.
func definitionDigest(def *bk.Definition) digest.Digest {
	return digest.FromBytes(def.Def[len(def.Def)-1])
}

// With a source map, every step carries the recipe line of what it builds,
// and the graph is otherwise the same: locations are metadata, so the CLI
// and the frontend share cache keys whether or not they map sources.
func TestSourceLocationsChangeNoOp(t *testing.T) {
	eachBuiltinTarget(t, func(name, path, target string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sm := bk.NewSourceMap(nil, name, "YAML", data)
		located := marshalLocated(t, path, target, func(r *recipes.Recipe) func(string) bk.ConstraintsOpt {
			return func(yamlPath string) bk.ConstraintsOpt {
				line, _ := r.Position(yamlPath)
				return sm.Location([]*pb.Range{{Start: &pb.Position{Line: int32(line)}, End: &pb.Position{Line: int32(line)}}})
			}
		})
		plain := marshalTarget(t, path, target)
		if a, b := definitionDigest(located), definitionDigest(plain); a != b {
			t.Errorf("%s %s: a source map changed the graph: %s and %s", name, target, a, b)
		}
		if located.Source == nil || len(located.Source.Infos) != 1 {
			t.Fatalf("%s %s: no source info in the definition", name, target)
		}
		for _, dt := range located.Def {
			var op pb.Op
			if err := op.UnmarshalVT(dt); err != nil {
				t.Fatal(err)
			}
			if op.GetExec() == nil {
				continue
			}
			locs := located.Source.Locations[digest.FromBytes(dt).String()]
			if locs == nil || len(locs.Locations) == 0 || locs.Locations[0].Ranges[0].Start.Line < 1 {
				t.Errorf("%s %s: step %v has no recipe line", name, target, op.GetExec().GetMeta().GetArgs()[:1])
			}
		}
	})
}
