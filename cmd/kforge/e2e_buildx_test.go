package main

// docker buildx against kforge's buildkitd with the kforge frontend image:
// the same files and cache as kforge build, subrequests, and recipe errors
// shown at their lines.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spdx/tools-golang/spdx"

	"github.com/kforge/kforge/internal/attest"
)

// buildxClient is a docker config directory with the buildx plugin and a
// remote builder at kforge's test daemon, made once.
var buildxClient struct {
	once   sync.Once
	config string
}

func buildxConfig(t *testing.T) string {
	t.Helper()
	buildxClient.once.Do(func() {
		bin := os.Getenv("KFORGE_TEST_BUILDX")
		if bin == "" {
			bin = filepath.Join(repoRoot, "bin", "docker-buildx")
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("no buildx at %s: run `make test-deps` (or set KFORGE_TEST_BUILDX)", bin)
		}
		dir, err := os.MkdirTemp(e2eTmp, "kforge-buildx-")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755)
		if err := os.Symlink(bin, filepath.Join(dir, "cli-plugins", "docker-buildx")); err != nil {
			t.Fatal(err)
		}
		// The daemon starts on kforge's first use; the kernel fixture's
		// lock needs none, its build does.
		tinyKernel(t)
		sock := "unix://" + filepath.Join(stateDir, "buildkitd.sock")
		cmd := exec.Command("docker", "buildx", "create", "--name", "kforge", "--driver", "remote", "--use", sock)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
		if r := runCommand(t, cmd); r.code != 0 {
			t.Fatalf("docker buildx create failed:\n%s", r.stderr)
		}
		buildxClient.config = dir
	})
	if buildxClient.config == "" {
		t.Fatal("setting up docker buildx failed in an earlier test")
	}
	return buildxClient.config
}

// dockerBuildx runs `docker buildx ARGS` with the kforge builder.
func dockerBuildx(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"buildx"}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+buildxConfig(t))
	return runCommand(t, cmd)
}

// The frontend image, pushed once to the plain local registry and written
// as an OCI layout directory.
var frontendBuilt struct {
	once      sync.Once
	ref       string // HOST/kforge/frontend@sha256:...
	layoutDir string
	digest    string
}

func frontendImage(t *testing.T) (ref, layoutDir, digest string) {
	t.Helper()
	frontendBuilt.once.Do(func() {
		reg := plainRegistry(t)
		dir, err := os.MkdirTemp(e2eTmp, "kforge-frontend-layout-")
		if err != nil {
			t.Fatal(err)
		}
		layout := filepath.Join(dir, "frontend")
		r := mustKforge(t, nil, "frontend", "image", "-o", "type=registry,name="+reg.Host+"/kforge/frontend:test",
			"-o", "type=oci,dest="+layout+",tar=false")
		d := pushDigest(t, r.stdout, reg.Host+"/kforge/frontend")
		if !strings.Contains(r.stdout, d+"\n") {
			t.Fatalf("the oci output did not print the digest %s:\n%s", d, r.stdout)
		}
		frontendBuilt.ref, frontendBuilt.layoutDir, frontendBuilt.digest = reg.Host+"/kforge/frontend@"+d, layout, d
	})
	if frontendBuilt.ref == "" {
		t.Fatal("building the frontend image failed in an earlier test")
	}
	return frontendBuilt.ref, frontendBuilt.layoutDir, frontendBuilt.digest
}

// buildxSteps are the kforge steps a buildx build ran rather than took from
// the cache: named "[target] ...", not BuildKit's "[internal] ..." loads.
func buildxSteps(t *testing.T, rawjson string) []string {
	var ran []string
	for _, name := range uncachedSteps(t, rawjson) {
		if strings.HasPrefix(name, "[") && !strings.HasPrefix(name, "[internal]") {
			ran = append(ran, name)
		}
	}
	return ran
}

// buildxBuild builds a target of a recipe with the frontend from the
// registry, named by digest, into a new directory.
func buildxBuild(t *testing.T, recipe, target string, extra ...string) (string, result) {
	t.Helper()
	ref, _, _ := frontendImage(t)
	out := filepath.Join(t.TempDir(), "out")
	// A proxy setting, as buildx passes it on from the environment, means
	// nothing to steps with no network and is ignored.
	args := append([]string{"build", "-f", recipe, "--target", target, "--build-arg", "BUILDKIT_SYNTAX=" + ref,
		"--build-arg", "HTTPS_PROXY=http://proxy.invalid:3128", "--progress", "rawjson", "-o", "type=local,dest=" + out}, extra...)
	r := dockerBuildx(t, append(args, filepath.Dir(recipe))...)
	if r.code != 0 {
		t.Fatalf("docker buildx build --target %s failed:\n%s", target, lastLines(r.stderr, 30))
	}
	return out, r
}

func TestBuildxBuildsTheCLIsKernelFromItsCache(t *testing.T) {
	e2e(t)
	cli := tinyKernel(t)
	out, r := buildxBuild(t, lockedKernel(t), "tiny")
	sameTree(t, cli, out, false)
	// kforge build ran every step before: the same graph has the same
	// cache keys, though the helper came from the frontend image here.
	if ran := buildxSteps(t, r.stderr); len(ran) > 0 {
		t.Errorf("buildx ran steps that kforge build had cached: %q", ran)
	}
}

func TestBuildxWithTheSyntaxLine(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	tinyKernel(t)
	// The recipe's own first line names the frontend; no build arg.
	p := kernelFixture.variant(t, map[string]string{"# A small kernel": "# syntax=" + ref + "\n# A small kernel"}, nil)
	out := filepath.Join(t.TempDir(), "out")
	r := dockerBuildx(t, "build", "-f", p, "--target", "tiny", "--progress", "rawjson", "-o", "type=local,dest="+out, filepath.Dir(p))
	if r.code != 0 {
		t.Fatalf("docker buildx build failed:\n%s", lastLines(r.stderr, 30))
	}
	sameTree(t, tinyKernel(t), out, false)
	if ran := buildxSteps(t, r.stderr); len(ran) > 0 {
		t.Errorf("a comment line changed the graph: buildx ran %q", ran)
	}
}

func TestBuildxBuildsTheCLIsGuestImageInitrdAndEnvironment(t *testing.T) {
	e2e(t)
	image, initrd, _, _ := guestOutputs(t)
	p := guestFixture.get(t)
	for target, want := range map[string]string{"image": image, "initrd": initrd} {
		out, _ := buildxBuild(t, p, target)
		if got, w := fileSHA256(t, filepath.Join(out, filepath.Base(want))), fileSHA256(t, want); got != w {
			t.Errorf("%s: buildx gave sha256 %s, kforge build %s", target, got, w)
		}
	}
	// A Debian environment as a tar, both ways.
	b := lockedBuilder(t)
	dir := t.TempDir()
	cliTar, bxTar := filepath.Join(dir, "cli.tar"), filepath.Join(dir, "buildx.tar")
	mustKforge(t, nil, "build", "-f", b, "--target", "builder", "--progress", "plain", "-o", "type=tar,dest="+cliTar)
	ref, _, _ := frontendImage(t)
	r := dockerBuildx(t, "build", "-f", b, "--target", "builder", "--build-arg", "BUILDKIT_SYNTAX="+ref, "-o", "type=tar,dest="+bxTar, filepath.Dir(b))
	if r.code != 0 {
		t.Fatalf("buildx environment build failed:\n%s", lastLines(r.stderr, 30))
	}
	if got, w := fileSHA256(t, bxTar), fileSHA256(t, cliTar); got != w {
		t.Errorf("the builder environment's tar: buildx %s, kforge build %s", got, w)
	}
}

func TestBuildxCrossBuildsArm64(t *testing.T) {
	e2e(t)
	p := lockedKernel(t)
	out, _ := buildxBuild(t, p, "tiny", "--platform", "linux/arm64")
	image, err := os.ReadFile(filepath.Join(out, "vmlinuz.container"))
	if err != nil {
		t.Fatal(err)
	}
	if len(image) < 0x40 || string(image[0x38:0x3c]) != "ARM\x64" {
		t.Fatalf("buildx --platform linux/arm64 gave no arm64 Image (%d bytes)", len(image))
	}
	cli := filepath.Join(t.TempDir(), "cli")
	mustKforge(t, nil, "build", "-f", p, "--target", "tiny", "--platform", "linux/arm64", "--progress", "plain", "-o", "type=local,dest="+cli)
	sameTree(t, cli, out, false)
}

func TestBuildxFrontendFromAnOCILayout(t *testing.T) {
	e2e(t)
	_, layout, digest := frontendImage(t)
	out := filepath.Join(t.TempDir(), "out")
	p := lockedKernel(t)
	// No registry: the gateway finds the syntax name among the named
	// contexts, and buildx serves the layout through the session.
	r := dockerBuildx(t, "build", "-f", p, "--target", "tiny", "--build-arg", "BUILDKIT_SYNTAX=kforge-frontend",
		"--build-context", "kforge-frontend=oci-layout://"+layout+"@"+digest, "-o", "type=local,dest="+out, filepath.Dir(p))
	if r.code != 0 {
		t.Fatalf("buildx with the frontend from an OCI layout failed:\n%s", lastLines(r.stderr, 30))
	}
	sameTree(t, tinyKernel(t), out, false)
}

func TestBuildxSubrequests(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	p := guestFixture.get(t)
	r := dockerBuildx(t, "build", "-f", p, "--call", "targets", "--build-arg", "BUILDKIT_SYNTAX="+ref, filepath.Dir(p))
	if r.code != 0 {
		t.Fatalf("--call targets failed:\n%s", r.stderr)
	}
	for _, want := range []string{"TARGET", "image", "Kata disk image", "initrd", "agent"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--call targets does not list %q:\n%s", want, r.stdout)
		}
	}
	r = dockerBuildx(t, "build", "-f", p, "--call", "outline", "--build-arg", "BUILDKIT_SYNTAX="+ref, filepath.Dir(p))
	if r.code != 0 || !strings.Contains(r.stdout, "KFORGE_MIRROR") {
		t.Errorf("--call outline does not list the build args (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Without --target the error lists the targets.
	kernel := lockedKernel(t)
	r = dockerBuildx(t, "build", "-f", kernel, "--build-arg", "BUILDKIT_SYNTAX="+ref, filepath.Dir(kernel))
	if r.code == 0 || !strings.Contains(r.stderr, "name a target with --target; its targets are: kbuilder, tiny") {
		t.Errorf("a build without --target (exit %d):\n%s", r.code, lastLines(r.stderr, 10))
	}
	// An unknown build arg is refused, naming those kforge reads.
	r = dockerBuildx(t, "build", "-f", kernel, "--target", "tiny", "--build-arg", "BUILDKIT_SYNTAX="+ref, "--build-arg", "KERNEL=6.12", filepath.Dir(kernel))
	if r.code == 0 || !strings.Contains(r.stderr, `unknown build arg "KERNEL"`) || !strings.Contains(r.stderr, "KFORGE_MIRROR") {
		t.Errorf("an unknown build arg (exit %d):\n%s", r.code, lastLines(r.stderr, 10))
	}

	// A lock out of date with the recipe: one more package requested.
	stale := kernelFixture.variant(t, map[string]string{"python3-kconfiglib,": "python3-kconfiglib, xz-utils,"}, nil)
	r = dockerBuildx(t, "build", "-f", stale, "--check", "--build-arg", "BUILDKIT_SYNTAX="+ref, filepath.Dir(stale))
	if r.code == 0 {
		t.Fatalf("--check passed a stale lock:\n%s%s", r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	if !strings.Contains(all, "LockOutOfDate") || !regexp.MustCompile(`kernel\.yaml:1[0-9]`).MatchString(all) || !strings.Contains(all, "kforge lock") {
		t.Errorf("--check does not name the stale lock at the environment's line with the fix:\n%s", all)
	}
}

func TestBuildxShowsRecipeErrorsAtTheirLines(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	lockedKernel(t)
	for _, c := range []struct {
		name    string
		replace map[string]string
		remove  string
		want    []string
	}{
		{"malformed", map[string]string{"  tiny:\n": "  tiny:\n   - [\n"}, "", []string{"kernel.yaml:"}},
		{"unknown field", map[string]string{"    builder: kbuilder": "    bulider: kbuilder"}, "", []string{"kernel.yaml:15", `unknown field "bulider"`, "bulider: kbuilder"}},
		{"missing lock", nil, "kernel.lock", []string{"kernel.lock", "kforge lock -f", "tiny:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := kernelFixture.variant(t, c.replace, nil)
			if c.remove != "" {
				os.Remove(filepath.Join(filepath.Dir(p), c.remove))
			}
			out := filepath.Join(t.TempDir(), "out")
			r := dockerBuildx(t, "build", "-f", p, "--target", "tiny", "--build-arg", "BUILDKIT_SYNTAX="+ref,
				"--progress", "plain", "-o", "type=local,dest="+out, filepath.Dir(p))
			if r.code == 0 {
				t.Fatal("buildx built a broken recipe")
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("buildx's error lacks %q:\n%s", w, lastLines(r.stderr, 25))
				}
			}
			// buildx prints the recipe's lines around the error.
			if !strings.Contains(r.stderr, "kernel.yaml:") || !strings.Contains(r.stderr, ">>>") {
				t.Errorf("buildx did not show the recipe lines:\n%s", lastLines(r.stderr, 25))
			}
			noPath(t, out)
		})
	}
}

// A bake file in the shape of the repository's docker-bake.hcl, over the
// test recipes: kernel, image and initrd in one `docker buildx bake`.
func TestBuildxBakeBuildsKernelImageAndInitrd(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	image, initrd, _, _ := guestOutputs(t)
	kernel, guest := lockedKernel(t), guestFixture.get(t)
	out := t.TempDir()
	bake := filepath.Join(out, "docker-bake.hcl")
	hcl := fmt.Sprintf(`variable "FRONTEND" {
  default = %[1]q
}
group "default" {
  targets = ["kernel", "image", "initrd"]
}
target "_guest" {
  context    = %[2]q
  dockerfile = "guest.yaml"
  args       = { BUILDKIT_SYNTAX = FRONTEND }
}
target "kernel" {
  context    = %[3]q
  dockerfile = "kernel.yaml"
  args       = { BUILDKIT_SYNTAX = FRONTEND }
  target     = "tiny"
  output     = ["type=local,dest=%[4]s/kernel"]
}
target "image" {
  inherits = ["_guest"]
  target   = "image"
  output   = ["type=local,dest=%[4]s/image"]
}
target "initrd" {
  inherits = ["_guest"]
  target   = "initrd"
  output   = ["type=local,dest=%[4]s/initrd"]
}
`, ref, filepath.Dir(guest), filepath.Dir(kernel), out)
	if err := os.WriteFile(bake, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	// The recipes and outputs are outside the working directory.
	if r := dockerBuildx(t, "bake", "-f", bake, "--allow", "fs=*", "--progress", "plain"); r.code != 0 {
		t.Fatalf("docker buildx bake failed:\n%s", lastLines(r.stderr, 30))
	}
	sameTree(t, tinyKernel(t), filepath.Join(out, "kernel"), false)
	for _, f := range []struct{ got, want string }{
		{filepath.Join(out, "image", "kata-containers.img"), image},
		{filepath.Join(out, "initrd", "kata-containers-initrd.img"), initrd},
	} {
		if fileSHA256(t, f.got) != fileSHA256(t, f.want) {
			t.Errorf("bake's %s differs from kforge build's", filepath.Base(f.got))
		}
	}
}

// A step that fails in the build (a patch that does not apply) is shown at
// the recipe line of its kernel, by buildx and by kforge build alike.
func TestBuildxShowsAFailingStepAtItsRecipeLine(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	p := kernelFixture.variant(t, map[string]string{"    config:\n": "    patches: [broken.patch]\n    config:\n"},
		map[string][]byte{"broken.patch": []byte("--- a/init/version.c\n+++ b/init/version.c\n@@ -1,3 +1,3 @@\n-this line is not in the file\n+nor is this one\n context\n")})
	r := dockerBuildx(t, "build", "-f", p, "--target", "tiny", "--build-arg", "BUILDKIT_SYNTAX="+ref, "--progress", "plain",
		"-o", "type=local,dest="+filepath.Join(t.TempDir(), "out"), filepath.Dir(p))
	cli := kforge(t, nil, "build", "-f", p, "--target", "tiny", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(t.TempDir(), "out"))
	for who, res := range map[string]result{"buildx": r, "kforge build": cli} {
		if res.code == 0 {
			t.Fatalf("%s applied a broken patch", who)
		}
		for _, want := range []string{"patch broken.patch does not apply", "kernel.yaml:15", ">>>     builder: kbuilder"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("%s's error lacks %q:\n%s", who, want, lastLines(res.stderr, 20))
			}
		}
	}
}

// A named context stands in for a directory the recipe names: Kata's
// fragment tree from elsewhere gives the same kernel.
func TestBuildxNamedContextStandsInForTheFragmentTree(t *testing.T) {
	e2e(t)
	p := kernelFixture.variant(t, nil, nil)
	elsewhere := filepath.Join(t.TempDir(), "kata-fragments")
	if err := os.Rename(filepath.Join(filepath.Dir(p), "fragments"), elsewhere); err != nil {
		t.Fatal(err)
	}
	out, _ := buildxBuild(t, p, "tiny", "--build-context", "fragments="+elsewhere)
	sameTree(t, tinyKernel(t), out, false)

	// Without it the tree is missing, and the error says where it looked.
	ref, _, _ := frontendImage(t)
	r := dockerBuildx(t, "build", "-f", p, "--target", "tiny", "--build-arg", "BUILDKIT_SYNTAX="+ref,
		"-o", "type=local,dest="+filepath.Join(t.TempDir(), "out"), filepath.Dir(p))
	if r.code == 0 || !strings.Contains(r.stderr, "Kata fragment tree fragments: no such file or directory") || !strings.Contains(r.stderr, "kernel.yaml:20") {
		t.Errorf("a missing fragment tree (exit %d):\n%s", r.code, lastLines(r.stderr, 15))
	}
}

// buildctl drives the frontend as BuildKit's own client does.
func TestBuildctlWithTheGatewayFrontend(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	p := lockedKernel(t)
	tinyKernel(t) // the daemon is up
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(filepath.Join(repoRoot, "bin", "buildctl"), "--addr", "unix://"+filepath.Join(stateDir, "buildkitd.sock"),
		"build", "--frontend", "gateway.v0", "--opt", "source="+ref, "--opt", "filename=kernel.yaml", "--opt", "target=tiny",
		"--local", "dockerfile="+filepath.Dir(p), "--local", "context="+filepath.Dir(p), "--output", "type=local,dest="+out)
	if r := runCommand(t, cmd); r.code != 0 {
		t.Fatalf("buildctl build failed:\n%s", lastLines(r.stderr, 20))
	}
	sameTree(t, tinyKernel(t), out, false)
}

// --no-cache is refused with what to do instead, at once: ignoring the
// cache on every op would re-solve the frontend's own image.
func TestBuildxNoCacheIsRefusedClearly(t *testing.T) {
	e2e(t)
	ref, _, _ := frontendImage(t)
	b := lockedBuilder(t)
	r := dockerBuildx(t, "build", "-f", b, "--target", "builder", "--no-cache", "--build-arg", "BUILDKIT_SYNTAX="+ref,
		"-o", "type=local,dest="+filepath.Join(t.TempDir(), "out"), filepath.Dir(b))
	if r.code == 0 || !strings.Contains(r.stderr, "--no-cache is not supported by the kforge frontend") || !strings.Contains(r.stderr, "docker buildx prune") {
		t.Errorf("--no-cache (exit %d):\n%s", r.code, lastLines(r.stderr, 10))
	}
}

// docker buildx build --sbom=true gets kforge's own SBOM, made from the lock
// with no scanner image: an in-toto statement beside the files, whose
// subjects are the exported files and whose SPDX predicate lists the same
// inputs as the SBOM that kforge build writes. --provenance gets BuildKit's
// own provenance beside it.
func TestBuildxSBOMIsKforgesFromTheLock(t *testing.T) {
	e2e(t)
	cli := tinyKernel(t)
	out, _ := buildxBuild(t, lockedKernel(t), "tiny", "--sbom=true", "--provenance=mode=min")
	sameTree(t, cli, out, false)
	data, err := os.ReadFile(filepath.Join(out, sbomFile))
	if err != nil {
		t.Fatalf("buildx --sbom=true wrote no %s: %v", sbomFile, err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string
			Digest map[string]string
		}
		Predicate json.RawMessage
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s is not an in-toto statement: %v", sbomFile, err)
	}
	if st.PredicateType != attest.PredicateSPDX {
		t.Errorf("predicate type %q, want %q", st.PredicateType, attest.PredicateSPDX)
	}
	subjects := map[string]string{}
	for _, s := range st.Subject {
		subjects[s.Name] = s.Digest["sha256"]
	}
	entries, _ := os.ReadDir(cli)
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == sbomFile || e.Name() == provenanceFile {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(cli, e.Name()))
		if sum := sha256.Sum256(data); subjects[e.Name()] != hex.EncodeToString(sum[:]) {
			t.Errorf("subject %s: sha256 %q, want the file's %x", e.Name(), subjects[e.Name()], sum)
		}
	}
	data, err = os.ReadFile(filepath.Join(out, provenanceFile))
	if err != nil {
		t.Errorf("buildx --provenance wrote no %s: %v", provenanceFile, err)
	} else if !strings.Contains(string(data), `"predicateType": "https://slsa.dev/provenance/`) {
		t.Errorf("%s is not a SLSA provenance statement:\n%s", provenanceFile, lastLines(string(data), 10))
	}
	got, err := attest.ReadSBOM(bytes.NewReader(st.Predicate))
	if err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(cli, sbomFile))
	want, err := attest.ReadSBOM(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sbomInputs(got), sbomInputs(want); strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("the buildx SBOM's inputs differ from kforge build's:\n%s", diffLines(strings.Join(g, "\n"), strings.Join(w, "\n")))
	} else if len(g) < 100 {
		t.Errorf("the SBOM lists only %d inputs; the kernel's builder alone has about 190 packages", len(g))
	}
}

// sbomInputs lists an SBOM's input packages by name, version and sha256.
func sbomInputs(doc *spdx.Document) []string {
	var inputs []string
	for _, p := range doc.Packages {
		if !strings.HasPrefix(string(p.PackageSPDXIdentifier), "input-") {
			continue
		}
		sum := ""
		for _, c := range p.PackageChecksums {
			sum += string(c.Algorithm) + ":" + c.Value
		}
		inputs = append(inputs, p.PackageName+" "+p.PackageVersion+" "+sum)
	}
	slices.Sort(inputs)
	return inputs
}
