package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The tiny kernel as an OCI artifact in the TLS+auth registry, pushed once
// by the first test that needs it.
var pushedKernel struct {
	once   sync.Once
	ref    string // HOST/kforge/tiny:v1
	digest string
	layout string // the same build's -o type=oci,dest=FILE
	dir    string // and type=oci,tar=false
}

var pushedDigest = regexp.MustCompile(`(?m)^(\S+)@(sha256:[0-9a-f]{64})$`)

// pushDigest reads the REF@DIGEST line a registry output prints.
func pushDigest(t *testing.T, stdout, repo string) string {
	t.Helper()
	m := pushedDigest.FindStringSubmatch(stdout)
	if m == nil || m[1] != repo {
		t.Fatalf("the push printed no %s@sha256:... line:\n%s", repo, stdout)
	}
	return m[2]
}

func kernelArtifact(t *testing.T) (ref, digest string) {
	t.Helper()
	reg := sharedRegistry(t)
	pushedKernel.once.Do(func() {
		tinyKernel(t)
		// Not the first caller's TempDir: later tests read the layouts.
		out, err := os.MkdirTemp(e2eTmp, "kforge-kernel-artifact-")
		if err != nil {
			t.Fatal(err)
		}
		ref := reg.Host + "/kforge/tiny:v1"
		layout, dir := filepath.Join(out, "tiny.oci.tar"), filepath.Join(out, "tiny.oci")
		r := mustKforge(t, reg.env(), "build", "-f", lockedKernel(t), "--target", "tiny", "--progress", "plain", "--ca-file", reg.CAFile,
			"-o", "type=registry,name="+ref, "-o", "type=oci,dest="+layout, "-o", "type=oci,dest="+dir+",tar=false")
		pushedKernel.digest = pushDigest(t, r.stdout, reg.Host+"/kforge/tiny")
		pushedKernel.ref, pushedKernel.layout, pushedKernel.dir = ref, layout, dir
	})
	if pushedKernel.ref == "" {
		t.Fatal("pushing the tiny kernel failed in an earlier test")
	}
	return pushedKernel.ref, pushedKernel.digest
}

// sameTree fails unless every regular file and link of want is in got with
// the same bytes or target; links are skipped when files only is set. The
// SBOM and provenance beside a local output are no files of the artifact
// (they are its referrers) and are not looked for.
func sameTree(t *testing.T, want, got string, filesOnly bool) {
	t.Helper()
	entries, err := os.ReadDir(want)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		w, g := filepath.Join(want, e.Name()), filepath.Join(got, e.Name())
		if e.Name() == sbomFile || e.Name() == provenanceFile {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if filesOnly {
				continue
			}
			wl, _ := os.Readlink(w)
			gl, err := os.Readlink(g)
			if err != nil || gl != wl {
				t.Errorf("%s: link to %q, want %q (%v)", g, gl, wl, err)
			}
			continue
		}
		wd, _ := os.ReadFile(w)
		gd, err := os.ReadFile(g)
		if err != nil || !bytes.Equal(wd, gd) {
			t.Errorf("%s differs from the build's %s (%d and %d bytes, %v)", g, w, len(gd), len(wd), err)
		}
		wi, _ := os.Stat(w)
		if gi, err := os.Stat(g); err == nil && gi.Mode().Perm() != wi.Mode().Perm() {
			t.Errorf("%s: mode %o, want %o", g, gi.Mode().Perm(), wi.Mode().Perm())
		}
		n++
	}
	if n < 4 {
		t.Fatalf("%s has only %d files", want, n)
	}
}

func TestKernelArtifactThroughRegistry(t *testing.T) {
	e2e(t)
	reg := sharedRegistry(t)
	ref, digest := kernelArtifact(t)
	local := tinyKernel(t)
	ca := []string{"--ca-file", reg.CAFile}

	pulled := filepath.Join(t.TempDir(), "pulled")
	mustKforge(t, reg.env(), append([]string{"pull", ref, "-o", pulled}, ca...)...)
	sameTree(t, local, pulled, false)
	byDigest := filepath.Join(t.TempDir(), "by-digest")
	mustKforge(t, reg.env(), append([]string{"pull", reg.Host + "/kforge/tiny@" + digest, "-o", byDigest}, ca...)...)
	sameTree(t, local, byDigest, false)

	orasDir := t.TempDir()
	reg.mustOras(t, "pull", "--ca-file", reg.CAFile, "-o", orasDir, ref)
	sameTree(t, local, orasDir, true)
	manifest := reg.mustOras(t, "manifest", "fetch", "--ca-file", reg.CAFile, ref).stdout
	var m struct {
		ArtifactType string
		Config       struct{ MediaType string }
		Layers       []struct{ Annotations map[string]string }
		Annotations  map[string]string
	}
	if err := json.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatalf("oras manifest fetch: %v\n%s", err, manifest)
	}
	if m.ArtifactType != "application/vnd.kforge.kernel.v1" || m.Config.MediaType != "application/vnd.oci.empty.v1+json" {
		t.Errorf("artifactType %q, config %q", m.ArtifactType, m.Config.MediaType)
	}
	if m.Annotations["org.opencontainers.image.created"] != "2023-11-14T22:13:20Z" || !strings.HasPrefix(m.Annotations["org.opencontainers.image.version"], "6.1.") ||
		m.Annotations["dev.kforge.target"] != "tiny" || len(m.Annotations["dev.kforge.lock.sha256"]) != 64 {
		t.Errorf("manifest annotations: %v", m.Annotations)
	}
	links := 0
	for _, l := range m.Layers {
		if l.Annotations["dev.kforge.file.mode"] != "0644" {
			t.Errorf("layer %s has mode %q", l.Annotations["org.opencontainers.image.title"], l.Annotations["dev.kforge.file.mode"])
		}
		if l.Annotations["dev.kforge.file.links"] != "" {
			links++
		}
	}
	if links != 2 {
		t.Errorf("%d layers carry Kata's .container links, want 2 (vmlinux, vmlinuz)", links)
	}

	// The same build's OCI layouts hold the same manifest.
	if data, _ := os.ReadFile(filepath.Join(pushedKernel.dir, "index.json")); !strings.Contains(string(data), digest) {
		t.Errorf("the OCI layout directory's index.json does not name %s:\n%s", digest, data)
	}
	layoutIndex := tarFile(t, pushedKernel.layout, "index.json")
	if !strings.Contains(string(layoutIndex), digest) {
		t.Errorf("the OCI layout tar does not name %s:\n%s", digest, layoutIndex)
	}

	inspect := mustKforge(t, reg.env(), append([]string{"inspect", ref}, ca...)...).stdout
	for _, want := range []string{"kernel (application/vnd.kforge.kernel.v1)", digest, "vmlinuz-6.1.", "vmlinux.container", "linux/amd64"} {
		if !strings.Contains(inspect, want) {
			t.Errorf("inspect lacks %q:\n%s", want, inspect)
		}
	}

	// Install into Kata's layout, with the drop-in; again is a no-op.
	prefix, kataConfig := filepath.Join(t.TempDir(), "kata"), filepath.Join(t.TempDir(), "etc-kata")
	install := append([]string{"install", ref, "--prefix", prefix, "--kata-config", kataConfig}, ca...)
	mustKforge(t, reg.env(), install...)
	for _, link := range []string{"vmlinux.container", "vmlinuz.container"} {
		got, err := os.ReadFile(filepath.Join(prefix, link))
		want, _ := os.ReadFile(filepath.Join(local, link))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s in the prefix does not lead to the kernel's file: %v", link, err)
		}
	}
	dropIn, err := os.ReadFile(filepath.Join(kataConfig, "config.d", "50-kforge.toml"))
	if err != nil || !strings.Contains(string(dropIn), "[hypervisor.qemu]") || !strings.Contains(string(dropIn), "kernel = '"+prefix+"/vmlinux.container'") {
		t.Errorf("drop-in: %v\n%s", err, dropIn)
	}
	before, _ := os.Stat(filepath.Join(prefix, "vmlinux.container"))
	again := mustKforge(t, reg.env(), install...)
	if !strings.Contains(again.stderr, "already installed") {
		t.Errorf("a second install of the same digest did not say it changed nothing:\n%s", lastLines(again.stderr, 5))
	}
	after, _ := os.Stat(filepath.Join(prefix, "vmlinux.container"))
	if !before.ModTime().Equal(after.ModTime()) {
		t.Error("a second install rewrote the kernel")
	}
}

func TestMultiPlatformKernelIndex(t *testing.T) {
	e2e(t)
	reg := sharedRegistry(t)
	ref := reg.Host + "/kforge/tiny:multi"
	r := mustKforge(t, reg.env(), "build", "-f", lockedKernel(t), "--target", "tiny", "--platform", "linux/amd64,linux/arm64",
		"--progress", "plain", "--ca-file", reg.CAFile, "-o", "type=registry,name="+ref)
	pushDigest(t, r.stdout, reg.Host+"/kforge/tiny")
	inspect := mustKforge(t, reg.env(), "inspect", ref, "--ca-file", reg.CAFile).stdout
	if !strings.Contains(inspect, "linux/amd64 (sha256:") || !strings.Contains(inspect, "linux/arm64 (sha256:") {
		t.Errorf("inspect does not list both platforms:\n%s", inspect)
	}
	arm := filepath.Join(t.TempDir(), "arm64")
	mustKforge(t, reg.env(), "pull", ref, "--platform", "linux/arm64", "-o", arm, "--ca-file", reg.CAFile)
	image, err := os.ReadFile(filepath.Join(arm, "vmlinuz.container"))
	if err != nil || len(image) < 0x40 || string(image[0x38:0x3c]) != "ARM\x64" {
		t.Fatalf("the arm64 entry's vmlinuz.container is not an arm64 Image (%v)", err)
	}
	host := filepath.Join(t.TempDir(), "host")
	mustKforge(t, reg.env(), "pull", ref, "-o", host, "--ca-file", reg.CAFile)
	bz, _ := os.ReadFile(filepath.Join(host, "vmlinuz.container"))
	if len(bz) < 0x206 || string(bz[0x202:0x206]) != "HdrS" {
		t.Error("the host's entry is not an x86 bzImage")
	}
	r = kforge(t, reg.env(), "pull", ref, "--platform", "linux/s390x", "-o", filepath.Join(t.TempDir(), "none"), "--ca-file", reg.CAFile)
	if r.code == 0 || !strings.Contains(r.stderr, "linux/amd64, linux/arm64") {
		t.Errorf("a platform the index lacks: exit %d\n%s", r.code, lastLines(r.stderr, 3))
	}
}

func TestGuestImageAndInitrdThroughRegistry(t *testing.T) {
	e2e(t)
	reg := sharedRegistry(t)
	image, initrd, _, _ := guestOutputs(t)
	p := guestFixture.get(t)
	for _, target := range []string{"image", "initrd"} {
		mustKforge(t, reg.env(), "build", "-f", p, "--target", target, "--progress", "plain", "--ca-file", reg.CAFile,
			"-o", "type=registry,name="+reg.Host+"/kforge/guest-"+target+":v1")
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	mustKforge(t, reg.env(), "pull", reg.Host+"/kforge/guest-image:v1", "-o", filepath.Join(dir, "image"), "--ca-file", reg.CAFile)
	mustKforge(t, reg.env(), "pull", reg.Host+"/kforge/guest-initrd:v1", "-o", filepath.Join(dir, "initrd"), "--ca-file", reg.CAFile)
	for built, pulled := range map[string]string{image: filepath.Join(dir, "image", "kata-containers.img"), initrd: filepath.Join(dir, "initrd", "kata-containers-initrd.img")} {
		if fileSHA256(t, built) != fileSHA256(t, pulled) {
			t.Errorf("%s differs from the build's %s", pulled, built)
		}
	}
	bootGuest(t, "--image", filepath.Join(dir, "image", "kata-containers.img"), "--image-as", "nvdimm", "--memory", "1024")

	// Installed, the image and initrd take their links, and the drop-in
	// keeps one of the two, as Kata wants.
	prefix, kataConfig := filepath.Join(t.TempDir(), "kata"), t.TempDir()
	mustKforge(t, reg.env(), "install", reg.Host+"/kforge/guest-initrd:v1", "--prefix", prefix, "--kata-config", kataConfig, "--ca-file", reg.CAFile)
	mustKforge(t, reg.env(), "install", reg.Host+"/kforge/guest-image:v1", "--prefix", prefix, "--kata-config", kataConfig, "--ca-file", reg.CAFile)
	if fileSHA256(t, filepath.Join(prefix, "kata-containers.img")) != fileSHA256(t, image) {
		t.Error("kata-containers.img in the prefix is not the image")
	}
	if fileSHA256(t, filepath.Join(prefix, "kata-containers-initrd.img")) != fileSHA256(t, initrd) {
		t.Error("kata-containers-initrd.img in the prefix is not the initrd")
	}
	dropIn, _ := os.ReadFile(filepath.Join(kataConfig, "config.d", "50-kforge.toml"))
	if !strings.Contains(string(dropIn), "image = '"+prefix+"/kata-containers.img'") || !strings.Contains(string(dropIn), "initrd = ''") {
		t.Errorf("the drop-in after an image install:\n%s", dropIn)
	}

	// A rootfs ships as one tarball layer, in an OCI layout tar that two
	// builds write byte for byte alike.
	var layouts []string
	for range 2 {
		l := filepath.Join(t.TempDir(), "rootfs.oci.tar")
		mustKforge(t, nil, "build", "-f", p, "--target", "rootfs", "--progress", "plain", "-o", "type=oci,dest="+l+",name=v1")
		layouts = append(layouts, l)
	}
	if fileSHA256(t, layouts[0]) != fileSHA256(t, layouts[1]) {
		t.Error("two builds of the rootfs give different OCI layout tars")
	}
	var index struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(tarFile(t, layouts[0], "index.json"), &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("the rootfs layout's index.json: %v, %d manifests", err, len(index.Manifests))
	}
	rootfsManifest := tarFile(t, layouts[0], "blobs/sha256/"+strings.TrimPrefix(index.Manifests[0].Digest, "sha256:"))
	for _, want := range []string{`"artifactType":"application/vnd.kforge.rootfs.v1"`, `"mediaType":"application/vnd.kforge.rootfs.tar.v1"`, `"org.opencontainers.image.title":"rootfs.tar"`} {
		if !strings.Contains(string(rootfsManifest), want) {
			t.Errorf("the rootfs manifest lacks %s:\n%s", want, rootfsManifest)
		}
	}
	if index.Manifests[0].Digest != fmt.Sprintf("sha256:%x", sha256.Sum256(rootfsManifest)) {
		t.Error("index.json does not name the manifest by its digest")
	}

	// An environment stays an OCI image under the same outputs, and pull
	// says it is not an artifact.
	envRef := reg.Host + "/kforge/guest-env:v1"
	layoutDir := filepath.Join(t.TempDir(), "env.oci")
	mustKforge(t, reg.env(), "build", "-f", p, "--target", "guest", "--progress", "plain", "--ca-file", reg.CAFile,
		"-o", "type=registry,name="+envRef, "-o", "type=oci,dest="+layoutDir+",tar=false")
	if _, err := os.Stat(filepath.Join(layoutDir, "index.json")); err != nil {
		t.Errorf("the environment's OCI layout directory: %v", err)
	}
	manifest := reg.mustOras(t, "manifest", "fetch", "--ca-file", reg.CAFile, envRef).stdout
	if !strings.Contains(manifest, "application/vnd.oci.image.config.v1+json") {
		t.Errorf("the environment is not an OCI image:\n%s", manifest)
	}
	r := kforge(t, reg.env(), "pull", envRef, "-o", filepath.Join(t.TempDir(), "env"), "--ca-file", reg.CAFile)
	if r.code == 0 || !strings.Contains(r.stderr, "is a container image") {
		t.Errorf("pull of an environment image: exit %d\n%s", r.code, lastLines(r.stderr, 3))
	}
}

// reverseProxy passes requests to the registry and lets cut end a
// connection without an answer.
func reverseProxy(t *testing.T, reg *testRegistry, cut func(*http.Request) bool) string {
	pem, _ := os.ReadFile(reg.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	target, _ := url.Parse("https://" + reg.Host)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut(r) {
			panic(http.ErrAbortHandler)
		}
		// The registry writes upload locations with the scheme it was
		// reached by unless told the client's.
		r.Header.Set("X-Forwarded-Proto", "http")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestArtifactFailuresAreClear(t *testing.T) {
	e2e(t)
	reg := sharedRegistry(t)
	ref, _ := kernelArtifact(t)
	p := lockedKernel(t)
	build := func(env []string, name string) result {
		return kforge(t, env, "build", "-f", p, "--target", "tiny", "--progress", "plain", "--ca-file", reg.CAFile, "-o", "type=registry,name="+name)
	}
	t.Run("wrong credentials", func(t *testing.T) {
		r := build(reg.wrongCredentials(t), reg.Host+"/kforge/denied:v1")
		if r.code == 0 || !strings.Contains(r.stderr, "registry "+reg.Host+" refused") || !strings.Contains(r.stderr, "docker login "+reg.Host) {
			t.Errorf("exit %d:\n%s", r.code, lastLines(r.stderr, 4))
		}
		if reg.hasTag(t, "kforge/denied", "v1") {
			t.Error("a refused push left a tag")
		}
	})
	t.Run("unreachable registry", func(t *testing.T) {
		// The local output beside the push is not written either: the
		// registry is checked before the build.
		local := filepath.Join(t.TempDir(), "out")
		r := kforge(t, reg.env(), "build", "-f", p, "--target", "tiny", "--progress", "plain",
			"-o", "type=local,dest="+local, "-o", "type=registry,name=127.0.0.1:1/kforge/tiny:v1")
		if r.code == 0 || !strings.Contains(r.stderr, "cannot reach registry 127.0.0.1:1") {
			t.Errorf("exit %d:\n%s", r.code, lastLines(r.stderr, 4))
		}
		noPath(t, local)
	})
	t.Run("push cut before the tag", func(t *testing.T) {
		var mu sync.Mutex
		var puts []string // "blob" or "manifest", in the order they came
		proxy := reverseProxy(t, reg, func(r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				puts = append(puts, "blob")
			}
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				puts = append(puts, "manifest")
				return true
			}
			return false
		})
		cfg := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(reg.DockerConfig, "config.json"))
		os.WriteFile(filepath.Join(cfg, "config.json"), []byte(strings.ReplaceAll(string(data), reg.Host, proxy)), 0o600)
		r := build([]string{"DOCKER_CONFIG=" + cfg}, proxy+"/kforge/cut:v1")
		if r.code == 0 {
			t.Fatal("the cut push succeeded")
		}
		first := slices.Index(puts, "manifest")
		if first < 5 || slices.Contains(puts[first:], "blob") {
			t.Errorf("the push was not cut at its manifest after every blob: %v\n%s", puts, lastLines(r.stderr, 3))
		}
		if reg.hasTag(t, "kforge/cut", "v1") {
			t.Error("a push cut before its manifest left a tag")
		}
	})
	t.Run("blob altered in the registry", func(t *testing.T) {
		inspect := mustKforge(t, reg.env(), "inspect", ref, "--ca-file", reg.CAFile).stdout
		m := regexp.MustCompile(`(?m)^\s+(System\.map-\S+)\s+\d+\s+\d+\s+(sha256:[0-9a-f]{64})`).FindStringSubmatch(inspect)
		if m == nil {
			t.Fatalf("no System.map in:\n%s", inspect)
		}
		blob := reg.blobPath(m[2])
		orig, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(blob, orig, 0o644) })
		damaged := bytes.Clone(orig)
		damaged[len(damaged)/2] ^= 0xff
		os.WriteFile(blob, damaged, 0o644)
		dest := filepath.Join(t.TempDir(), "pulled")
		r := kforge(t, reg.env(), "pull", ref, "-o", dest, "--ca-file", reg.CAFile)
		if r.code == 0 || !strings.Contains(r.stderr, m[2]) || !strings.Contains(r.stderr, m[1]) || !strings.Contains(r.stderr, "does not match its digest") {
			t.Errorf("exit %d:\n%s", r.code, lastLines(r.stderr, 4))
		}
		noPath(t, dest)
		prefix := filepath.Join(t.TempDir(), "kata")
		r = kforge(t, reg.env(), "install", ref, "--prefix", prefix, "--ca-file", reg.CAFile)
		if r.code == 0 {
			t.Error("an install of a damaged artifact succeeded")
		}
		if _, err := os.Stat(prefix); !os.IsNotExist(err) {
			t.Errorf("a failed install left its prefix %s behind (%v)", prefix, err)
		}
	})
	t.Run("a container image", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), 0o644)
		os.WriteFile(filepath.Join(dir, "layer.tar"), make([]byte, 1024), 0o644)
		t.Chdir(dir)
		reg.mustOras(t, "push", "--ca-file", reg.CAFile, "--config", "config.json:application/vnd.oci.image.config.v1+json",
			reg.Host+"/kforge/not-an-artifact:v1", "layer.tar:application/vnd.oci.image.layer.v1.tar")
		dest := filepath.Join(dir, "pulled")
		r := kforge(t, reg.env(), "pull", reg.Host+"/kforge/not-an-artifact:v1", "-o", dest, "--ca-file", reg.CAFile)
		if r.code == 0 || !strings.Contains(r.stderr, "is a container image") {
			t.Errorf("exit %d:\n%s", r.code, lastLines(r.stderr, 4))
		}
		noPath(t, dest)
	})
	t.Run("install prefix that cannot be written", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "file")
		os.WriteFile(file, nil, 0o644)
		kataConfig := filepath.Join(dir, "etc")
		r := kforge(t, reg.env(), "install", ref, "--prefix", filepath.Join(file, "kata"), "--kata-config", kataConfig, "--ca-file", reg.CAFile)
		if r.code == 0 || !strings.Contains(r.stderr, "install prefix "+filepath.Join(file, "kata")+" cannot be written") {
			t.Errorf("exit %d:\n%s", r.code, lastLines(r.stderr, 4))
		}
		noPath(t, kataConfig)
	})
}
