package gateway

import (
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kforge/kforge/recipes"
)

func TestBuildArgs(t *testing.T) {
	s, err := parseArgs(map[string]string{
		ArgMirror: "http://mirror.farm/kforge/", ArgOffline: "true",
		// What buildx and docker add on their own.
		"BUILDKIT_SYNTAX": "reg/kforge/frontend@sha256:00", "HTTP_PROXY": "http://proxy:3128", "no_proxy": "localhost",
		"SOURCE_DATE_EPOCH": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.mirror != "http://mirror.farm/kforge/sha256/" || !s.offline {
		t.Errorf("settings %+v", s)
	}
	for args, want := range map[*map[string]string]string{
		{"KERNEL_VERSION": "6.12"}:       `unknown build arg "KERNEL_VERSION"`,
		{ArgOffline: "yes please"}:       "give true or false",
		{ArgOffline: "1"}:                "needs KFORGE_MIRROR",
		{ArgMirror: "ftp://mirror/path"}: "http:// or https://",
	} {
		if _, err := parseArgs(*args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want %q", *args, err, want)
		}
	}
}

func TestTargetPlatforms(t *testing.T) {
	data, err := os.ReadFile("../../recipes/kata-kernel.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := recipes.Parse("kata-kernel.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	ps, err := targetPlatforms(r, "kernel", recipes.KindKernel, []ocispec.Platform{amd64, arm64})
	if err != nil || len(ps) != 2 || ps[1].arch != "arm64" || ps[1].id != "linux/arm64" {
		t.Fatalf("two kernel platforms: %+v, %v", ps, err)
	}
	if ps, err := targetPlatforms(r, "kernel", recipes.KindKernel, []ocispec.Platform{arm64}); err != nil || ps[0].id != "" || ps[0].arch != "arm64" {
		t.Errorf("one kernel platform gives one unnamed ref: %+v, %v", ps, err)
	}
	if _, err := targetPlatforms(r, "kernel", recipes.KindKernel, []ocispec.Platform{{OS: "linux", Architecture: "riscv64"}}); err == nil {
		t.Error("a riscv64 kernel was accepted")
	}
	if _, err := targetPlatforms(r, "image", recipes.KindImage, []ocispec.Platform{amd64}); err != nil {
		t.Errorf("the image's own platform: %v", err)
	}
	if _, err := targetPlatforms(r, "image", recipes.KindImage, []ocispec.Platform{arm64}); err == nil || !strings.Contains(err.Error(), "only a kernel") {
		t.Errorf("an arm64 image of an amd64 recipe: %v", err)
	}
}

// An empty mirror arg is no mirror: offline still needs one.
func TestEmptyMirrorArgIsNoMirror(t *testing.T) {
	s, err := parseArgs(map[string]string{ArgMirror: ""})
	if err != nil || s.mirror != "" {
		t.Errorf("mirror %q, %v", s.mirror, err)
	}
	if _, err := parseArgs(map[string]string{ArgMirror: "", ArgOffline: "true"}); err == nil {
		t.Error("offline with an empty mirror was accepted")
	}
}
