// Command kforge builds Kata Containers guest artifacts hermetically on
// BuildKit from a declarative recipe and its lock.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/kforge/kforge/internal/daemon"
	"os"
	"os/signal"
	"syscall"

	"github.com/moby/buildkit/solver/errdefs"
	"github.com/spf13/cobra"

	"github.com/kforge/kforge/frontends/gateway"
	"github.com/kforge/kforge/internal/solve"
	"github.com/kforge/kforge/recipes"
)

// globalFlags are the flags every subcommand shares.
type globalFlags struct {
	addr     string
	tls      daemon.TLS
	progress string
	stateDir string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCommand().ExecuteContext(ctx)
	if err == nil {
		return
	}
	var exit *exitError
	if errors.As(err, &exit) {
		os.Exit(exit.code)
	}
	fmt.Fprintf(os.Stderr, "kforge: %v\n", err)
	printSources(err)
	if code := solve.ExitCode(err); code != 0 {
		os.Exit(code)
	}
	os.Exit(1)
}

// printSources prints the recipe lines an error is about, as buildx shows
// them: those a failing step or the build function attached, or the line of
// a recipe error found before the build.
func printSources(err error) {
	srcs := errdefs.Sources(err)
	var re *recipes.Error
	if len(srcs) == 0 && errors.As(err, &re) && re.Line > 0 {
		if data, rerr := os.ReadFile(re.File); rerr == nil {
			srcs = append(srcs, gateway.Snippet(re.File, data, re.Line, re.Column))
		}
	}
	for _, src := range srcs {
		_ = src.Print(os.Stderr)
	}
}

// exitError ends kforge with a given status and no further message.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "kforge",
		Short: "Build Kata Containers guest kernels, agents, rootfs images and initrds hermetically on BuildKit",
		Long: `kforge builds the guest side of Kata Containers from a declarative recipe
(YAML) and its lock: every input is pinned by sha256, every step is a cached
BuildKit layer, and no compile step can reach the network.

  kforge lock -f recipe.yaml                 resolve the recipe's inputs into recipe.lock (online)
  kforge build -f recipe.yaml --target T -o type=local,dest=DIR
  kforge run -f recipe.yaml --target T -- CMD...
  kforge test -f recipe.yaml [NAME]          boot the recipe's tests in QEMU and check their consoles
  kforge push -f recipe.yaml HOST/REPO:TAG   build kernels and containers, then push them together

kforge talks to the BuildKit daemon given by --addr or BUILDKIT_HOST; without
either it starts a local buildkitd of its own and reuses it (see kforge daemon).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.addr, "addr", os.Getenv("BUILDKIT_HOST"), "BuildKit daemon address (unix://, tcp://, ...); default: $BUILDKIT_HOST, else kforge's own local daemon")
	root.PersistentFlags().StringVar(&g.tls.CACert, "tlscacert", "", "CA certificate (PEM) that signed the daemon's, for --addr tcp://")
	root.PersistentFlags().StringVar(&g.tls.Cert, "tlscert", "", "client certificate (PEM) to present to the daemon (mTLS)")
	root.PersistentFlags().StringVar(&g.tls.Key, "tlskey", "", "key of --tlscert")
	root.PersistentFlags().StringVar(&g.tls.ServerName, "tlsservername", "", "name the daemon's certificate must carry; default: the host of --addr")
	root.PersistentFlags().StringVar(&g.progress, "progress", "auto", "progress output: auto, tty, plain, rawjson or quiet")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "state directory of the local daemon (default $KFORGE_STATE_DIR, else ~/.local/state/kforge)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.addr == "" && g.tls != (daemon.TLS{}) {
			return fmt.Errorf("--tlscacert, --tlscert and --tlskey apply to a daemon at tcp://HOST:PORT (--addr); kforge's own local daemon listens on a unix socket")
		}
		return nil
	}
	root.AddCommand(
		newLockCommand(g),
		newBuildCommand(g),
		newRunCommand(g),
		newKernelCommand(g),
		newPullCommand(),
		newInstallCommand(),
		newInspectCommand(),
		newVerifyCommand(),
		newBootCommand(),
		newTestCommand(g),
		newPushCommand(g),
		newMirrorCommand(),
		newDaemonCommand(g),
		newFrontendCommand(g),
		newHelperCommand(),
	)
	return root
}
