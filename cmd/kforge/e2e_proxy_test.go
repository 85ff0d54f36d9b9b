package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxiedNetwork is a network namespace whose only way out is a veth link
// to the host, where a real proxy (Debian's tinyproxy) listens: what a
// proxied build farm's node sees. A second proxy on the same address
// refuses every client.
type proxiedNetwork struct {
	ns           string
	proxy, deny  string // http://10.231.0.1:PORT
	proxyLog     string
	hostIf, nsIf string
}

func startProxiedNetwork(t *testing.T) *proxiedNetwork {
	t.Helper()
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		t.Fatal("tinyproxy is not installed: run `make test-deps`")
	}
	id := randomHex(3)
	n := &proxiedNetwork{ns: "kforge-px-" + id, hostIf: "kfh" + id, nsIf: "kfn" + id,
		proxy: "http://10.231.0.1:18888", deny: "http://10.231.0.1:18889"}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", n.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.ns).Run() })
	run("ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", n.ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.hostIf).Run() })
	run("ip", "addr", "add", "10.231.0.1/30", "dev", n.hostIf)
	run("ip", "link", "set", n.hostIf, "up")
	run("ip", "netns", "exec", n.ns, "ip", "addr", "add", "10.231.0.2/30", "dev", n.nsIf)
	run("ip", "netns", "exec", n.ns, "ip", "link", "set", n.nsIf, "up")
	run("ip", "netns", "exec", n.ns, "ip", "link", "set", "lo", "up")

	// tinyproxy drops to nobody before it opens its log: a directory
	// directly under /tmp that anyone may write (t.TempDir's parent is
	// private).
	dir, err := os.MkdirTemp("", "kforge-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	n.proxyLog = filepath.Join(dir, "allow.log")
	// MaxClients above the number of pinned files: the daemon fetches them
	// all at once, and tinyproxy answers a client over its limit with an
	// error page of its own.
	for _, p := range []struct{ port, allow, log string }{{"18888", "10.231.0.0/30", n.proxyLog}, {"18889", "10.9.9.9", filepath.Join(dir, "deny.log")}} {
		conf := filepath.Join(dir, "tinyproxy-"+p.port+".conf")
		body := fmt.Sprintf("User nobody\nGroup nogroup\nPort %s\nListen 10.231.0.1\nTimeout 600\nAllow %s\nConnectPort 443\nConnectPort 80\nLogFile %q\nLogLevel Info\nMaxClients 400\n",
			p.port, p.allow, p.log)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("tinyproxy", "-d", "-c", conf)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	time.Sleep(500 * time.Millisecond)
	return n
}

// proxiedState is a fresh daemon state whose buildkitd.toml bounds the
// steps run at once, fetches among them: a small proxy (and the resolver
// behind it) does not take a hundred connections at once, and a farm
// behind one sets the same.
func proxiedState(t *testing.T) []string {
	t.Helper()
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "buildkitd.toml"), []byte("[worker.oci]\n  max-parallelism = 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	return env
}

// in runs kforge in the namespace's network only: `ip netns exec` would
// also mount a sysfs of its own, without the cgroup mounts runc needs.
func (n *proxiedNetwork) in(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return kforgeIn(t, env, append([]string{"nsenter", "--net=/run/netns/" + n.ns, kforgeBin}, args...)...)
}

// kforge runs kforge in the namespace with the proxy environment.
func (n *proxiedNetwork) kforge(t *testing.T, proxy string, env []string, args ...string) result {
	t.Helper()
	return n.in(t, append(env, "HTTP_PROXY="+proxy, "HTTPS_PROXY="+proxy, "NO_PROXY=localhost,127.0.0.1"), args...)
}

// TestLockSyncAndBuildThroughAProxy runs kforge lock, mirror sync and a
// build on a fresh daemon in a namespace whose only way out is a proxy: all
// three go through it. A proxy that refuses is named in the error, with the
// mirror it was asked for.
func TestLockSyncAndBuildThroughAProxy(t *testing.T) {
	e2e(t)
	n := startProxiedNetwork(t)
	src := guestFixture.get(t)
	dir := t.TempDir()
	copyTree(t, filepath.Dir(src), dir)
	p := filepath.Join(dir, filepath.Base(src))
	// Without a lock, kforge lock must reach the archive.
	if err := os.Remove(strings.TrimSuffix(p, filepath.Ext(p)) + ".lock"); err != nil {
		t.Fatal(err)
	}

	// Nothing gets out without the proxy.
	if r := n.in(t, nil, "lock", "-f", p); r.code == 0 {
		t.Fatal("kforge lock succeeded in the namespace with no proxy: the namespace is not closed")
	}
	mustOK := func(r result, what string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s through the proxy failed:\n%s", what, lastLines(r.stderr, 20))
		}
	}
	mustOK(n.kforge(t, n.proxy, nil, "lock", "-f", p), "kforge lock")
	mirror := filepath.Join(t.TempDir(), "mirror")
	mustOK(n.kforge(t, n.proxy, nil, "mirror", "sync", "-f", p, "--target", "guest", mirror), "kforge mirror sync")
	env := proxiedState(t)
	out := filepath.Join(t.TempDir(), "out")
	r := n.kforge(t, n.proxy, env, "build", "-f", p, "--target", "guest", "--progress", "plain", "-o", "type=local,dest="+out)
	mustOK(r, "kforge build")
	if !strings.Contains(r.stderr, "it fetches through HTTP_PROXY="+n.proxy) {
		t.Errorf("kforge did not say its daemon fetches through the proxy:\n%s", lastLines(r.stderr, 40))
	}
	log, _ := os.ReadFile(n.proxyLog)
	for _, want := range []string{"InRelease", ".deb"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the proxy's log has no request for a %s", want)
		}
	}
	// The running daemon keeps the environment it started with.
	r = n.kforge(t, n.deny, env, "build", "-f", p, "--target", "guest", "--progress", "plain")
	if !strings.Contains(r.stderr, "warning: the running buildkitd fetches with HTTP_PROXY="+n.proxy) {
		t.Errorf("no warning about the daemon's other proxy:\n%s", lastLines(r.stderr, 10))
	}

	denyEnv := proxiedState(t)
	r = n.kforge(t, n.deny, denyEnv, "build", "-f", p, "--target", "guest", "--progress", "plain")
	if r.code == 0 || !strings.Contains(r.stderr, "the daemon fetches through HTTP_PROXY="+n.deny) || !strings.Contains(r.stderr, "deb.debian.org") {
		t.Errorf("a build through a refusing proxy: exit %d\n%s", r.code, lastLines(r.stderr, 15))
	}
	lock := strings.TrimSuffix(p, filepath.Ext(p)) + ".lock"
	os.Remove(lock)
	r = n.kforge(t, n.deny, nil, "lock", "-f", p)
	if r.code == 0 || !strings.Contains(r.stderr, "http://deb.debian.org/debian") || !strings.Contains(r.stderr, "through the proxy "+n.deny) || !strings.Contains(r.stderr, "403") {
		t.Errorf("a refusing proxy: exit %d\n%s", r.code, lastLines(r.stderr, 10))
	}
}
