package main

// End-to-end tests: they run the kforge binary against a real buildkitd
// (the one `make build` builds from go.mod), real runc and Debian's real
// archive. `go test -short` leaves them out; `make test` runs them.

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	kforgeBin string // the kforge binary under test, built statically
	stateDir  string // state of the daemon shared by the tests
	repoRoot  string
	// e2eTmp holds what tests share across the run (built outputs, fixture
	// copies); it goes when the run ends, so a run leaves nothing in /tmp.
	e2eTmp string
)

const debianMirror = "http://deb.debian.org/debian"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	code, err := runE2E(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runE2E(m *testing.M) (int, error) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	if os.Getenv("KFORGE_BUILDKITD") == "" {
		p := filepath.Join(repoRoot, "bin", "buildkitd")
		if _, err := os.Stat(p); err != nil {
			return 1, fmt.Errorf("no buildkitd: run `make build` first (or set KFORGE_BUILDKITD); the end-to-end tests need a real daemon")
		}
		os.Setenv("KFORGE_BUILDKITD", p)
	}
	tmp, err := os.MkdirTemp("", "kforge-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tmp)
	e2eTmp = tmp
	kforgeBin = filepath.Join(tmp, "kforge")
	// Built as the Makefile builds bin/kforge, so that both are the same
	// bytes and share BuildKit's cache of the steps the helper runs.
	build := exec.Command("go", "build", "-trimpath", "-o", kforgeBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 1, fmt.Errorf("building kforge: %v\n%s", err, out)
	}
	// A persistent state directory keeps BuildKit's cache between local runs;
	// CI starts from a clean checkout and so from a cold cache.
	stateDir = os.Getenv("KFORGE_TEST_STATE_DIR")
	if stateDir == "" {
		stateDir = filepath.Join(repoRoot, ".cache", "e2e-state")
	}
	// Kernel trees and guest images take tens of GB; when a run fails for
	// space, its output says how much there was.
	for _, dir := range []string{os.TempDir(), filepath.Dir(stateDir)} {
		os.MkdirAll(dir, 0o755)
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil {
			fmt.Fprintf(os.Stderr, "e2e: %.1f GB free under %s\n", float64(st.Bavail)*float64(st.Bsize)/1e9, dir)
		}
	}
	if err := writeE2EDaemonConfig(stateDir); err != nil {
		return 1, err
	}
	code := m.Run()
	stopRegistries()
	stop := exec.Command(kforgeBin, "daemon", "stop")
	stop.Env = append(os.Environ(), "KFORGE_STATE_DIR="+stateDir)
	stop.Run()
	return code, nil
}

// e2eDaemonConfig keeps the run's whole cache (about 25 GB: two kernel
// trees, the TSN image's tree and layers, guests). BuildKit's default
// collects down to 10 GB whenever the disk is under 20% free, and on a
// fuller disk that drops a kernel or the TSN image between the tests that
// share it, which then build it again.
const e2eDaemonConfig = `# written by kforge's end-to-end tests
[worker.oci]
  gc = true
  reservedSpace = "40GB"
  maxUsedSpace = "80GB"
  minFreeSpace = "2GB"
`

// writeE2EDaemonConfig gives the shared daemon that config unless its
// state directory has one of its own.
func writeE2EDaemonConfig(state string) error {
	p := filepath.Join(state, "buildkitd.toml")
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(e2eDaemonConfig), 0o644)
}

func e2e(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: run without -short")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// kforge runs the binary with the shared state directory unless env
// overrides it.
func kforge(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(kforgeBin, args...)
	cmd.Env = append(append(os.Environ(), "KFORGE_STATE_DIR="+stateDir), env...)
	return runCommand(t, cmd)
}

// runCommand runs a test's client command, its stderr also streamed to
// the verbose test log, and returns its output and exit code.
func runCommand(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, testLog{t})
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", filepath.Base(cmd.Path), err)
	}
	return r
}

// mustKforge runs kforge and fails the test on a non-zero exit.
func mustKforge(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := kforge(t, env, args...)
	if r.code != 0 {
		t.Fatalf("kforge %s: exit %d\n%s", strings.Join(args, " "), r.code, lastLines(r.stderr, 40))
	}
	return r
}

// testLog streams kforge's stderr into verbose test output, so that long
// builds show progress under `go test -v`.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeRecipe writes a recipe for one environment into a new directory.
func writeRecipe(t *testing.T, mirrors []string, packages ...string) string {
	t.Helper()
	dir := t.TempDir()
	var ms []string
	for _, m := range mirrors {
		ms = append(ms, "    - "+m)
	}
	src := fmt.Sprintf(`apiVersion: kforge/v1
name: e2e
debian:
  mirrors:
%s
  suite: bookworm
environments:
  builder:
    packages: [%s]
`, strings.Join(ms, "\n"), strings.Join(packages, ", "))
	p := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var builderPackages = []string{"build-essential", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "cpio", "kmod", "python3"}

var (
	builderOnce   sync.Once
	builderPath   string
	builderLocked []byte
)

// lockedBuilder returns the path of a recipe for the builder set of the
// acceptance criteria, locked afresh against Debian's mirror.
func lockedBuilder(t *testing.T) string {
	t.Helper()
	builderOnce.Do(func() {
		dir, err := os.MkdirTemp(e2eTmp, "kforge-builder-")
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "recipes", "builder.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "builder.yaml")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mustKforge(t, nil, "lock", "-f", p)
		builderLocked, _ = os.ReadFile(filepath.Join(dir, "builder.lock"))
		builderPath = p
	})
	if builderPath == "" {
		t.Fatal("locking the builder recipe failed in an earlier test")
	}
	return builderPath
}

// mirrorProxy is a Debian mirror on 127.0.0.1 that passes requests to the
// real archive and can damage what it serves.
type mirrorProxy struct {
	*httptest.Server
	mu       sync.Mutex
	damage   func(path string, body []byte) []byte // nil serves what the archive has
	requests []string
}

func newMirrorProxy(t *testing.T, damage func(path string, body []byte) []byte) *mirrorProxy {
	mp := &mirrorProxy{damage: damage}
	mp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mp.mu.Lock()
		mp.requests = append(mp.requests, r.URL.Path)
		mp.mu.Unlock()
		resp, err := http.Get(debianMirror + strings.TrimPrefix(r.URL.Path, "/debian"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && mp.damage != nil {
			body = mp.damage(r.URL.Path, body)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(mp.Close)
	return mp
}

// served reports whether any request path contained part.
func (mp *mirrorProxy) served(part string) bool {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	for _, r := range mp.requests {
		if strings.Contains(r, part) {
			return true
		}
	}
	return false
}

func noPath(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Errorf("%s exists after a failed command; it must not", p)
	}
	matches, _ := filepath.Glob(p + "*")
	matches2, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+"*"))
	if len(matches)+len(matches2) > 0 {
		t.Errorf("partial outputs left behind: %v %v", matches, matches2)
	}
}
