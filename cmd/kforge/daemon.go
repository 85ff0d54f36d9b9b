package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newDaemonCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Manage kforge's own local buildkitd",
		Long: `Without --addr or BUILDKIT_HOST, kforge starts a buildkitd of its own the
first time it needs one and reuses it afterwards. Its state (BuildKit's cache)
and its log live in one directory: --state-dir, $KFORGE_STATE_DIR, or
~/.local/state/kforge.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say whether the local buildkitd runs, where, and with which workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := g.localDaemon()
			pid, running := l.PID()
			if !running {
				fmt.Printf("stopped\nstate: %s\nlog:   %s\n", l.Dir, l.LogPath())
				return &exitError{code: 3}
			}
			fmt.Printf("running (pid %d)\naddress: %s\nstate:   %s\nlog:     %s\n", pid, l.Address(), l.Dir, l.LogPath())
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			workers, err := c.ListWorkers(cmd.Context())
			if err != nil {
				return err
			}
			for _, w := range workers {
				fmt.Printf("worker:  %s (%s, %d platforms)\n", w.ID, w.Labels["org.mobyproject.buildkit.worker.snapshotter"], len(w.Platforms))
			}
			return nil
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
