package llb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kforge/kforge/recipes"
)

// The template step is shell and sed: run it on a file with placeholders
// whose values hold sed's special characters.
func TestTemplateScriptReplacesPlaceholders(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "version.rs.in"), []byte(`pub const V: &str = "@AGENT_VERSION@";
pub const P: &str = "@BINDIR@/@AGENT_NAME@";
`), 0o644)
	tp := recipes.RustTemplate{From: "version.rs.in", To: "version.rs", Replace: map[string]string{
		"@AGENT_VERSION@": `3.31.0 & more|\1`, "@BINDIR@": "/usr/bin", "@AGENT_NAME@": "kata-agent"}}
	out, err := exec.Command("/bin/sh", "-c", "set -eu\n"+templateScript(dir, tp)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "version.rs"))
	want := "pub const V: &str = \"3.31.0 & more|\\1\";\npub const P: &str = \"/usr/bin/kata-agent\";\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	tp.Replace["@MISSING@"] = "x"
	out, err = exec.Command("/bin/sh", "-c", "set -eu\n"+templateScript(dir, tp)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "template version.rs.in has no placeholder @MISSING@") {
		t.Errorf("a missing placeholder was not reported: %v %s", err, out)
	}
}
