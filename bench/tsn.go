package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kforge/kforge/recipes"
)

// runTSN measures kata_tsn_image of recipes/kata-tsn.yaml: a cold build
// (new daemon, empty cache) and a warm rebuild, against the image's package
// set made the plain way, `debootstrap --variant=minbase` and then `apt-get
// install --no-install-recommends` of the same packages in the chroot (cold:
// empty caches; warm: debootstrap's --cache-dir and apt's archives filled).
// It prints the sizes beside: the image's one compressed layer, its tree,
// and the debootstrap tree.
func runTSN(kforge, buildkitd, recipePath string) error {
	r, err := recipes.Load(recipePath)
	if err != nil {
		return err
	}
	const target = "kata_tsn_image"
	c, ok := r.Containers[target]
	if !ok {
		return fmt.Errorf("%s has no container %s", recipePath, target)
	}
	pkgs := r.Environments[c.Base].Packages
	if err := ensureDebootstrap(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kforge-bench-tsn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	kenv := []string{"KFORGE_STATE_DIR=" + filepath.Join(work, "state"), "KFORGE_BUILDKITD=" + buildkitd}
	defer cmdEnv(kenv, kforge, "daemon", "stop").Run()
	build := func(name string) (time.Duration, error) {
		return timed(cmdEnv(kenv, kforge, "build", "-f", recipePath, "--target", target, "--progress", "quiet",
			"-o", "type=oci,dest="+filepath.Join(work, name+".oci.tar"), "-o", "type=local,dest="+filepath.Join(work, name)))
	}
	cold, err := build("k-cold")
	if err != nil {
		return err
	}
	warm, err := build("k-warm")
	if err != nil {
		return err
	}

	debCache := filepath.Join(work, "debcache")
	aptCache := filepath.Join(work, "aptcache")
	os.MkdirAll(debCache, 0o755)
	os.MkdirAll(aptCache, 0o755)
	plain := func(dir string, warm bool) (time.Duration, error) {
		root := filepath.Join(work, dir)
		start := time.Now()
		if _, err := timed(exec.Command("debootstrap", "--variant=minbase", "--cache-dir="+debCache, r.Debian.Suite, root, r.Debian.Mirrors[0])); err != nil {
			return 0, err
		}
		archives := filepath.Join(root, "var/cache/apt/archives")
		if warm {
			if err := sh("cp", "-a", aptCache+"/.", archives); err != nil {
				return 0, err
			}
		}
		install := exec.Command("chroot", append([]string{root, "apt-get", "install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
		install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if _, err := timed(install); err != nil {
			return 0, err
		}
		elapsed := time.Since(start)
		if !warm {
			if err := sh("cp", "-a", archives+"/.", aptCache); err != nil {
				return 0, err
			}
		}
		// The same cleanup the image gets, so that the sizes compare.
		sh("chroot", root, "apt-get", "clean")
		return elapsed, nil
	}
	dcold, err := plain("d-cold", false)
	if err != nil {
		return err
	}
	dwarm, err := plain("d-warm", true)
	if err != nil {
		return err
	}
	printRows(fmt.Sprintf("container %s of %s: %d packages requested", target, recipePath, len(pkgs)), []row{
		{"cold image build (vs debootstrap + apt-get install)", cold, dcold},
		{"warm rebuild (vs both from their caches)", warm, dwarm},
	})
	layer, err := layerSize(filepath.Join(work, "k-cold.oci.tar"))
	if err != nil {
		return err
	}
	tree, err := duBytes(filepath.Join(work, "k-cold"))
	if err != nil {
		return err
	}
	plainTree, err := duBytes(filepath.Join(work, "d-warm"))
	if err != nil {
		return err
	}
	fmt.Printf("\n%-58s %10s\n", "size", "MiB")
	fmt.Printf("%-58s %10.1f\n", "image layer (gzip)", float64(layer)/(1<<20))
	fmt.Printf("%-58s %10.1f\n", "image tree", float64(tree)/(1<<20))
	fmt.Printf("%-58s %10.1f   ratio %.2f\n", "debootstrap minbase + apt-get install tree", float64(plainTree)/(1<<20), float64(tree)/float64(plainTree))
	return nil
}

// layerSize is the size of the layers of an OCI layout tar's image.
func layerSize(layoutTar string) (int64, error) {
	out, err := exec.Command("tar", "-tvf", layoutTar).Output()
	if err != nil {
		return 0, err
	}
	// The largest blob is the layer; the config and manifest are small.
	var max int64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && strings.Contains(line, "blobs/") {
			if n, err := strconv.ParseInt(f[2], 10, 64); err == nil && n > max {
				max = n
			}
		}
	}
	return max, nil
}

func duBytes(dir string) (int64, error) {
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
}
