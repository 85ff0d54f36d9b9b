package recipes

import (
	"strings"
	"testing"
)

const guestRecipe = goodRecipe + `rust:
  agent:
    builder: builder
    source: agent
    crates: {directory: /usr/share/cargo/registry}
    kataAgent: {libc: gnu, seccomp: true}
rootfs:
  rootfs: {base: builder, agent: agent}
images:
  image: {rootfs: rootfs, builder: builder}
initrds:
  initrd: {rootfs: rootfs, compression: zstd}
`

func TestGuestRecipeParses(t *testing.T) {
	r, err := Parse("g.yaml", []byte(guestRecipe))
	if err != nil {
		t.Fatal(err)
	}
	if r.Rootfs["rootfs"].InitOrDefault() != "systemd" || !r.Images["image"].DAXOrDefault() || r.Initrds["initrd"].CompressionOrDefault() != "zstd" {
		t.Errorf("defaults: %+v %+v %+v", r.Rootfs, r.Images, r.Initrds)
	}
	if got := r.Rust["agent"].TargetOrDefault(); got != "x86_64-unknown-linux-gnu" {
		t.Errorf("agent target %s", got)
	}
	if got := r.Rust["agent"].FeaturesOrDefault(); len(got) != 1 || got[0] != "seccomp" {
		t.Errorf("agent features %v", got)
	}
}

func TestGuestRecipeErrorsNameTheirField(t *testing.T) {
	cases := []struct {
		old, new  string
		line, col int
		want      string
	}{
		{"{base: builder, agent: agent}", "{base: builder, agent: agent, init: openrc}", 17, 47, `init "openrc" is not systemd or agent`},
		{"{base: builder, agent: agent}", "{base: builder, agent: agent, init: agent}", 17, 47, "needs rust.agent.kataAgent.init: true"},
		{"{base: builder, agent: agent}", "{base: nope, agent: agent}", 17, 18, `base "nope" is not an environment`},
		{"image: {rootfs: rootfs, builder: builder}", "image: {rootfs: other, builder: builder}", 19, 19, `rootfs "other" is not a rootfs`},
		{"compression: zstd}", "compression: lz4}", 21, 41, `compression "lz4" is not gzip or zstd`},
		{"kataAgent: {libc: gnu", "kataAgent: {libc: uclibc", 15, 23, `libc "uclibc" is not musl or gnu`},
		{"  image: {rootfs", "  rootfs: {rootfs", 19, 11, "target names must be unique"},
	}
	for _, c := range cases {
		src := replaceOnce(t, guestRecipe, c.old, c.new)
		wantError(t, src, c.line, c.col, c.want)
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("no %q in the recipe", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestTemplatesNeedASourceArchive(t *testing.T) {
	src := replaceOnce(t, guestRecipe, "    kataAgent: {libc: gnu, seccomp: true}\n",
		"    kataAgent: {libc: gnu, seccomp: true}\n    templates: [{from: a.in, to: a, replace: {\"@V@\": \"1\"}}]\n")
	wantError(t, src, 16, 16, "templates write into the unpacked sourceArchive")
}

func TestTargetArchitecture(t *testing.T) {
	r, err := Parse("g.yaml", []byte(guestRecipe))
	if err != nil {
		t.Fatal(err)
	}
	r.Kernels = map[string]Kernel{"x86": {}, "arm": {Arch: "arm64"}}
	for target, want := range map[string]string{"image": "amd64", "rootfs": "amd64", "builder": "amd64", "x86": "amd64", "arm": "arm64"} {
		if arch := r.TargetArchitecture(target); arch != want {
			t.Errorf("%s: %s, want %s", target, arch, want)
		}
	}
	env := r.Environments["builder"]
	env.Architecture = "arm64"
	r.Environments["builder"] = env
	if arch := r.TargetArchitecture("image"); arch != "arm64" {
		t.Errorf("an image of an arm64 rootfs: %s", arch)
	}
}
