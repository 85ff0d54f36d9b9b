package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Values with characters that are special to sed and the shell are written
// literally; a placeholder missing from the template is an error.
func TestApplyTemplateReplacesPlaceholders(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "version.rs.in"), filepath.Join(dir, "version.rs")
	os.WriteFile(from, []byte(`pub const V: &str = "@AGENT_VERSION@";
pub const P: &str = "@BINDIR@/@AGENT_NAME@";
`), 0o644)
	replace := map[string]string{"@AGENT_VERSION@": `3.31.0 & more|\1 'q'`, "@BINDIR@": "/usr/bin", "@AGENT_NAME@": "kata-agent"}
	if err := ApplyTemplate(from, to, replace); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(to)
	want := "pub const V: &str = \"3.31.0 & more|\\1 'q'\";\npub const P: &str = \"/usr/bin/kata-agent\";\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	replace["@MISSING@"] = "x"
	os.Remove(to)
	err := ApplyTemplate(from, to, replace)
	if err == nil || !strings.Contains(err.Error(), "has no placeholder @MISSING@") {
		t.Errorf("a missing placeholder was not reported: %v", err)
	}
	if _, err := os.Stat(to); err == nil {
		t.Error("a failed template left its output behind")
	}
}
