// Command bench measures kforge against the plain tools on the same machine
// in the same run and prints the ratios: `make bench`.
//
// For the builder environment it times lock resolution, a cold build (new
// daemon, empty cache) and a warm rebuild, and as the baseline
// `debootstrap --variant=buildd` with the same packages: --print-debs for
// resolution, a full run for the cold build, and a run from a filled
// --cache-dir for the warm one.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kforge/kforge/recipes"
)

func main() {
	kforge := flag.String("kforge", "bin/kforge", "kforge binary")
	buildkitd := flag.String("buildkitd", "bin/buildkitd", "buildkitd binary")
	recipePath := flag.String("recipe", "recipes/builder.yaml", "recipe with the environment to measure")
	envName := flag.String("environment", "builder", "environment of the recipe")
	kernelRecipe := flag.String("kernel-recipe", "recipes/kata-kernel.yaml", "recipe with the kernel to measure")
	fixtures := flag.String("fixtures", "testdata/recipes", "directory of the test recipes (the Rust program and guest)")
	registryBin := flag.String("registry", "bin/registry", "Distribution registry binary, for the registry suite")
	orasBin := flag.String("oras", "bin/oras", "oras binary, the registry suite's baseline")
	buildxBin := flag.String("buildx", "bin/docker-buildx", "docker buildx plugin binary, for the frontend suite")
	tsnRecipe := flag.String("tsn-recipe", "recipes/kata-tsn.yaml", "recipe with kata_tsn_image, for the tsn suite")
	suite := flag.String("suite", "all", "what to measure: environment, kernel, agent, guest, registry, frontend, farm, tsn or all")
	flag.Parse()
	var err error
	if *suite == "all" || *suite == "environment" {
		err = run(*kforge, *buildkitd, *recipePath, *envName)
	}
	if err == nil && (*suite == "all" || *suite == "kernel") {
		err = runKernel(*kforge, *buildkitd, *kernelRecipe)
	}
	if err == nil && (*suite == "all" || *suite == "agent") {
		err = runAgent(*kforge, *buildkitd, *fixtures)
	}
	if err == nil && (*suite == "all" || *suite == "guest") {
		err = runGuest(*kforge, *buildkitd, *fixtures)
	}
	if err == nil && (*suite == "all" || *suite == "registry") {
		err = runRegistry(*kforge, *buildkitd, *fixtures, *registryBin, *orasBin)
	}
	if err == nil && (*suite == "all" || *suite == "frontend") {
		err = runFrontend(*kforge, *buildkitd, *fixtures, *registryBin, *buildxBin)
	}
	if err == nil && (*suite == "all" || *suite == "farm") {
		err = runFarm(*kforge, *buildkitd, *fixtures, *registryBin)
	}
	if err == nil && (*suite == "all" || *suite == "tsn") {
		err = runTSN(*kforge, *buildkitd, *tsnRecipe)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	what             string
	kforge, baseline time.Duration
}

func run(kforge, buildkitd, recipePath, envName string) error {
	r, err := recipes.Load(recipePath)
	if err != nil {
		return err
	}
	env, ok := r.Environments[envName]
	if !ok {
		return fmt.Errorf("%s has no environment %q", recipePath, envName)
	}
	if err := ensureDebootstrap(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kforge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// kforge, in a private copy of the recipe and a private daemon state.
	data, err := os.ReadFile(recipePath)
	if err != nil {
		return err
	}
	recipe := filepath.Join(work, "recipe.yaml")
	if err := os.WriteFile(recipe, data, 0o644); err != nil {
		return err
	}
	state := filepath.Join(work, "state")
	kenv := []string{"KFORGE_STATE_DIR=" + state, "KFORGE_BUILDKITD=" + buildkitd}
	defer cmdEnv(kenv, kforge, "daemon", "stop").Run()

	var rows []row
	lock, err := timed(cmdEnv(kenv, kforge, "lock", "-f", recipe))
	if err != nil {
		return err
	}
	build := func(dest string) (time.Duration, error) {
		return timed(cmdEnv(kenv, kforge, "build", "-f", recipe, "--target", envName, "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, dest)))
	}
	cold, err := build("k-cold")
	if err != nil {
		return err
	}
	warm, err := build("k-warm")
	if err != nil {
		return err
	}

	// The baseline.
	mirror := r.Debian.Mirrors[0]
	include := "--include=" + strings.Join(env.Packages, ",")
	debArgs := func(extra ...string) []string {
		return append([]string{"--variant=buildd", "--arch=" + env.ArchitectureOrDefault(), include}, extra...)
	}
	resolve, err := timed(exec.Command("debootstrap", append(debArgs("--print-debs"), r.Debian.Suite, filepath.Join(work, "d-print"), mirror)...))
	if err != nil {
		return err
	}
	cacheDir := filepath.Join(work, "debcache")
	os.MkdirAll(cacheDir, 0o755)
	dcold, err := timed(exec.Command("debootstrap", append(debArgs("--cache-dir="+cacheDir), r.Debian.Suite, filepath.Join(work, "d-cold"), mirror)...))
	if err != nil {
		return err
	}
	dwarm, err := timed(exec.Command("debootstrap", append(debArgs("--cache-dir="+cacheDir), r.Debian.Suite, filepath.Join(work, "d-warm"), mirror)...))
	if err != nil {
		return err
	}
	rows = append(rows,
		row{"lock resolution (vs debootstrap --print-debs)", lock, resolve},
		row{"cold build (vs debootstrap, empty cache)", cold, dcold},
		row{"warm rebuild (vs debootstrap from its --cache-dir)", warm, dwarm},
	)

	printRows(fmt.Sprintf("environment %q of %s: %d packages requested", envName, recipePath, len(env.Packages)), rows)
	return nil
}

// ensureDebootstrap installs debootstrap, the baseline of the package-set
// suites, when it is missing.
func ensureDebootstrap() error {
	if _, err := exec.LookPath("debootstrap"); err == nil {
		return nil
	}
	if err := sh("apt-get", "install", "-y", "-qq", "debootstrap"); err != nil {
		return fmt.Errorf("installing debootstrap for the baseline: %w", err)
	}
	return nil
}

func printRows(title string, rows []row) {
	fmt.Printf("\n%s\n\n", title)
	fmt.Printf("%-58s %10s %10s %8s\n", "measure", "kforge", "baseline", "ratio")
	for _, r := range rows {
		fmt.Printf("%-58s %9.2fs %9.2fs %8.2f\n", r.what, r.kforge.Seconds(), r.baseline.Seconds(), r.kforge.Seconds()/r.baseline.Seconds())
	}
}

// median is the middle of repeated measurements: on a noisy machine, what
// one run against another compares.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func cmdEnv(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = append(os.Environ(), env...)
	return c
}

func timed(c *exec.Cmd) (time.Duration, error) {
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "bench: %s\n", strings.Join(c.Args, " "))
	start := time.Now()
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(c.Args, " "), err)
	}
	return time.Since(start), nil
}

// timedOutput is timed, keeping a copy of what the command wrote.
func timedOutput(c *exec.Cmd) (time.Duration, string, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = io.MultiWriter(os.Stderr, &out), io.MultiWriter(os.Stderr, &out)
	fmt.Fprintf(os.Stderr, "bench: %s\n", strings.Join(c.Args, " "))
	start := time.Now()
	if err := c.Run(); err != nil {
		return 0, out.String(), fmt.Errorf("%s: %w", strings.Join(c.Args, " "), err)
	}
	return time.Since(start), out.String(), nil
}

// stepDuration finds a step in BuildKit's plain progress by the start of
// its name and returns the time its DONE line gives.
func stepDuration(progress, name string) (time.Duration, error) {
	m := regexp.MustCompile(`(?m)^#(\d+) ` + regexp.QuoteMeta(name)).FindStringSubmatch(progress)
	if m == nil {
		return 0, fmt.Errorf("no step %q in the build's progress", name)
	}
	done := regexp.MustCompile(`(?m)^#` + m[1] + ` DONE (\d+(?:\.\d+)?)s$`).FindStringSubmatch(progress)
	if done == nil {
		return 0, fmt.Errorf("step %q (#%s) did not finish in the build's progress", name, m[1])
	}
	secs, err := strconv.ParseFloat(done[1], 64)
	return time.Duration(secs * float64(time.Second)), err
}

func sh(name string, args ...string) error {
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	return c.Run()
}

// fixture is a copy of a test recipe's directory, locked, with a private
// daemon state: what the agent and guest suites measure.
type fixture struct {
	work, dir, recipe string
	env               []string // the private daemon's
	kforge            func(args ...string) (time.Duration, error)
	close             func()
}

func lockedFixture(kforge, buildkitd, src, recipeName string) (*fixture, error) {
	work, err := os.MkdirTemp("", "kforge-bench-")
	if err != nil {
		return nil, err
	}
	f := &fixture{work: work, dir: filepath.Join(work, "recipe")}
	f.recipe = filepath.Join(f.dir, recipeName)
	kenv := []string{"KFORGE_STATE_DIR=" + filepath.Join(work, "state"), "KFORGE_BUILDKITD=" + buildkitd}
	f.env = kenv
	f.kforge = func(args ...string) (time.Duration, error) { return timed(cmdEnv(kenv, kforge, args...)) }
	f.close = func() {
		cmdEnv(kenv, kforge, "daemon", "stop").Run()
		os.RemoveAll(work)
	}
	if err := sh("cp", "-a", src+"/.", f.dir); err != nil {
		f.close()
		return nil, err
	}
	if _, err := f.kforge("lock", "-f", f.recipe); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}
