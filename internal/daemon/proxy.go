package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// proxyVars are the variables Go's HTTP clients (BuildKit's fetches among
// them) read their proxy from; both spellings are read.
var proxyVars = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// ProxyEnv is the proxy environment of this process, one VAR=value per
// line in a fixed order: what a daemon started now would fetch through.
func ProxyEnv() string {
	var b strings.Builder
	for _, v := range proxyVars {
		if val, ok := os.LookupEnv(v); ok {
			fmt.Fprintf(&b, "%s=%s\n", v, val)
		}
	}
	return b.String()
}

func (l *Local) proxyPath() string { return filepath.Join(l.Dir, "buildkitd.proxy") }

// recordProxy keeps the proxy environment the daemon was started with: the
// daemon inherits kforge's environment once, at start.
func (l *Local) recordProxy() error { return os.WriteFile(l.proxyPath(), []byte(ProxyEnv()), 0o600) }

// StartedProxy is the proxy environment the running daemon was started
// with.
func (l *Local) StartedProxy() string {
	data, _ := os.ReadFile(l.proxyPath())
	return string(data)
}

// proxyMismatch says how the running daemon's proxy differs from this
// process's, or "" when they agree.
func (l *Local) proxyMismatch() string {
	started, now := l.StartedProxy(), ProxyEnv()
	if started == now {
		return ""
	}
	show := func(env string) string {
		if env == "" {
			return "no proxy"
		}
		return strings.Join(strings.Fields(env), " ")
	}
	return fmt.Sprintf("the running buildkitd fetches with %s, but this kforge has %s; run `kforge daemon stop` so that the next build starts it with this environment",
		show(started), show(now))
}
