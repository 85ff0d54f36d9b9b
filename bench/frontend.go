package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// runFrontend measures kforge under docker buildx against the kforge CLI on
// the same daemon: a no-op rebuild of the test guest's kata-containers.img
// through buildx and the gateway frontend (from a registry on 127.0.0.1)
// against the same rebuild through kforge build, and the frontend's start:
// `--call outline` through kforge's frontend against the same subrequest to
// BuildKit's built-in Dockerfile frontend, which starts no container.
func runFrontend(kforge, buildkitd, fixtures, registryBin, buildxBin string) error {
	f, err := lockedFixture(kforge, buildkitd, filepath.Join(fixtures, "rust"), "guest.yaml")
	if err != nil {
		return err
	}
	defer f.close()
	work, recipe, kf := f.work, f.recipe, f.kforge
	if _, err := kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "cli")); err != nil {
		return err
	}
	host, stop, err := startRegistry(registryBin, work)
	if err != nil {
		return err
	}
	defer stop()
	out, err := exec.Command(kforge, "frontend", "image", "-o", "type=registry,name="+host+"/kforge/frontend:bench").Output()
	if err != nil {
		return fmt.Errorf("kforge frontend image: %w", err)
	}
	ref := regexp.MustCompile(`\S+@sha256:[0-9a-f]{64}`).FindString(string(out))
	if ref == "" {
		return fmt.Errorf("kforge frontend image printed no digest: %s", out)
	}

	config := filepath.Join(work, "docker")
	os.MkdirAll(filepath.Join(config, "cli-plugins"), 0o755)
	abs, _ := filepath.Abs(buildxBin)
	if err := os.Symlink(abs, filepath.Join(config, "cli-plugins", "docker-buildx")); err != nil {
		return err
	}
	denv := []string{"DOCKER_CONFIG=" + config}
	sock := "unix://" + filepath.Join(work, "state", "buildkitd.sock")
	if _, err := timed(cmdEnv(denv, "docker", "buildx", "create", "--name", "bench", "--driver", "remote", "--use", sock)); err != nil {
		return fmt.Errorf("%w (run `make buildx`)", err)
	}
	buildx := func(args ...string) (time.Duration, error) {
		return timed(cmdEnv(denv, "docker", append([]string{"buildx"}, args...)...))
	}
	bxBuild := []string{"build", "-f", recipe, "--target", "image", "--build-arg", "BUILDKIT_SYNTAX=" + ref, "--progress", "quiet",
		"-o", "type=local,dest=" + filepath.Join(work, "buildx"), filepath.Dir(recipe)}
	if _, err := buildx(bxBuild...); err != nil { // pulls the frontend image once
		return err
	}
	dockerfile := filepath.Join(work, "plain")
	os.MkdirAll(dockerfile, 0o755)
	os.WriteFile(filepath.Join(dockerfile, "Dockerfile"), []byte("FROM scratch\nARG A=1\n"), 0o644)

	const runs = 3
	var cli, bx, outline, plain []time.Duration
	for range runs {
		d, err := kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "cli"))
		if err != nil {
			return err
		}
		cli = append(cli, d)
		if d, err = buildx(bxBuild...); err != nil {
			return err
		}
		bx = append(bx, d)
		if d, err = buildx("build", "-f", recipe, "--call", "outline", "--build-arg", "BUILDKIT_SYNTAX="+ref, filepath.Dir(recipe)); err != nil {
			return err
		}
		outline = append(outline, d)
		if d, err = buildx("build", "--call", "outline", dockerfile); err != nil {
			return err
		}
		plain = append(plain, d)
	}
	printRows("the test guest's kata-containers.img through docker buildx and kforge's frontend, on one daemon", []row{
		{"no-op rebuild: docker buildx build (vs kforge build)", median(bx), median(cli)},
		{"frontend start: --call outline (vs the Dockerfile frontend)", median(outline), median(plain)},
	})
	return nil
}
