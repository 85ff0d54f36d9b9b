package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	bk "github.com/moby/buildkit/client/llb"
	"github.com/spf13/cobra"

	"github.com/kforge/kforge/internal/solve"
	kllb "github.com/kforge/kforge/llb"
)

func newKernelCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kernel",
		Short: "Kernel tools: the merged configuration and its report",
	}
	var b buildFlags
	config := &cobra.Command{
		Use:   "config -f RECIPE --target KERNEL",
		Short: "Print a kernel's merged .config (stdout) and the report of options that did not land (stderr), without compiling",
		Long: `config merges the kernel's configuration as a build would (base, Kata
fragments, extra fragments, merge_config.sh, olddefconfig) and prints the
resulting .config on stdout and the report on stderr: every requested option
that did not land, with its reason (no such symbol in this kernel, unmet
dependency and which, forced by a select, lost in a choice, set otherwise by
a later fragment). It exits 1 when the recipe's policy is fail and an option
outside the allow-list did not land.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := b.prepare(g)
			if err != nil {
				return err
			}
			plan := p.inputs.Kernels[b.target]
			if plan == nil {
				return fmt.Errorf("%q is not a kernel of %s", b.target, b.file)
			}
			opt, stop, err := b.solveOptions(cmd.Context(), g, p)
			if err != nil {
				return err
			}
			defer stop()
			tmp, err := os.MkdirTemp("", "kforge-config-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			out, _ := solve.ParseOutput("type=local,dest=" + filepath.Join(tmp, "cfg"))
			opt.Outputs = []*solve.Output{out}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			err = solve.Run(cmd.Context(), c, func(f *kllb.Fetches) (bk.State, error) {
				return p.inputs.KernelConfigOnly(b.target, f)
			}, opt)
			if err != nil {
				return err
			}
			config, err := os.ReadFile(filepath.Join(tmp, "cfg", ".config"))
			if err != nil {
				return err
			}
			report, err := os.ReadFile(filepath.Join(tmp, "cfg", "kforge-config-report.txt"))
			if err != nil {
				return err
			}
			os.Stdout.Write(config)
			os.Stderr.Write(report)
			var summary struct {
				Dropped []struct{ Allowed bool }
			}
			data, _ := os.ReadFile(filepath.Join(tmp, "cfg", "kforge-config-report.json"))
			if err := json.Unmarshal(data, &summary); err != nil {
				return fmt.Errorf("reading the report: %w", err)
			}
			failing := 0
			for _, d := range summary.Dropped {
				if !d.Allowed {
					failing++
				}
			}
			if failing > 0 && plan.Kernel.Config.PolicyOrDefault() == "fail" {
				return fmt.Errorf("%d requested options did not land (policy: fail)", failing)
			}
			return nil
		},
	}
	b.register(config)
	cmd.AddCommand(config)
	return cmd
}
