package attest

import (
	"io/fs"
	"runtime/debug"

	kllb "github.com/kforge/kforge/llb"
)

// Describe is what the SBOM and provenance of a target's build say before
// its outputs are known: the recipe and lock by digest, the target, its
// platform, and its inputs collected from the graph and the recipe's
// directory (fsys). The CLI and the frontend describe a build alike.
func Describe(in *kllb.Inputs, target, kind, recipeFile string, fsys fs.FS, kforge, buildkit string) (*Build, error) {
	inputs, err := Collect(in, target, fsys)
	if err != nil {
		return nil, err
	}
	return &Build{
		Recipe: in.Recipe.Name, RecipeFile: recipeFile,
		RecipeSHA256: in.Digests.Recipe, LockSHA256: in.Digests.Lock,
		Target: target, Kind: kind, Platform: "linux/" + in.Recipe.TargetArchitecture(target),
		Created: in.Recipe.Created(), Inputs: inputs,
		Kforge: kforge, BuildKit: buildkit,
	}, nil
}

// Version is kforge's version as its documents name it: the module version
// it was built as, or devel.
func Version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "devel"
}
