package gateway

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/distribution/reference"
	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
)

// A named context stands in for a directory the recipe names, under that
// path as its name: `--build-context fragments=../kata/tools/packaging/kernel/configs/fragments`
// replaces the recipe's fragments/ (a Kata fragment tree, a patch
// directory, a kernel source or Rust project directory). The plan reads the
// named context there, and the build gets its files at that path.
type standIn struct {
	path string // the recipe's path, relative to its directory
	st   bk.State
	fs   contextFS
}

// standIns finds the named contexts given for the paths a target names.
func standIns(ctx context.Context, bc *dockerui.Client, paths []string) (map[string]*standIn, error) {
	found := map[string]*standIn{}
	for _, p := range paths {
		if _, err := reference.ParseNormalizedNamed(p); err != nil {
			continue // not a name a context can have
		}
		nc, err := bc.NamedContext(p, dockerui.ContextOpt{})
		if err != nil {
			return nil, fmt.Errorf("named context %s: %w", p, err)
		}
		if nc == nil {
			continue
		}
		st, _, err := nc.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("named context %s: %w", p, err)
		}
		def, err := st.Marshal(ctx)
		if err != nil {
			return nil, err
		}
		res, err := bc.GatewayClient().Solve(ctx, client.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, fmt.Errorf("loading the named context %s: %w", p, err)
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		found[p] = &standIn{path: p, st: *st, fs: contextFS{ctx: ctx, ref: ref}}
	}
	return found, nil
}

// under is the stand-in that holds name, and name relative to it.
func under(standIns map[string]*standIn, name string) (*standIn, string) {
	for p, s := range standIns {
		if name == p {
			return s, "."
		}
		if rel, ok := strings.CutPrefix(name, p+"/"); ok {
			return s, rel
		}
	}
	return nil, ""
}

// overlayFS reads the stand-ins' paths from their named contexts and the
// rest from the build context.
type overlayFS struct {
	contextFS
	standIns map[string]*standIn
}

func (o overlayFS) pick(name string) (contextFS, string) {
	if s, rel := under(o.standIns, name); s != nil {
		return s.fs, rel
	}
	return o.contextFS, name
}

func (o overlayFS) ReadFile(name string) ([]byte, error) {
	fsys, rel := o.pick(name)
	data, err := fsys.ReadFile(rel)
	return data, renamed(err, name)
}

func (o overlayFS) ReadDir(name string) ([]fsDirEntry, error) {
	fsys, rel := o.pick(name)
	entries, err := fsys.ReadDir(rel)
	return entries, renamed(err, name)
}

func (o overlayFS) Stat(name string) (fsFileInfo, error) {
	fsys, rel := o.pick(name)
	info, err := fsys.Stat(rel)
	return info, renamed(err, name)
}

func (o overlayFS) Open(name string) (fsFile, error) {
	fsys, rel := o.pick(name)
	f, err := fsys.Open(rel)
	return f, renamed(err, name)
}

// recipeState is the recipe directory the graph mounts: the build
// context's files, with each stand-in's files copied in at its path.
func recipeState(ctx context.Context, bc *dockerui.Client, files []string, standIns map[string]*standIn) (bk.State, error) {
	var own []string
	byStandIn := map[*standIn][]string{}
	for _, f := range files {
		if s, rel := under(standIns, f); s != nil {
			if rel == "." {
				rel = "**"
			}
			byStandIn[s] = append(byStandIn[s], rel)
			continue
		}
		own = append(own, f)
	}
	st := bk.Scratch()
	if len(own) > 0 {
		main, err := bc.MainContext(ctx, bk.IncludePatterns(own))
		if err != nil {
			return bk.State{}, err
		}
		st = *main
	}
	for _, p := range sortedKeys(standIns) {
		s, rels := standIns[p], byStandIn[standIns[p]]
		if len(rels) == 0 {
			continue
		}
		st = st.File(bk.Copy(s.st, "/", "/"+s.path+"/", &bk.CopyInfo{
			CopyDirContentsOnly: true, CreateDestPath: true, IncludePatterns: rels, AllowEmptyWildcard: true,
		}), bk.WithCustomName("[internal] named context "+s.path+" at "+path.Clean(s.path)+"/"))
	}
	return st, nil
}

func sortedKeys(m map[string]*standIn) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
