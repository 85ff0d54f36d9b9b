// Package solve runs LLB graphs on a BuildKit daemon: progress display,
// local contexts, exports that appear only on success, retries at the next
// mirror when a fetch fails, and the exit code of a failed command.
package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	bk "github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	kllb "github.com/kforge/kforge/llb"
)

// Options are the settings of one build.
type Options struct {
	Progress    string // auto, tty, plain, rawjson or quiet
	Outputs     []*Output
	LocalMounts map[string]fsutil.FS
	// CacheExports and CacheImports share the build cache with other daemons.
	CacheExports []client.CacheOptionsEntry
	CacheImports []client.CacheOptionsEntry
	// StreamVertex names a step whose output goes to Stdout and Stderr as it
	// comes, instead of into the progress display.
	StreamVertex string
	Stdout       io.Writer
	Stderr       io.Writer
	// LocalMirror is the URL of a directory mirror that kforge serves, tried
	// first for every pinned file; Offline makes it the only one.
	LocalMirror string
	Offline     bool
	// FrontendAttrs are the opts the build function reads, as a frontend
	// reads them from buildx: filename, target, platform.
	FrontendAttrs map[string]string
	// Proxy is the proxy environment the daemon fetches through, when kforge
	// knows it (its own daemon), named in fetch errors.
	Proxy string
	// Session holds what the daemon asks the client for during the solve:
	// registry credentials for cache import and export.
	Session []session.Attachable
}

// Graph builds the graph to solve; fetches records the fetch steps and says
// which mirror each one uses.
type Graph func(fetches *kllb.Fetches) (bk.State, error)

// Build is a gateway build function for one attempt; fetches records its
// fetch steps and says which mirror each one uses.
type Build func(fetches *kllb.Fetches) gwclient.BuildFunc

// Run solves a graph as RunBuild does.
func Run(ctx context.Context, c *client.Client, graph Graph, opt Options) error {
	return RunBuild(ctx, c, func(fetches *kllb.Fetches) gwclient.BuildFunc {
		return func(ctx context.Context, gw gwclient.Client) (*gwclient.Result, error) {
			st, err := graph(fetches)
			if err != nil {
				return nil, err
			}
			def, err := kllb.Marshal(ctx, st, gw)
			if err != nil {
				return nil, err
			}
			var imports []gwclient.CacheOptionsEntry
			for _, e := range opt.CacheImports {
				imports = append(imports, gwclient.CacheOptionsEntry{Type: e.Type, Attrs: e.Attrs})
			}
			return gw.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: imports})
		}
	}, opt)
}

// RunBuild runs a build function through the client's Build, moving a
// fetch that failed at one mirror to the next mirror and building again,
// until it succeeds or every mirror of that file has failed.
func RunBuild(ctx context.Context, c *client.Client, build Build, opt Options) error {
	fetches := &kllb.Fetches{Skip: map[string]int{}, Down: map[string]bool{}, LocalMirror: opt.LocalMirror, Offline: opt.Offline}
	var mirrorFailures []string
	for {
		fetches.All = nil
		var buildErr error
		fn := build(fetches)
		err := solveOnce(ctx, c, func(ctx context.Context, gw gwclient.Client) (*gwclient.Result, error) {
			res, err := fn(ctx, gw)
			buildErr = err
			return res, err
		}, opt)
		if err == nil {
			return nil
		}
		// An error of the build function itself (a recipe or lock problem)
		// is returned as it was made, with its recipe source; the daemon's
		// copy of it is the same message with less structure.
		if buildErr != nil && len(fetches.All) == 0 {
			return buildErr
		}
		f, ok := failedFetch(err, fetches.All)
		if !ok {
			if len(mirrorFailures) > 0 {
				return fmt.Errorf("%w\n(earlier mirror failures:\n  %s)", err, strings.Join(mirrorFailures, "\n  "))
			}
			return err
		}
		mirrorFailures = append(mirrorFailures, describeFetchError(f, err, opt.Proxy))
		if f.Choice+1 >= len(f.Mirrors) {
			return &FetchError{File: f.Display(), SHA256: f.SHA256, Failures: mirrorFailures, Local: f.Local}
		}
		fmt.Fprintf(opt.stderr(), "kforge: %s; trying the next mirror\n", describeFetchError(f, err, opt.Proxy))
		fetches.Skip[f.SHA256] = f.Choice + 1
		if mirrorUnreachable(err) {
			fetches.Down[f.Mirrors[f.Choice]] = true
		}
	}
}

// mirrorUnreachable tells a mirror that is down (no connection, no name)
// from one that answered but lacked or damaged a file: only the first is
// passed over for every other file too.
func mirrorUnreachable(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host"} {
		if strings.Contains(strings.ToLower(msg), s) {
			return true
		}
	}
	return false
}

// FetchError says that no mirror could serve a pinned file.
type FetchError struct {
	File     string
	SHA256   string
	Failures []string
	Local    bool // a directory mirror (--mirror) was among those tried
}

func (e *FetchError) Error() string {
	hint := "If the mirrors no longer carry this version (Debian drops superseded versions), " +
		"re-resolve the lock with `kforge lock -f <recipe>`, or serve the locked file from a mirror of your own " +
		"(`kforge mirror sync -f <recipe> DIR` where the network is reachable, then `kforge build --mirror DIR`)."
	if e.Local {
		hint = "Copy it into the mirror with `kforge mirror sync -f <recipe> DIR` (or oci://REGISTRY/REPOSITORY) where its mirrors are reachable."
	}
	return fmt.Sprintf("%s (sha256 %s) is not on any mirror:\n  %s\n%s", e.File, e.SHA256, strings.Join(e.Failures, "\n  "), hint)
}

// BuildKit reports a pinned download whose content differs in two forms:
// with the URL while resolving, without it while fetching.
var (
	digestMismatchURL = regexp.MustCompile(`digest mismatch for (\S+): (sha256:[0-9a-f]+) \(expected: (sha256:[0-9a-f]+)\)`)
	digestMismatch    = regexp.MustCompile(`digest mismatch (sha256:[0-9a-f]+): (sha256:[0-9a-f]+)`)
)

// emptyDigest is the sha256 of nothing: what a mirror that answers a
// missing file with an empty error page serves.
const emptyDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// mismatch extracts the served and the expected digest from a solve error.
func mismatch(err error) (got, want string, ok bool) {
	msg := err.Error()
	if m := digestMismatchURL.FindStringSubmatch(msg); m != nil {
		return m[2], m[3], true
	}
	if m := digestMismatch.FindStringSubmatch(msg); m != nil {
		return m[1], m[2], true
	}
	return "", "", false
}

// stepError is a solve error with the names of the steps that failed.
type stepError struct {
	err    error
	failed []string
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// failedFetch finds the fetch step a solve error is about: by the URL in a
// digest mismatch, else by the name of a failed step (BuildKit's HTTP
// errors, such as a 404, do not carry the URL).
func failedFetch(err error, fetches []kllb.Fetch) (kllb.Fetch, bool) {
	var se *stepError
	if errors.As(err, &se) {
		for _, name := range se.failed {
			for _, f := range fetches {
				if name == kllb.FetchStepName(f) {
					return f, true
				}
			}
		}
	}
	msg := err.Error()
	for _, f := range fetches {
		if strings.Contains(msg, f.URL()) {
			return f, true
		}
	}
	return kllb.Fetch{}, false
}

func describeFetchError(f kllb.Fetch, err error, proxy string) string {
	via := ""
	if proxy != "" && !strings.Contains(f.URL(), "://127.0.0.1") {
		via = " (the daemon fetches through " + strings.Join(strings.Fields(proxy), " ") + ")"
	}
	if got, want, ok := mismatch(err); ok {
		msg := fmt.Sprintf("mirror %s served %s with %s, but the lock pins %s", f.Mirrors[f.Choice], f.Display(), got, want)
		if got == emptyDigest {
			msg += " (an empty response: the mirror does not have this file)"
		} else if via != "" {
			// A proxy's own error page comes back as the file.
			msg += via + "; a proxy that refuses answers with a page of its own"
		}
		return msg
	}
	return fmt.Sprintf("mirror %s could not serve %s: %v%s", f.Mirrors[f.Choice], f.Display(), rootCause(err), via)
}

func rootCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 200 {
		return msg[i+2:]
	}
	return msg
}

func (o Options) stdout() io.Writer {
	if o.Stdout != nil {
		return o.Stdout
	}
	return os.Stdout
}

func (o Options) stderr() io.Writer {
	if o.Stderr != nil {
		return o.Stderr
	}
	return os.Stderr
}

func solveOnce(ctx context.Context, c *client.Client, fn gwclient.BuildFunc, opt Options) (err error) {
	so := client.SolveOpt{LocalMounts: opt.LocalMounts, CacheExports: opt.CacheExports, CacheImports: opt.CacheImports, FrontendAttrs: opt.FrontendAttrs,
		Session: opt.Session}
	for _, o := range opt.Outputs {
		e, err := o.Entry()
		if err != nil {
			return err
		}
		so.Exports = append(so.Exports, e)
	}
	defer func() {
		for _, o := range opt.Outputs {
			if err != nil {
				o.Discard()
			} else if o.Hold {
				continue
			} else if cerr := o.Commit(); cerr != nil {
				err = cerr
			}
		}
	}()

	mode := progressui.DisplayMode(opt.Progress)
	if opt.Progress == "" {
		mode = progressui.AutoMode
	}
	display, err := progressui.NewDisplay(opt.stderr(), mode)
	if err != nil {
		return err
	}
	statusCh := make(chan *client.SolveStatus)
	displayCh := make(chan *client.SolveStatus)
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		_, err := c.Build(egctx, so, "kforge", fn, statusCh)
		return err
	})
	var failed []string
	warned := map[string]bool{}
	defer func() {
		if err == nil {
			for _, w := range slices.Sorted(maps.Keys(warned)) {
				fmt.Fprintln(opt.stderr(), "kforge: warning:", w)
			}
		}
	}()
	eg.Go(func() error {
		defer close(displayCh)
		streamed := map[string]bool{}
		for s := range statusCh {
			for _, v := range s.Vertexes {
				if v.Error == "" {
					continue
				}
				if w := cacheWarning(v.Name, v.Error); w != "" {
					warned[w] = true
					continue
				}
				failed = append(failed, v.Name)
			}
			if opt.StreamVertex != "" {
				s = splitStream(s, opt, streamed)
			}
			displayCh <- s
		}
		return nil
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(egctx), displayCh)
		return err
	})
	if err := eg.Wait(); err != nil {
		return &stepError{err: err, failed: failed}
	}
	return nil
}

// cacheWarning says what a failed cache step means for a build that goes on
// without it: BuildKit builds past a cache it cannot import, and past one it
// cannot export when the export has ignore-error=true.
func cacheWarning(vertex, msg string) string {
	switch {
	case strings.HasPrefix(vertex, "importing cache manifest from "):
		return fmt.Sprintf("cache %s could not be imported (%s); built without it", strings.TrimPrefix(vertex, "importing cache manifest from "), msg)
	case strings.HasPrefix(vertex, "exporting cache to "), strings.Contains(vertex, "cache export"), vertex == "preparing build cache for export":
		return fmt.Sprintf("the build cache was not exported (%s: %s); the build itself succeeded", vertex, msg)
	}
	return ""
}

// splitStream takes the logs of the streamed step out of a status update and
// writes them straight to stdout and stderr.
func splitStream(s *client.SolveStatus, opt Options, streamed map[string]bool) *client.SolveStatus {
	for _, v := range s.Vertexes {
		if v.Name == opt.StreamVertex {
			streamed[v.Digest.String()] = true
		}
	}
	kept := s.Logs[:0]
	for _, l := range s.Logs {
		if !streamed[l.Vertex.String()] {
			kept = append(kept, l)
			continue
		}
		if l.Stream == 2 {
			opt.stderr().Write(l.Data)
		} else {
			opt.stdout().Write(l.Data)
		}
	}
	s.Logs = kept
	return s
}

var exitCode = regexp.MustCompile(`exit code: (\d+)`)

// ExitCode is the exit status of the failed command a solve error reports,
// or 0 when the error is not about a command's exit.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var fe *FetchError
	if errors.As(err, &fe) {
		return 0
	}
	if m := exitCode.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
