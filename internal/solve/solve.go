// Package solve runs LLB graphs on a BuildKit daemon: progress display,
// local contexts, exports that appear only on success, retries at the next
// mirror when a fetch fails, and the exit code of a failed command.
package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	bk "github.com/moby/buildkit/client/llb"
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
	// StreamVertex names a step whose output goes to Stdout and Stderr as it
	// comes, instead of into the progress display.
	StreamVertex string
	Stdout       io.Writer
	Stderr       io.Writer
}

// Graph builds the graph to solve; fetches records the fetch steps and says
// which mirror each one uses.
type Graph func(fetches *kllb.Fetches) (bk.State, error)

// Run builds and solves the graph, moving a fetch that failed at one mirror
// to the next mirror and solving again, until it succeeds or every mirror of
// that file has failed.
func Run(ctx context.Context, c *client.Client, graph Graph, opt Options) error {
	fetches := &kllb.Fetches{Skip: map[string]int{}}
	var mirrorFailures []string
	for {
		fetches.All = nil
		st, err := graph(fetches)
		if err != nil {
			return err
		}
		err = solveOnce(ctx, c, st, opt)
		if err == nil {
			return nil
		}
		f, ok := failedFetch(err, fetches.All)
		if !ok {
			if len(mirrorFailures) > 0 {
				return fmt.Errorf("%w\n(earlier mirror failures:\n  %s)", err, strings.Join(mirrorFailures, "\n  "))
			}
			return err
		}
		mirrorFailures = append(mirrorFailures, describeFetchError(f, err))
		if f.Choice+1 >= len(f.Mirrors) {
			return &FetchError{File: f.Path, Failures: mirrorFailures}
		}
		fmt.Fprintf(opt.stderr(), "kforge: %s; trying the next mirror\n", describeFetchError(f, err))
		fetches.Skip[f.SHA256] = f.Choice + 1
	}
}

// FetchError says that no mirror could serve a pinned file.
type FetchError struct {
	File     string
	Failures []string
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("no mirror served %s with the pinned sha256:\n  %s", e.File, strings.Join(e.Failures, "\n  "))
}

var digestMismatch = regexp.MustCompile(`digest mismatch for (\S+): (sha256:[0-9a-f]+) \(expected: (sha256:[0-9a-f]+)\)`)

// failedFetch finds the fetch step a solve error is about.
func failedFetch(err error, fetches []kllb.Fetch) (kllb.Fetch, bool) {
	msg := err.Error()
	if m := digestMismatch.FindStringSubmatch(msg); m != nil {
		for _, f := range fetches {
			if f.URL() == m[1] {
				return f, true
			}
		}
	}
	for _, f := range fetches {
		if strings.Contains(msg, f.URL()) {
			return f, true
		}
	}
	return kllb.Fetch{}, false
}

func describeFetchError(f kllb.Fetch, err error) string {
	if m := digestMismatch.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("mirror %s served %s with %s, but the lock pins %s", f.Mirrors[f.Choice], f.Path, m[2], m[3])
	}
	return fmt.Sprintf("mirror %s could not serve %s: %v", f.Mirrors[f.Choice], f.Path, rootCause(err))
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

func solveOnce(ctx context.Context, c *client.Client, st bk.State, opt Options) (err error) {
	def, err := st.Marshal(ctx)
	if err != nil {
		return fmt.Errorf("marshaling the build graph: %w", err)
	}
	so := client.SolveOpt{LocalMounts: opt.LocalMounts}
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
		_, err := c.Solve(egctx, def, so, statusCh)
		return err
	})
	eg.Go(func() error {
		defer close(displayCh)
		streamed := map[string]bool{}
		for s := range statusCh {
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
	return eg.Wait()
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
