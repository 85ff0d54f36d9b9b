// Package daemon connects kforge to BuildKit: the daemon named by BUILDKIT_HOST
// or --addr, or else a local buildkitd that kforge starts, reuses and stops
// itself, with its state and log in one directory.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"
)

// Local is a buildkitd managed by kforge.
type Local struct {
	Dir       string // state directory: root/, buildkitd.sock, buildkitd.log, buildkitd.pid, and an optional buildkitd.toml
	Buildkitd string // path of the buildkitd binary; found by FindBuildkitd when empty
}

// DefaultDir is the state directory of the managed daemon: $KFORGE_STATE_DIR,
// else $XDG_STATE_HOME/kforge, else ~/.local/state/kforge.
func DefaultDir() string {
	if d := os.Getenv("KFORGE_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kforge")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kforge")
	}
	return filepath.Join(home, ".local", "state", "kforge")
}

func (l *Local) Socket() string  { return filepath.Join(l.Dir, "buildkitd.sock") }
func (l *Local) Address() string { return "unix://" + l.Socket() }
func (l *Local) LogPath() string { return filepath.Join(l.Dir, "buildkitd.log") }
func (l *Local) pidPath() string { return filepath.Join(l.Dir, "buildkitd.pid") }
func (l *Local) root() string    { return filepath.Join(l.Dir, "root") }

// Config is BuildKit's own config file for the managed daemon, and whether
// it is there to be read at start: a farm sets its garbage-collection policy
// (the cache of kernel build trees runs to tens of GB), registry mirrors or
// worker options there without kforge having a flag for each.
func (l *Local) Config() (string, bool) {
	p := filepath.Join(l.Dir, "buildkitd.toml")
	_, err := os.Stat(p)
	return p, err == nil
}

// FindBuildkitd looks for buildkitd in $KFORGE_BUILDKITD, beside the kforge
// executable, then on PATH.
func FindBuildkitd() (string, error) {
	if p := os.Getenv("KFORGE_BUILDKITD"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "buildkitd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("buildkitd"); err == nil {
		return p, nil
	}
	return "", errors.New("buildkitd not found: run `make build` (it builds bin/buildkitd beside bin/kforge from the BuildKit version in go.mod), set KFORGE_BUILDKITD, or point kforge at a running daemon with --addr or BUILDKIT_HOST")
}

// PID returns the pid of the managed daemon if it is running.
func (l *Local) PID() (int, bool) {
	data, err := os.ReadFile(l.pidPath())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, false
	}
	// A pid file outlives a daemon killed without kforge: make sure the pid
	// is still this state directory's buildkitd, not a process that reused it.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), l.root()) {
		return 0, false
	}
	return pid, true
}

// Ensure returns a client of the managed daemon, starting it first when it
// is not running.
func (l *Local) Ensure(ctx context.Context, progress func(string)) (*client.Client, error) {
	if _, running := l.PID(); running {
		c, err := connect(ctx, l.Address(), 10*time.Second)
		if err == nil {
			if msg := l.proxyMismatch(); msg != "" && progress != nil {
				progress("warning: " + msg)
			}
			return c, nil
		}
		return nil, fmt.Errorf("the kforge buildkitd is running but does not answer on %s: %v; see %s, or run `kforge daemon stop`", l.Address(), err, l.LogPath())
	}
	if err := l.start(progress); err != nil {
		return nil, err
	}
	c, err := connect(ctx, l.Address(), 60*time.Second)
	if err != nil {
		return nil, fmt.Errorf("buildkitd did not come up: %v\nlast lines of %s:\n%s", err, l.LogPath(), tail(l.LogPath(), 15))
	}
	return c, nil
}

func (l *Local) start(progress func(string)) error {
	if _, err := exec.LookPath("runc"); err != nil {
		return errors.New("runc not found on PATH: BuildKit needs it to run build steps; install it with `apt-get install runc` (or `make deps`)")
	}
	bin := l.Buildkitd
	if bin == "" {
		var err error
		if bin, err = FindBuildkitd(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(l.root(), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(l.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n--- kforge starting %s at %s ---\n", bin, time.Now().UTC().Format(time.RFC3339))
	_ = os.Remove(l.Socket())
	args := []string{
		"--root", l.root(),
		"--addr", l.Address(),
		"--oci-worker=true", "--containerd-worker=false",
		"--oci-worker-snapshotter=overlayfs",
	}
	config, hasConfig := l.Config()
	if hasConfig {
		args = append(args, "--config", config)
		fmt.Fprintf(logf, "using %s\n", config)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: the daemon outlives this kforge process and is
	// reused by the next one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if progress != nil {
		msg := fmt.Sprintf("starting buildkitd (state and log in %s)", l.Dir)
		if env := ProxyEnv(); env != "" {
			msg += "; it fetches through " + strings.Join(strings.Fields(env), " ")
		}
		progress(msg)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := os.WriteFile(l.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return err
	}
	if err := l.recordProxy(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Give a daemon that dies at once (bad flags, no overlayfs, no permission)
	// the chance to say so before clients try to connect.
	select {
	case err := <-exited:
		msg := startFailure(l.LogPath())
		if msg == "" {
			return fmt.Errorf("buildkitd exited at start (%v); last lines of %s:\n%s", err, l.LogPath(), tail(l.LogPath(), 15))
		}
		if hasConfig {
			msg += "\nit read " + config + ": fix or remove it if the message is about the config"
		}
		return fmt.Errorf("buildkitd exited at start: %s\n(see %s)", msg, l.LogPath())
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

// Stop ends the managed daemon and waits for it to go.
func (l *Local) Stop() (bool, error) {
	pid, running := l.PID()
	if !running {
		_ = os.Remove(l.pidPath())
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			_ = os.Remove(l.pidPath())
			return true, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(l.pidPath())
	return true, nil
}

// TLS is how kforge proves itself to a daemon at a tcp:// address and
// checks the daemon, as buildctl's --tlscacert, --tlscert and --tlskey do.
type TLS struct {
	CACert     string // PEM file of the CA that signed the daemon's certificate
	Cert, Key  string // kforge's client certificate and key, for mTLS
	ServerName string // the name in the daemon's certificate; default: the address's host
}

func (t TLS) options(addr string) ([]client.ClientOpt, error) {
	var opts []client.ClientOpt
	if t.CACert == "" && t.Cert == "" && t.Key == "" {
		return nil, nil
	}
	if !strings.HasPrefix(addr, "tcp://") {
		return nil, fmt.Errorf("--tlscacert, --tlscert and --tlskey apply to a daemon at tcp://HOST:PORT, not %s", addr)
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, fmt.Errorf("--tlscert and --tlskey go together: give both, or neither")
	}
	for _, f := range []struct{ flag, path string }{{"--tlscacert", t.CACert}, {"--tlscert", t.Cert}, {"--tlskey", t.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	name := t.ServerName
	if name == "" {
		u, err := url.Parse(addr)
		if err != nil {
			return nil, fmt.Errorf("daemon address %s: %w", addr, err)
		}
		name = u.Hostname()
	}
	if t.CACert != "" {
		opts = append(opts, client.WithServerConfig(name, t.CACert))
	} else {
		opts = append(opts, client.WithServerConfigSystem(name))
	}
	if t.Cert != "" {
		opts = append(opts, client.WithCredentials(t.Cert, t.Key))
	}
	return opts, nil
}

// Connect dials a daemon at addr (with TLS when tls names files) and checks
// that it answers.
func Connect(ctx context.Context, addr string, tls TLS) (*client.Client, error) {
	opts, err := tls.options(addr)
	if err != nil {
		return nil, err
	}
	c, err := connect(ctx, addr, 10*time.Second, opts...)
	if err != nil {
		hint := ""
		if strings.HasPrefix(addr, "tcp://") && tls.CACert == "" && tls.Cert == "" {
			hint = "; a daemon on TCP normally wants TLS: give --tlscacert, --tlscert and --tlskey"
		} else if strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "tls") {
			hint = "; check that --tlscacert signed the daemon's certificate, and that the daemon's --tlscacert signed --tlscert"
		}
		return nil, fmt.Errorf("BuildKit at %s does not answer: %v%s", addr, err, hint)
	}
	return c, nil
}

func connect(ctx context.Context, addr string, wait time.Duration, opts ...client.ClientOpt) (*client.Client, error) {
	deadline := time.Now().Add(wait)
	var lastErr error
	for {
		c, err := client.New(ctx, addr, opts...)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = c.ListWorkers(pctx)
			cancel()
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		lastErr = err
		if time.Now().After(deadline) || ctx.Err() != nil || refusedByTLS(err) {
			return nil, lastErr
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// refusedByTLS tells a handshake that failed on a certificate, which no
// retry mends, from a daemon that is not up yet.
func refusedByTLS(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: ") || strings.Contains(msg, "certificate")
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// startFailure is buildkitd's own message when it refused to start, the
// last "buildkitd: " line of its log, without the stack trace after it.
func startFailure(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	msg := ""
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "--- kforge starting") {
			msg = "" // an earlier start's failure is not this one's
		} else if m, ok := strings.CutPrefix(line, "buildkitd: "); ok {
			msg = m
		}
	}
	return msg
}
