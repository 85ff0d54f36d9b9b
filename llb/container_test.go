package llb

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moby/buildkit/solver/pb"

	"github.com/kforge/kforge/recipes"
)

// kata_tsn_image's config is the guide's: bash as the command, created at
// the recipe's epoch, Debian's PATH, the base environment's architecture,
// one history entry for its one layer.
func TestContainerConfigOfTheTSNImage(t *testing.T) {
	r, err := recipes.Load(filepath.Join("..", "recipes", "kata-tsn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	img := ContainerConfig(r, "kata_tsn_image")
	if !slices.Equal(img.Config.Cmd, []string{"/bin/bash"}) {
		t.Errorf("cmd %q, want [/bin/bash]", img.Config.Cmd)
	}
	if want := time.Unix(r.SourceDateEpoch, 0).UTC(); img.Created == nil || !img.Created.Equal(want) {
		t.Errorf("created %v, want %v", img.Created, want)
	}
	if img.OS != "linux" || img.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", img.OS, img.Architecture)
	}
	if !slices.Contains(img.Config.Env, "PATH="+recipes.DefaultPath) {
		t.Errorf("env %q has no default PATH", img.Config.Env)
	}
	if len(img.History) != 1 || img.History[0].EmptyLayer || !img.History[0].Created.Equal(*img.Created) {
		t.Errorf("history %+v: want one entry for the one layer, at the epoch", img.History)
	}
}

// The image's filesystem is the helper's clamped copy, in a step of its
// own whose output is an empty mount: one layer with no runtime stubs.
func TestContainerTreeIsTheClampedCopy(t *testing.T) {
	def := marshalTarget(t, filepath.Join("..", "recipes", "kata-tsn.yaml"), "kata_tsn_image")
	var last *pb.ExecOp
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if e := op.GetExec(); e != nil {
			last = e
		}
	}
	if last == nil {
		t.Fatal("no steps")
	}
	args := last.GetMeta().GetArgs()
	if !slices.Contains(args, "copy-tree") || !slices.Contains(args, "1700000000") {
		t.Errorf("last step %q is not the helper's copy-tree at the recipe's epoch", args)
	}
}
