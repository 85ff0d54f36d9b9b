package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
)

// kernelDir lays out files as the kernel target exports them.
func kernelDir(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"vmlinux-6.1.99-1": "ELF " + arch, "vmlinuz-6.1.99-1": "bzImage " + arch, "config-6.1.99-1": "CONFIG_X=y\n",
		"System.map-6.1.99-1": "ffff T _text\n", "config-report-6.1.99-1.txt": "all landed\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("vmlinux-6.1.99-1", filepath.Join(dir, "vmlinux.container"))
	os.Symlink("vmlinuz-6.1.99-1", filepath.Join(dir, "vmlinuz.container"))
	return dir
}

func kernelMeta(arch string) Meta {
	return Meta{Kind: KindKernel, Target: "tiny", Recipe: "r", Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		RecipeSHA256: strings.Repeat("a", 64), LockSHA256: strings.Repeat("b", 64), Created: time.Unix(1700000000, 0), ConfigVersion: "1"}
}

// stage packs a kernel directory into a memory store, as a push would copy it.
func stage(t *testing.T, dir string, m Meta) (*memory.Store, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	s := NewStaging()
	desc, err := PackDir(ctx, s, dir, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New()
	if _, err := oras.Copy(ctx, s, "", mem, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	return mem, desc
}

func TestPackIsReproducibleAndRecordsFiles(t *testing.T) {
	a, b := kernelDir(t, "x86"), kernelDir(t, "x86")
	os.Chtimes(filepath.Join(b, "config-6.1.99-1"), time.Now(), time.Now())
	_, da := stage(t, a, kernelMeta("amd64"))
	mem, db := stage(t, b, kernelMeta("amd64"))
	if da.Digest != db.Digest {
		t.Fatalf("the same files give manifests %s and %s", da.Digest, db.Digest)
	}
	art, err := Open(context.Background(), mem, "v1", "test:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if art.Kind != KindKernel || len(art.Files) != 5 || art.Manifest.Config.MediaType != ocispec.MediaTypeEmptyJSON {
		t.Fatalf("kind %s, %d files, config %s", art.Kind, len(art.Files), art.Manifest.Config.MediaType)
	}
	if v := art.Manifest.Annotations[AnnotationVersion]; v != "6.1.99-1" {
		t.Errorf("version %q", v)
	}
	types := map[string]string{}
	for _, f := range art.Files {
		types[f.Name] = f.Layer.MediaType + " " + strings.Join(f.Links, ",")
	}
	if types["vmlinux-6.1.99-1"] != MediaVmlinux+" vmlinux.container" || types["config-report-6.1.99-1.txt"] != MediaConfigReport+" " {
		t.Errorf("layers: %v", types)
	}
}

func TestIndexSelectsPlatform(t *testing.T) {
	ctx := context.Background()
	s := NewStaging()
	var ds []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		m := kernelMeta(arch)
		d, err := PackDir(ctx, s, kernelDir(t, arch), nil, m)
		if err != nil {
			t.Fatal(err)
		}
		d.Platform = &m.Platform
		ds = append(ds, d)
	}
	if _, err := PackIndex(ctx, s, ds, kernelMeta("")); err != nil {
		t.Fatal(err)
	}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	a, err := Open(ctx, s, "", "test", &arm)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := a.Pull(ctx, s, out, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "vmlinuz.container")); string(data) != "bzImage arm64" {
		t.Errorf("pulled %q for arm64", data)
	}
	s390 := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	if _, err := Open(ctx, s, "", "test", &s390); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("a missing platform: %v", err)
	}
}

// damaged serves one blob with its first byte changed, as a registry with
// altered storage would.
type damaged struct {
	*memory.Store
	victim string
}

func (d damaged) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := d.Store.Fetch(ctx, desc)
	if err != nil || desc.Digest.String() != d.victim {
		return rc, err
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	data[0] ^= 0xff
	return io.NopCloser(bytes.NewReader(data)), nil
}

func TestPullVerifiesAndWritesNothingOnMismatch(t *testing.T) {
	ctx := context.Background()
	mem, _ := stage(t, kernelDir(t, "x86"), kernelMeta("amd64"))
	a, err := Open(ctx, mem, "v1", "test:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	err = a.Pull(ctx, damaged{mem, a.Files[2].Layer.Digest.String()}, out, nil)
	if err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("pull of a mismatched blob: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a failed pull created its destination")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Errorf("a failed pull left %d entries beside its destination", len(entries))
	}
}

func TestInstallIsIdempotentAndLinksLast(t *testing.T) {
	ctx := context.Background()
	mem, _ := stage(t, kernelDir(t, "x86"), kernelMeta("amd64"))
	a, err := Open(ctx, mem, "v1", "test:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix, cfg := t.TempDir(), t.TempDir()
	opt := InstallOptions{Prefix: prefix, KataConfig: cfg}
	changed, err := a.Install(ctx, mem, opt)
	if err != nil || !changed {
		t.Fatalf("first install: changed %v, %v", changed, err)
	}
	if data, _ := os.ReadFile(filepath.Join(prefix, "vmlinux.container")); string(data) != "ELF x86" {
		t.Errorf("vmlinux.container reads %q", data)
	}
	changed, err = a.Install(ctx, mem, opt)
	if err != nil || changed {
		t.Errorf("second install: changed %v, %v", changed, err)
	}
	dropIn, _ := os.ReadFile(filepath.Join(cfg, "config.d", DropInName))
	if !bytes.Contains(dropIn, []byte("kernel = '"+prefix+"/vmlinux.container'")) {
		t.Errorf("drop-in:\n%s", dropIn)
	}
}

func TestReadRefusesUnsafeTitlesAndContainerImages(t *testing.T) {
	for _, m := range []ocispec.Manifest{
		{ArtifactType: ArtifactTypes[KindKernel], Layers: []ocispec.Descriptor{{Annotations: map[string]string{AnnotationTitle: "../etc/passwd"}}}},
		{Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}},
	} {
		a := &Artifact{Ref: "x", Manifest: m}
		if err := a.readManifest(nil); err == nil {
			t.Errorf("accepted %+v", m)
		}
	}
	a := &Artifact{Ref: "x", Manifest: ocispec.Manifest{Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}}}
	if err := a.readManifest(nil); !strings.Contains(err.Error(), "is a container image") {
		t.Errorf("container image: %v", err)
	}
}

func TestLayoutTarIsReproducible(t *testing.T) {
	ctx := context.Background()
	sum := func() string {
		s := NewStaging()
		if _, err := PackDir(ctx, s, kernelDir(t, "x86"), nil, kernelMeta("amd64")); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "k.tar")
		if err := WriteLayout(ctx, s, s.Root(), dest, "v1", true, time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(dest)
		h := sha256.Sum256(data)
		return hex.EncodeToString(h[:])
	}
	if a, b := sum(), sum(); a != b {
		t.Errorf("two layouts of the same artifact: %s and %s", a, b)
	}
}

func TestDigestNamed(t *testing.T) {
	for name, want := range map[string]bool{
		"kata-containers-0123456789ab.img": true, "kata-containers-0123456789ab.imgx": false,
		"kata-containers-my-own.img": false, "kata-ubuntu-latest.image": false,
	} {
		if got := digestNamed(kataNames["kata-containers.img"], name); got != want {
			t.Errorf("digestNamed(%s) = %v", name, got)
		}
	}
	if !digestNamed(kataNames["kata-containers-initrd.img"], "kata-containers-initrd-0123456789ab.img") {
		t.Error("an initrd copy is not recognised")
	}
}

// A new image replaces the old behind kata-containers.img, and the old
// content-named copy goes.
func TestInstallReplacesImage(t *testing.T) {
	ctx := context.Background()
	prefix := t.TempDir()
	var first string
	for i, payload := range []string{"image one", "image two"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "kata-containers.img"), []byte(payload), 0o644)
		m := kernelMeta("amd64")
		m.Kind = KindImage
		mem, _ := stage(t, dir, m)
		a, err := Open(ctx, mem, "v1", "img", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Install(ctx, mem, InstallOptions{Prefix: prefix}); err != nil {
			t.Fatal(err)
		}
		target, _ := os.Readlink(filepath.Join(prefix, "kata-containers.img"))
		if data, _ := os.ReadFile(filepath.Join(prefix, target)); string(data) != payload {
			t.Fatalf("install %d: kata-containers.img -> %s reads %q", i, target, data)
		}
		if i == 0 {
			first = target
		} else if _, err := os.Stat(filepath.Join(prefix, first)); !os.IsNotExist(err) {
			t.Errorf("the replaced copy %s is still there", first)
		}
	}
}

// A failed install leaves no directory it made.
func TestFailedInstallRemovesWhatItMade(t *testing.T) {
	ctx := context.Background()
	mem, _ := stage(t, kernelDir(t, "x86"), kernelMeta("amd64"))
	a, err := Open(ctx, mem, "v1", "test:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	prefix, cfg := filepath.Join(root, "share", "kata"), filepath.Join(root, "etc", "kata")
	_, err = a.Install(ctx, damaged{mem, a.Files[1].Layer.Digest.String()}, InstallOptions{Prefix: prefix, KataConfig: cfg})
	if err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("install from a damaged registry: %v", err)
	}
	for _, dir := range []string{filepath.Join(root, "share"), filepath.Join(root, "etc")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is left after a failed install", dir)
		}
	}
}

// A layout directory replaces what was at its destination, whole.
func TestLayoutDirReplacesDestination(t *testing.T) {
	ctx := context.Background()
	s := NewStaging()
	desc, err := PackDir(ctx, s, kernelDir(t, "x86"), nil, kernelMeta("amd64"))
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "k.oci")
	os.MkdirAll(filepath.Join(dest, "stale"), 0o755)
	if err := WriteLayout(ctx, s, s.Root(), dest, "v1", false, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	index, _ := os.ReadFile(filepath.Join(dest, "index.json"))
	if !strings.Contains(string(index), desc.Digest.String()) || !strings.Contains(string(index), `"org.opencontainers.image.ref.name":"v1"`) {
		t.Errorf("index.json: %s", index)
	}
	if _, err := os.Stat(filepath.Join(dest, "stale")); !os.IsNotExist(err) {
		t.Error("the old destination's content is still there")
	}
	if _, err := os.Stat(filepath.Join(dest, "blobs", "sha256", desc.Digest.Encoded())); err != nil {
		t.Errorf("the manifest blob: %v", err)
	}
}
