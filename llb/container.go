package llb

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	bk "github.com/moby/buildkit/client/llb"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kforge/kforge/recipes"
)

// ContainerTree is a container target's filesystem: its base package set
// without the logs and caches of the installation, the recipe's files on
// top, copied by the helper into an empty tree with every time clamped to
// sourceDateEpoch. Exported as an image it is one layer, the same bytes on
// every daemon.
func ContainerTree(r *recipes.Recipe, name string, base bk.State, ctx Contexts) bk.State {
	c := r.Containers[name]
	at := ctx.at("$.containers." + name)
	tree := base.Run(
		bk.Args([]string{"/bin/sh", "-c", containerCleanup}),
		bk.Network(bk.NetModeNone),
		at,
		bk.WithCustomName(fmt.Sprintf("[%s] drop the logs and caches of the installation", name)),
	).Root()
	epoch := time.Unix(r.SourceDateEpoch, 0)
	for i, f := range c.Files {
		mode := bk.ChmodOpt{Mode: os.FileMode(f.ModeOrDefault())}
		tree = tree.File(bk.Copy(ctx.Recipe, "/"+f.Src, f.Dest, &bk.CopyInfo{
			Mode:           &mode,
			ChownOpt:       &bk.ChownOpt{User: &bk.UserOpt{UID: 0}, Group: &bk.UserOpt{UID: 0}},
			CreateDestPath: true,
			CreatedTime:    &epoch,
		}), ctx.at(fmt.Sprintf("$.containers.%s.files[%d]", name, i)),
			bk.WithCustomName(fmt.Sprintf("[%s] add %s as %s", name, f.Src, f.Dest)))
	}
	return helperOverTree(ctx, tree, at, fmt.Sprintf("[%s] one layer, times clamped to %d", name, r.SourceDateEpoch),
		"copy-tree", "--src", rootfsMount, "--dst", outDir, "--epoch", fmt.Sprint(r.SourceDateEpoch))
}

// containerCleanup removes what a package installation leaves that no
// image needs and that would differ between two builds: logs, caches and
// backup files of dpkg and debconf, and the machine id.
const containerCleanup = `set -eu
rm -f /etc/machine-id /var/lib/dbus/machine-id
find /var/log -type f -exec rm -f {} +
rm -rf ` + installLeftovers + "\n"

// installLeftovers are the caches and backups a package installation
// leaves, which differ between two builds and which no guest or image needs.
const installLeftovers = "/var/cache/ldconfig/aux-cache /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/cache/apt/*.bin"

// ContainerConfig is the image config of a container target: created at
// sourceDateEpoch, the base environment's architecture, and the recipe's
// env, entrypoint, cmd, working directory, user and labels. Its one
// history entry stands for the one layer.
func ContainerConfig(r *recipes.Recipe, name string) ocispec.Image {
	c := r.Containers[name]
	created := r.Created()
	env := maps.Clone(c.Env)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["PATH"]; !ok {
		env["PATH"] = recipes.DefaultPath
	}
	var envList []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}
	return ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: r.GuestArchitecture(name)},
		Config: ocispec.ImageConfig{
			Env:        envList,
			Entrypoint: c.Entrypoint,
			Cmd:        c.Cmd,
			WorkingDir: c.WorkingDir,
			User:       c.User,
			Labels:     c.Labels,
		},
		RootFS: ocispec.RootFS{Type: "layers"},
		History: []ocispec.History{{
			Created:   &created,
			CreatedBy: fmt.Sprintf("kforge: container %s of recipe %s, packages of environment %s", name, r.Name, c.Base),
		}},
	}
}
