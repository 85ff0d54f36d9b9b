package recipes

import (
	"errors"
	"strings"
	"testing"
)

const containerRecipe = goodRecipe + `kernels:
  kernel:
    builder: builder
    source: {local: linux}
    config: {base: tinyconfig}
containers:
  tool:
    base: builder
    files: [{src: tool.sh, dest: /usr/local/bin/tool, mode: "0755"}]
    cmd: [/bin/bash]
tests:
  boot:
    kernel: kernel
    rootfs: tool
    machine: {memory: 512, cpus: 2, nics: [igb, igb]}
    script: guide.sh
    checks:
      - {step: one, description: the first step, expect: ["^ok$"]}
`

func TestContainerRecipeParses(t *testing.T) {
	r, err := Parse("c.yaml", []byte(containerRecipe))
	if err != nil {
		t.Fatal(err)
	}
	if r.TargetKind("tool") != KindContainer || r.TargetKind("test:boot") != KindTest || r.TargetKind("boot") != "" {
		t.Errorf("kinds: tool %q, test:boot %q, boot %q", r.TargetKind("tool"), r.TargetKind("test:boot"), r.TargetKind("boot"))
	}
	if got := r.Containers["tool"].Files[0].ModeOrDefault(); got != 0o755 {
		t.Errorf("mode %o", got)
	}
	if m := r.Tests["boot"].Machine; m.MemoryOrDefault() != 512 || m.CPUsOrDefault() != 2 {
		t.Errorf("machine %+v", m)
	}
	if got := r.TargetPath("test:boot"); got != "$.tests.boot" {
		t.Errorf("path %s", got)
	}
	paths := r.LocalPaths("test:boot")
	for _, want := range []string{"linux", "tool.sh", "guide.sh"} {
		if !strings.Contains(strings.Join(paths, " "), want) {
			t.Errorf("local paths %q lack %s", paths, want)
		}
	}
}

// Each mistake is reported at its field, with what to do.
func TestContainerAndTestErrorsNameTheirField(t *testing.T) {
	cases := []struct{ old, new, field, want string }{
		{"base: builder\n    files", "base: nope\n    files", "base: nope", `base "nope" is not an environment`},
		{"dest: /usr/local/bin/tool", "dest: usr/bin/tool", "dest: usr/bin/tool", "must be a clean absolute path"},
		{`mode: "0755"`, `mode: "rwx"`, `mode: "rwx"`, "not an octal file mode"},
		{"kernel: kernel\n    rootfs", "kernel: kernal\n    rootfs", "kernel: kernal", `kernel "kernal" is not a kernel target`},
		{"rootfs: tool", "rootfs: toll", "rootfs: toll", `rootfs "toll" is not a rootfs, image, initrd or container target`},
		{"nics: [igb, igb]", "nics: [igb, rtl8139]", "rtl8139", `NIC "rtl8139" is not one of`},
		{`expect: ["^ok$"]`, `expect: ["(ok"]`, `"(ok"`, "is not a regular expression"},
		{"script: guide.sh", "script: ../guide.sh", "script: ../guide.sh", "must be a file inside the recipe's directory"},
	}
	for _, c := range cases {
		src := replaceOnce(t, containerRecipe, c.old, c.new)
		line := lineOf(t, src, c.field)
		_, err := Parse("r.yaml", []byte(src))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: want a positioned error, got %v", c.new, err)
			continue
		}
		if e.Line != line || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%s: error at line %d (want %d): %v", c.new, e.Line, line, err)
		}
	}
}

func lineOf(t *testing.T, src, s string) int {
	t.Helper()
	i := strings.Index(src, s)
	if i < 0 {
		t.Fatalf("no %q in the recipe", s)
	}
	return strings.Count(src[:i], "\n") + 1
}
