package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

	"github.com/kforge/kforge/internal/daemon"
	kllb "github.com/kforge/kforge/llb"
)

func (g *globalFlags) localDaemon() *daemon.Local {
	dir := g.stateDir
	if dir == "" {
		dir = daemon.DefaultDir()
	}
	return &daemon.Local{Dir: dir}
}

// connect returns a client of the daemon the user named, or of kforge's own
// local daemon, started when needed.
func (g *globalFlags) connect(ctx context.Context) (*client.Client, error) {
	if g.addr != "" {
		return daemon.Connect(ctx, g.addr, g.tls)
	}

	return g.localDaemon().Ensure(ctx, daemonProgress)
}

// daemonProgress prints what the managed daemon is doing (starting, where
// its state is) as kforge's own progress lines.
func daemonProgress(msg string) { fmt.Fprintln(os.Stderr, "kforge:", msg) }

// helperContext prepares the directory that reaches the graph as the
// kforge-helper context: a copy of this very binary named "kforge". The copy
// is refreshed only when the binary changed, so that BuildKit's content-based
// cache keeps every step that uses the helper.
func (g *globalFlags) helperContext() (fsutil.FS, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := checkStatic(exe); err != nil {
		return nil, err
	}
	dir := filepath.Join(g.localDaemon().Dir, "helper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dst := filepath.Join(dir, filepath.Base(kllb.HelperPath))
	if !sameContent(exe, dst) {
		if err := copyFile(exe, dst); err != nil {
			return nil, fmt.Errorf("preparing the helper context: %w", err)
		}
	}
	return fsutil.NewFS(dir)
}

// checkStatic refuses a dynamically linked kforge: the helper runs in steps
// that have no C library.
func checkStatic(exe string) error {
	f, err := elf.Open(exe)
	if err != nil {
		return fmt.Errorf("reading %s: %w", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build kforge with CGO_ENABLED=0 (make build) so that it can run inside build steps", exe)
		}
	}
	return nil
}

func sameContent(a, b string) bool {
	da, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	db, err := os.ReadFile(b)
	if err != nil {
		return false
	}
	return bytes.Equal(da, db)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
