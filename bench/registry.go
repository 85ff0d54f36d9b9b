package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runRegistry measures the delivery of the test guest's kata-containers.img
// through a Distribution registry on 127.0.0.1: kforge's push (a cached
// build with -o type=registry, so the export is included) and pull against
// `oras push` and `oras pull` of the same file to the same registry. kforge
// ships what a build exports, so its push includes the export of the cached
// target; the push stage alone is that less a cached -o type=local.
func runRegistry(kforge, buildkitd, fixtures, registryBin, orasBin string) error {
	f, err := lockedFixture(kforge, buildkitd, filepath.Join(fixtures, "rust"), "guest.yaml")
	if err != nil {
		return err
	}
	defer f.close()
	work, recipe, kf := f.work, f.recipe, f.kforge
	local := filepath.Join(work, "image")
	if _, err := kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=local,dest="+local); err != nil {
		return err
	}
	host, stop, err := startRegistry(registryBin, work)
	if err != nil {
		return err
	}
	defer stop()

	// Each measure is the median of three runs, each push to a repository
	// of its own so that no blob is skipped.
	const runs = 3
	var exported, push, opush, pull, opull []time.Duration
	for i := range runs {
		d, err := kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "again"))
		if err != nil {
			return err
		}
		exported = append(exported, d)
		ref := fmt.Sprintf("%s/bench/kforge-%d:v1", host, i)
		if d, err = kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=registry,name="+ref); err != nil {
			return err
		}
		push = append(push, d)
		oref := fmt.Sprintf("%s/bench/oras-%d:v1", host, i)
		orasPush := exec.Command(orasBin, "push", "--plain-http", "--artifact-type", "application/vnd.kforge.image.v1", oref, "kata-containers.img")
		orasPush.Dir = local
		if d, err = timed(orasPush); err != nil {
			return err
		}
		opush = append(opush, d)
		pulled := filepath.Join(work, fmt.Sprintf("kforge-pulled-%d", i))
		if d, err = kf("pull", ref, "-o", pulled); err != nil {
			return err
		}
		pull = append(pull, d)
		if d, err = timed(exec.Command(orasBin, "pull", "--plain-http", "-o", filepath.Join(work, fmt.Sprintf("oras-pulled-%d", i)), oref)); err != nil {
			return err
		}
		opull = append(opull, d)
	}
	stage := make([]time.Duration, runs)
	for i := range stage {
		stage[i] = push[i] - exported[i]
	}
	st, _ := os.Stat(filepath.Join(local, "kata-containers.img"))
	printRows(fmt.Sprintf("the test guest's kata-containers.img (%d MiB) through a registry on 127.0.0.1", st.Size()>>20), []row{
		{"push: cached build -o type=registry (vs oras push)", median(push), median(opush)},
		{"  its push stage: less a cached -o type=local (vs oras push)", median(stage), median(opush)},
		{"pull: kforge pull (vs oras pull)", median(pull), median(opull)},
	})
	return nil
}

// startRegistry runs Distribution on a free loopback port, plain HTTP and
// anonymous: what is measured is the transfer, not TLS or auth.
func startRegistry(bin, work string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := filepath.Join(work, "registry.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(work, "registry"), host)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s: %w (run `make test-deps`)", bin, err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return host, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("the registry did not come up on %s", host)
}
