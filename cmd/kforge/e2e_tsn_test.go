package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/boottest"
)

// tsnRecipe is the built-in TSN recipe, with its committed lock.
func tsnRecipe() string { return filepath.Join(repoRoot, "recipes", "kata-tsn.yaml") }

// kata_tsn_image, built once as a docker tarball and an OCI layout.
var tsnImage struct {
	once         sync.Once
	docker, oci  string
	manifest     string // digest of the OCI layout's manifest
	buildLogTail string
}

func tsnImageOutputs(t *testing.T) (dockerTar, ociTar, manifest string) {
	t.Helper()
	tsnImage.once.Do(func() {
		dir, err := os.MkdirTemp(e2eTmp, "kforge-tsn-image-")
		if err != nil {
			t.Fatal(err)
		}
		docker, oci := filepath.Join(dir, "image.docker.tar"), filepath.Join(dir, "image.oci.tar")
		mustKforge(t, nil, "build", "-f", tsnRecipe(), "--target", "kata_tsn_image", "--progress", "plain",
			"-o", "type=docker,dest="+docker+",name=kata_tsn_image:test", "-o", "type=oci,dest="+oci)
		root, err := layoutRoot(oci)
		if err != nil {
			t.Fatal(err)
		}
		tsnImage.docker, tsnImage.oci, tsnImage.manifest = docker, oci, root.Digest.String()
	})
	if tsnImage.docker == "" {
		t.Fatal("building kata_tsn_image failed in an earlier test")
	}
	return tsnImage.docker, tsnImage.oci, tsnImage.manifest
}

// podman runs Debian's podman on a store of the test's own, with the
// settings these machines need (runc; rlimits that are not raised).
func podman(t *testing.T, root string, args ...string) result {
	t.Helper()
	base := []string{"--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run")}
	return runCommand(t, exec.Command("podman", append(base, args...)...))
}

// The guide's image runs under a real container runtime, and the tools
// the guide uses work in it.
func TestTSNImageRunsUnderPodman(t *testing.T) {
	e2e(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("no podman: run `make test-deps`")
	}
	docker, _, _ := tsnImageOutputs(t)
	store := t.TempDir()
	t.Cleanup(func() { podman(t, store, "system", "reset", "--force") })
	if r := podman(t, store, "load", "-i", docker); r.code != 0 {
		t.Fatalf("podman load failed:\n%s", r.stderr)
	}
	r := podman(t, store, "image", "inspect", "kata_tsn_image:test", "--format", "{{json .Config.Cmd}} {{.Created.Unix}} {{.Os}}/{{.Architecture}}")
	if got := strings.TrimSpace(r.stdout); got != `["/bin/bash"] 1700000000 linux/amd64` {
		t.Errorf("image config: %q, want the guide's Cmd, the recipe's epoch and linux/amd64", got)
	}
	run := func(args ...string) result {
		t.Helper()
		return podman(t, store, append([]string{"run", "--rm", "--runtime", "runc", "--network", "none",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "kata_tsn_image:test"}, args...)...)
	}
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"ptp4l", "-v"}, `^\d+\.\d+`, 0},
		{[]string{"tc", "-V"}, `^tc utility, iproute2-`, 0},
		// vconfig with no arguments prints its usage and exits 1.
		{[]string{"vconfig"}, `set_egress_map`, 1},
		{[]string{"python3", "-c", "import numpy, matplotlib, dateutil; print('imports ok')"}, `^imports ok$`, 0},
		// The default command is the guide's bash.
		{[]string{}, ``, 0},
	} {
		r := run(c.args...)
		if r.code != c.code || !regexp.MustCompile(`(?m)`+c.want).MatchString(r.stdout+r.stderr) {
			t.Errorf("podman run %v: exit %d (want %d), output %q does not match %s", c.args, r.code, c.code, lastLines(r.stdout+r.stderr, 5), c.want)
		}
	}
}

// The OCI layout holds one image: one layer, the config from the recipe,
// and manifest annotations that name the recipe and lock by sha256.
func TestTSNImageLayoutNamesItsRecipe(t *testing.T) {
	e2e(t)
	_, oci, _ := tsnImageOutputs(t)
	dir := t.TempDir()
	if err := unpackLayout(oci, dir); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &idx)
	var m ocispec.Manifest
	readJSONFile(t, blobPath(dir, idx.Manifests[0].Digest.String()), &m)
	if len(m.Layers) != 1 {
		t.Errorf("%d layers, want one", len(m.Layers))
	}
	if want := fileSHA256(t, tsnRecipe()); m.Annotations[artifact.AnnotationRecipeSHA256] != want {
		t.Errorf("recipe annotation %q, want the recipe's sha256 %s", m.Annotations[artifact.AnnotationRecipeSHA256], want)
	}
	if m.Annotations[artifact.AnnotationLockSHA256] != fileSHA256(t, strings.TrimSuffix(tsnRecipe(), ".yaml")+".lock") {
		t.Errorf("lock annotation %q", m.Annotations[artifact.AnnotationLockSHA256])
	}
	var img ocispec.Image
	readJSONFile(t, blobPath(dir, m.Config.Digest.String()), &img)
	if img.Created == nil || img.Created.Unix() != 1700000000 || len(img.History) != 1 {
		t.Errorf("config: created %v, %d history entries", img.Created, len(img.History))
	}
}

// A second daemon with an empty cache builds the very same image.
func TestTSNImageIsTheSameOnAnEmptyDaemon(t *testing.T) {
	e2e(t)
	_, _, want := tsnImageOutputs(t)
	env := []string{"KFORGE_STATE_DIR=" + t.TempDir()}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	oci := filepath.Join(t.TempDir(), "image.oci.tar")
	mustKforge(t, env, "build", "-f", tsnRecipe(), "--target", "kata_tsn_image", "--progress", "plain", "-o", "type=oci,dest="+oci)
	root, err := layoutRoot(oci)
	if err != nil {
		t.Fatal(err)
	}
	if root.Digest.String() != want {
		t.Errorf("the second daemon's image is %s, the first's %s", root.Digest, want)
	}
}

// The guide, step by step, in a booted guest: every check of the recipe's
// tsn test passes, and the report shows each step.
func TestTSNGuideInQEMU(t *testing.T) {
	e2e(t)
	reports := t.TempDir()
	r := kforge(t, nil, "test", "-f", tsnRecipe(), "--quiet", "--report", reports, "tsn")
	dir := filepath.Join(reports, "kata-tsn", "tsn")
	text, _ := os.ReadFile(filepath.Join(dir, "report.txt"))
	if r.code != 0 {
		t.Fatalf("kforge test failed (exit %d):\n%s\n%s", r.code, text, lastLines(r.stderr, 20))
	}
	var rep boottest.Report
	readJSONFile(t, filepath.Join(dir, "report.json"), &rep)
	if !rep.Passed || len(rep.Checks) == 0 {
		t.Fatalf("report: passed %v, %d checks", rep.Passed, len(rep.Checks))
	}
	steps := map[string]bool{}
	for _, s := range rep.Steps {
		steps[s.Name] = len(s.Output) > 0
	}
	for _, want := range []string{"channels", "taprio", "etf-offload", "etf", "vlan", "traffic", "ptp4l", "phc2sys", "tdc"} {
		if !steps[want] {
			t.Errorf("the report has no output of step %s", want)
		}
	}
	if !strings.Contains(string(text), "I210") {
		t.Errorf("the report does not say why etf offload is refused:\n%s", text)
	}
	t.Logf("report:\n%s", text)
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func blobPath(layout, digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(layout, "blobs", algo, hex)
}

// tsnVariant copies the TSN recipe, its lock and files into a directory of
// its own, with edits to the recipe, and returns its path.
func tsnVariant(t *testing.T, edits map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"fragments", "tsn"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(repoRoot, "recipes", sub), dir).CombinedOutput(); err != nil {
			t.Fatalf("copying %s: %v %s", sub, err, out)
		}
	}
	data, err := os.ReadFile(tsnRecipe())
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for old, new := range edits {
		if !strings.Contains(s, old) {
			t.Fatalf("no %q in the recipe", old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	p := filepath.Join(dir, "kata-tsn.yaml")
	os.WriteFile(p, []byte(s), 0o644)
	lock, _ := os.ReadFile(strings.TrimSuffix(tsnRecipe(), ".yaml") + ".lock")
	os.WriteFile(filepath.Join(dir, "kata-tsn.lock"), lock, 0o644)
	return p
}

// Mistakes in container targets and tests fail before any work, naming
// the recipe's line or the tool and what to do.
func TestContainerAndTestMistakesFailClearly(t *testing.T) {
	e2e(t)
	// A package that does not exist: at lock, which writes no lock.
	p := tsnVariant(t, map[string]string{"linuxptp, vlan,": "linuxptp, vlan, no-such-tsn-tool,"})
	os.Remove(strings.TrimSuffix(p, ".yaml") + ".lock")
	r := kforge(t, nil, "lock", "-f", p)
	if r.code == 0 || !strings.Contains(r.stderr, "no-such-tsn-tool") || !strings.Contains(r.stderr, "tsn-packages") {
		t.Errorf("lock with a missing package: exit %d\n%s", r.code, lastLines(r.stderr, 5))
	}
	noPath(t, strings.TrimSuffix(p, ".yaml")+".lock")

	// A test of a target that does not exist: at its line.
	p = tsnVariant(t, map[string]string{"rootfs: kata_tsn_image": "rootfs: kata_tsn_imag"})
	r = kforge(t, nil, "test", "-f", p)
	if r.code == 0 || !regexp.MustCompile(`kata-tsn\.yaml:\d+:\d+: rootfs "kata_tsn_imag" is not a rootfs, image, initrd or container target`).MatchString(r.stderr) {
		t.Errorf("a test of a missing target: exit %d\n%s", r.code, lastLines(r.stderr, 5))
	}

	// A missing script: at its line, before anything is built.
	p = tsnVariant(t, map[string]string{"script: tsn/guide.sh": "script: tsn/guide-missing.sh"})
	r = kforge(t, nil, "test", "-f", p, "--progress", "plain")
	if r.code == 0 || !regexp.MustCompile(`kata-tsn\.yaml:\d+:\d+: tsn/guide-missing\.sh does not exist`).MatchString(r.stderr) || strings.Contains(r.stderr, "#1 ") {
		t.Errorf("a missing script: exit %d\n%s", r.code, lastLines(r.stderr, 5))
	}

	// A QEMU without igb (Debian 12's own 7.2): the version and the fix,
	// before anything is built.
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(`#!/bin/sh
case "$1" in
--version) echo "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)";;
-device) echo 'name "e1000e", bus PCI, desc "Intel 82574L GbE Controller"';;
esac
`), 0o755)
	r = kforge(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, "test", "-f", tsnRecipe(), "--progress", "plain")
	for _, want := range []string{"QEMU 7.2.22", "no igb device", "QEMU 8.0 or newer", "bookworm-backports"} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("QEMU without igb: exit %d, no %q in\n%s", r.code, want, lastLines(r.stderr, 5))
		}
	}
	if strings.Contains(r.stderr, "#1 ") {
		t.Errorf("QEMU without igb: kforge built before it checked QEMU")
	}
}

// One push ships the TSN kernel artifact and kata_tsn_image together, both
// annotated with the recipe's sha256, and the oras CLI reads both.
func TestPushShipsKernelAndImageTogether(t *testing.T) {
	e2e(t)
	tsnImageOutputs(t)
	reg := sharedRegistry(t)
	r := mustKforge(t, reg.env(), "push", "-f", tsnRecipe(), "--ca-file", reg.CAFile, "--progress", "plain", reg.Host+"/kata-tsn:1")
	want := fileSHA256(t, tsnRecipe())
	for _, target := range []string{"tsn-kernel", "kata_tsn_image"} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(reg.Host+"/kata-tsn/"+target) + `@(sha256:[0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("the push printed no %s@sha256:... line:\n%s", target, r.stdout)
		}
		d := m[1]
		out := reg.mustOras(t, "manifest", "fetch", "--ca-file", reg.CAFile, reg.Host+"/kata-tsn/"+target+"@"+d)
		var manifest ocispec.Manifest
		if err := json.Unmarshal([]byte(out.stdout), &manifest); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if got := manifest.Annotations[artifact.AnnotationRecipeSHA256]; got != want {
			t.Errorf("%s: recipe annotation %q, want %s", target, got, want)
		}
		if !reg.hasTag(t, "kata-tsn/"+target, "1") {
			t.Errorf("%s: no tag 1", target)
		}
	}
}

// Under the gateway frontend, buildx's -o type=image pushes the same image
// as kforge build's OCI output, to the digest.
func TestBuildxPushesTheTSNImage(t *testing.T) {
	e2e(t)
	_, _, want := tsnImageOutputs(t)
	ref, _, _ := frontendImage(t)
	reg := plainRegistry(t)
	name := reg.Host + "/kata-tsn/image:buildx"
	r := dockerBuildx(t, "build", "-f", tsnRecipe(), "--target", "kata_tsn_image", "--build-arg", "BUILDKIT_SYNTAX="+ref,
		"--provenance=false", "--progress", "plain", "-o", "type=image,name="+name+",push=true,oci-mediatypes=true",
		filepath.Dir(tsnRecipe()))
	if r.code != 0 {
		t.Fatalf("docker buildx build -o type=image failed:\n%s", lastLines(r.stderr, 30))
	}
	out := runOras(t, nil, "manifest", "fetch", "--plain-http", "--descriptor", name)
	var desc ocispec.Descriptor
	if err := json.Unmarshal([]byte(out.stdout), &desc); err != nil {
		t.Fatalf("oras manifest fetch: %v\n%s", err, out.stderr)
	}
	if desc.Digest.String() != want {
		t.Errorf("buildx pushed %s, kforge build wrote %s", desc.Digest, want)
	}
}
