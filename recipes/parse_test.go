package recipes

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const goodRecipe = `# syntax=registry.example/kforge:1
apiVersion: kforge/v1
name: demo
debian:
  mirrors: [http://deb.debian.org/debian]
  suite: bookworm
environments:
  builder:
    packages: [gcc, make]
`

func TestParseAcceptsSyntaxLineAndDefaults(t *testing.T) {
	r, err := Parse("demo.yaml", []byte(goodRecipe))
	if err != nil {
		t.Fatal(err)
	}
	env := r.Environments["builder"]
	if env.ArchitectureOrDefault() != "amd64" || r.Debian.ComponentsOrDefault()[0] != "main" {
		t.Errorf("defaults not applied: %+v %+v", env, r.Debian)
	}
	if got := strings.Join(env.Packages, ","); got != "gcc,make" {
		t.Errorf("packages = %s", got)
	}
}

// wantError parses src and checks that the error is an *Error at line:col
// whose message contains each of the fragments.
func wantError(t *testing.T, src string, line, col int, fragments ...string) {
	t.Helper()
	_, err := Parse("r.yaml", []byte(src))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Line != line || e.Column != col {
		t.Errorf("error at %d:%d, want %d:%d: %v", e.Line, e.Column, line, col, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func TestParseMalformedYAMLHasLineAndColumn(t *testing.T) {
	src := strings.Replace(goodRecipe, "  suite: bookworm", "  suite: [bookworm", 1)
	_, err := Parse("r.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), "r.yaml:") {
		t.Fatalf("want a positioned error, got %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line == 0 || e.Column == 0 {
		t.Fatalf("want line and column, got %v", err)
	}
}

func TestParseUnknownFieldIsPositionedWithSuggestion(t *testing.T) {
	src := strings.Replace(goodRecipe, "    packages:", "    pakages:", 1)
	wantError(t, src, 9, 5, `unknown field "pakages"`, `did you mean "packages"`)
}

func TestParseValidationErrorsPointAtTheValue(t *testing.T) {
	wantError(t, strings.Replace(goodRecipe, "[gcc, make]", "[gcc, Make]", 1), 9, 21, `"Make" is not a Debian package name`)
	wantError(t, strings.Replace(goodRecipe, "kforge/v1", "kforge/v9", 1), 2, 13, `apiVersion is "kforge/v9"`)
	wantError(t, strings.Replace(goodRecipe, "http://deb.debian.org/debian", "ftp://x/debian", 1), 5, 13, "not an http:// or https:// URL")
	wantError(t, strings.Replace(goodRecipe, "[gcc, make]", "[gcc, gcc]", 1), 9, 21, "listed twice")
}

func TestParseRejectsDuplicateKeys(t *testing.T) {
	src := goodRecipe + "name: again\n"
	if _, err := Parse("r.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "r.yaml:") {
		t.Fatalf("want a positioned duplicate-key error, got %v", err)
	}
}

func TestBuiltinRecipesParse(t *testing.T) {
	for _, p := range []string{"builder.yaml", "../testdata/recipes/builder.yaml"} {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := Load("no-such.yaml"); err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSuitesAndSuiteSyntaxAreChecked(t *testing.T) {
	withSuites := strings.Replace(goodRecipe, "  suite: bookworm\n", "  suite: bookworm\n  suites:\n    - suite: bookworm-security\n      mirrors: [http://deb.debian.org/debian-security]\n    - suite: bookworm-backports\n", 1)
	r, err := Parse("r.yaml", []byte(strings.Replace(withSuites, "[gcc, make]", "[gcc, e2fsprogs/bookworm-backports]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	srcs := r.Debian.SuiteSources()
	if len(srcs) != 3 || srcs[2].Mirrors[0] != "http://deb.debian.org/debian" || srcs[1].Mirrors[0] != "http://deb.debian.org/debian-security" {
		t.Errorf("suite sources: %+v", srcs)
	}
	if m := r.Debian.MirrorsOfSuite("bookworm-security"); m[0] != "http://deb.debian.org/debian-security" {
		t.Errorf("mirrors of bookworm-security: %v", m)
	}
	if m := r.Debian.MirrorsOfSuite(""); m[0] != "http://deb.debian.org/debian" {
		t.Errorf("mirrors of a package locked without its suite: %v", m)
	}
	wantError(t, strings.Replace(goodRecipe, "[gcc, make]", "[gcc, e2fsprogs/bookworm-backports]", 1), 9, 21,
		`names suite "bookworm-backports", which the recipe does not have (its suites: bookworm)`, "add it under debian.suites")
	wantError(t, strings.Replace(withSuites, "[gcc, make]", "[gcc, e2fsprogs/bookworm-backport]", 1), 13, 21, "its suites: bookworm, bookworm-security, bookworm-backports")
	wantError(t, strings.Replace(withSuites, "suite: bookworm-backports", "suite: bookworm-security", 1), 10, 14, `suite "bookworm-security" is listed twice`)
}
