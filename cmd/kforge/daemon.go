package main

import (
	"fmt"
	"os"

	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
)

// printWorkers prints a daemon's workers with their cache bounds.
func printWorkers(cmd *cobra.Command, c *client.Client) error {
	workers, err := c.ListWorkers(cmd.Context())
	if err != nil {
		return err
	}
	for _, w := range workers {
		fmt.Printf("worker:  %s (%s, %d platforms)\n", w.ID, w.Labels["org.mobyproject.buildkit.worker.snapshotter"], len(w.Platforms))
		if gc := cacheBounds(w.GCPolicy); gc != "" {
			fmt.Printf("gc:      %s\n", gc)
		}
	}
	return nil
}

func newDaemonCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Manage kforge's own local buildkitd",
		Long: `Without --addr or BUILDKIT_HOST, kforge starts a buildkitd of its own the
first time it needs one and reuses it afterwards. Its state (BuildKit's cache)
and its log live in one directory: --state-dir, $KFORGE_STATE_DIR, or
~/.local/state/kforge. A buildkitd.toml there is the daemon's --config, read
when it starts: set the cache's garbage collection (reservedSpace,
maxUsedSpace, minFreeSpace under [worker.oci]) there.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say whether the local buildkitd (or the one at --addr) runs, where, and with which workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.addr != "" {
				c, err := g.connect(cmd.Context())
				if err != nil {
					return err
				}
				defer c.Close()
				fmt.Printf("running\naddress: %s\nbuildkit: %s\n", g.addr, buildkitVersion(cmd.Context(), c))
				return printWorkers(cmd, c)
			}
			l := g.localDaemon()
			pid, running := l.PID()
			if !running {
				fmt.Printf("stopped\nstate: %s\nlog:   %s\n", l.Dir, l.LogPath())
				return &exitError{code: 3}
			}
			fmt.Printf("running (pid %d)\naddress: %s\nstate:   %s\nlog:     %s\n", pid, l.Address(), l.Dir, l.LogPath())
			if config, ok := l.Config(); ok {
				fmt.Printf("config:  %s\n", config)
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			return printWorkers(cmd, c)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "start",
		Short: "Start the local buildkitd now rather than at the first build (it reads buildkitd.toml from the state directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := g.localDaemon()
			if _, running := l.PID(); running {
				fmt.Fprintf(os.Stderr, "kforge: buildkitd is already running on %s (stop it first for a changed buildkitd.toml to apply)\n", l.Address())
			}
			c, err := l.Ensure(cmd.Context(), daemonProgress)
			if err != nil {
				return err
			}
			return c.Close()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "stop",
		Short: "Stop the local buildkitd (its cache is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stopped, err := g.localDaemon().Stop()
			if err != nil {
				return err
			}
			if stopped {
				fmt.Fprintln(os.Stderr, "kforge: buildkitd stopped")
			} else {
				fmt.Fprintln(os.Stderr, "kforge: buildkitd was not running")
			}
			return nil
		},
	})
	return cmd
}

// cacheBounds describes the worker's last garbage-collection rule, the one
// that bounds the whole cache, in the units buildkitd's config takes.
func cacheBounds(rules []client.PruneInfo) string {
	if len(rules) == 0 {
		return ""
	}
	r := rules[len(rules)-1]
	gb := func(b int64) string { return fmt.Sprintf("%.1fGB", float64(b)/(1<<30)) }
	return fmt.Sprintf("reserved %s, max used %s, min free %s", gb(r.ReservedSpace), gb(r.MaxUsedSpace), gb(r.MinFreeSpace))
}
