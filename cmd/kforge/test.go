package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kforge/kforge/internal/artifact"
	"github.com/kforge/kforge/internal/boot"
	"github.com/kforge/kforge/internal/boottest"
	"github.com/kforge/kforge/internal/solve"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

func newTestCommand(g *globalFlags) *cobra.Command {
	var b buildFlags
	var reportRoot string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "test -f RECIPE [NAME...]",
		Short: "Run the recipe's boot tests: build what each boots, boot it in QEMU, check its console",
		Long: `test runs the boot tests of the recipe's tests: section (all of them, or
those named). For each it builds the kernel target and the root filesystem
(a rootfs or container tree becomes an initrd with the test's script, files
and kernel selftests; an image or initrd target is booted as it is), boots
them in qemu-system-x86_64 with the test's memory, CPUs and NICs (all on one
QEMU hub, wired to each other), and checks the console: each check's
expressions must match lines of its step ("kforge-step: NAME" lines open
the steps of a script).

The console is copied to stdout (unless --quiet). Each test writes
report.txt, report.json and console.log to --report DIR/<recipe>/<test>.
kforge exits 1 when a check failed. QEMU's devices are checked before any
build: igb needs QEMU 8 or newer (Debian 12: ` + "`make qemu-igb`" + ` installs QEMU
from bookworm-backports).`,
		RunE: func(cmd *cobra.Command, names []string) error {
			r, err := recipes.Load(b.file)
			if err != nil {
				return err
			}
			if len(r.Tests) == 0 {
				return fmt.Errorf("%s has no tests: add a tests: section", b.file)
			}
			if len(names) == 0 {
				names = recipes.SortedKeys(r.Tests)
			}
			for _, n := range names {
				if _, ok := r.Tests[n]; !ok {
					return fmt.Errorf("%s has no test %q; its tests are: %s", b.file, n, strings.Join(recipes.SortedKeys(r.Tests), ", "))
				}
			}
			for _, n := range names {
				if err := r.CheckTestFiles(os.DirFS(filepath.Dir(b.file)), n); err != nil {
					return err
				}
			}
			for _, n := range names {
				if err := boot.CheckDevices(r.Tests[n].Machine.NICs); err != nil {
					return fmt.Errorf("test %s: %w", n, err)
				}
			}
			var failed []string
			for _, n := range names {
				rep, err := runTest(cmd, g, b, r, n, quiet)
				if err != nil {
					return err
				}
				dir := filepath.Join(reportRoot, r.Name, n)
				if err := writeReport(dir, rep); err != nil {
					return err
				}
				rep.WriteText(cmd.OutOrStdout())
				fmt.Fprintf(cmd.ErrOrStderr(), "kforge: report in %s/report.txt and report.json\n", dir)
				if !rep.Passed {
					failed = append(failed, n)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("tests failed: %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	b.registerSources(cmd)
	cmd.Flags().StringVar(&reportRoot, "report", "out/test", "directory for the reports (DIR/<recipe>/<test>/)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "do not copy the console to stdout")
	return cmd
}

// runTest builds a test's boot bundle, boots it and evaluates its checks.
func runTest(cmd *cobra.Command, g *globalFlags, b buildFlags, r *recipes.Recipe, name string, quiet bool) (*boottest.Report, error) {
	t := r.Tests[name]
	work, err := os.MkdirTemp("", "kforge-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	bundle := filepath.Join(work, "bundle")
	b.target = recipes.TestTargetPrefix + name
	br := &buildRun{g: g, b: b, stdout: cmd.ErrOrStderr(), stderr: cmd.ErrOrStderr(),
		outputs: []*solve.Output{{Type: "local", Dest: bundle, Attrs: map[string]string{}}}}
	fmt.Fprintf(cmd.ErrOrStderr(), "kforge: [test %s] building kernel %s and root filesystem %s\n", name, t.Kernel, t.Rootfs)
	if err := br.run(cmd.Context()); err != nil {
		return nil, fmt.Errorf("test %s: %w", name, err)
	}
	o := boot.Options{
		Kernel:  filepath.Join(bundle, kllb.BundleKernel, "vmlinuz.container"),
		Append:  strings.TrimSpace("console=ttyS0 panic=-1 " + t.Machine.Append),
		Timeout: t.TimeoutOrDefault(),
		Memory:  t.Machine.MemoryOrDefault(),
		CPUs:    t.Machine.CPUsOrDefault(),
		NICs:    t.Machine.NICs,
		Console: os.Stdout,
	}
	if quiet {
		o.Console = nil
	}
	root := filepath.Join(bundle, kllb.BundleRoot)
	switch r.TargetKind(t.Rootfs) {
	case recipes.KindImage:
		o.Image, o.ImageAs = filepath.Join(root, "kata-containers.img"), t.Machine.Disk
	case recipes.KindInitrd:
		o.Initrd = filepath.Join(root, "kata-containers-initrd.img")
	default:
		o.Initrd = filepath.Join(root, kllb.TestInitrd)
	}
	if t.Script != "" {
		o.Expect = kllb.TestDoneMarker
	} else {
		o.Stop = boottest.Until(t)
	}
	var console []string
	var arrived []time.Duration
	o.Lines, o.Arrived = &console, &arrived
	machine := fmt.Sprintf("%d MiB, %d CPUs", o.Memory, o.CPUs)
	if len(o.NICs) > 0 {
		machine += ", NICs " + strings.Join(o.NICs, " ") + " on one hub"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "kforge: [test %s] booting (%s, timeout %s)\n", name, machine, o.Timeout)
	start := time.Now()
	bootErr := boot.Run(cmd.Context(), o)
	rep := &boottest.Report{Recipe: r.Name, Test: name, Kernel: t.Kernel, Rootfs: t.Rootfs, Machine: machine,
		Duration: time.Since(start)}
	kernelStart, haveStart := boot.KernelStart(console, arrived)
	if !haveStart {
		arrived = nil // no banner (quiet, loglevel): no times rather than times from QEMU's start
	}
	rep.Checks, rep.Steps = boottest.Evaluate(t, console, arrived, kernelStart)
	rep.Passed = bootErr == nil
	if bootErr != nil {
		rep.Error = bootErr.Error()
	}
	for _, c := range rep.Checks {
		rep.Passed = rep.Passed && c.Passed
	}
	rep.SetTimes(kernelStart, haveStart)
	rep.Console = console
	return rep, nil
}

// writeReport replaces a test's report directory with the new report.
func writeReport(dir string, rep *boottest.Report) error {
	return artifact.ReplaceDir(dir, func(tmp string) error {
		var text, js bytes.Buffer
		if err := rep.WriteText(&text); err != nil {
			return err
		}
		if err := rep.WriteJSON(&js); err != nil {
			return err
		}
		for name, data := range map[string][]byte{
			"report.txt": text.Bytes(), "report.json": js.Bytes(),
			"console.log": []byte(strings.Join(rep.Console, "\n") + "\n"),
		} {
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}
