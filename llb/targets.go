package llb

import (
	"fmt"
	"sort"
	"strings"

	bk "github.com/moby/buildkit/client/llb"

	"github.com/kforge/kforge/recipes"
)

// Target returns the graph of a named target of the recipe. Every
// environment is a target of its own name.
func Target(r *recipes.Recipe, lock *recipes.Lock, lockPath, name string, ctx Contexts, fetches *Fetches) (bk.State, error) {
	if _, ok := r.Environments[name]; ok {
		le, err := lock.Environment(r, lockPath, name)
		if err != nil {
			return bk.State{}, err
		}
		return Environment(r, le, name, ctx, fetches), nil
	}
	return bk.State{}, fmt.Errorf("%s has no target %q; its targets are: %s", r.Path, name, strings.Join(TargetNames(r), ", "))
}

// TargetNames lists the targets a recipe offers.
func TargetNames(r *recipes.Recipe) []string {
	var names []string
	for n := range r.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
