package proxy

import (
	"strings"
	"testing"
)

// Go reads the proxy environment once per process, so one test sets it.
func TestExplainNamesTheProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://user:secret@10.200.0.1:8888")
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("NO_PROXY", "internal.example")
	if got := Of("http://deb.debian.org/debian/dists/bookworm/InRelease"); got != "http://10.200.0.1:8888" {
		t.Errorf("proxy %q (credentials must not show)", got)
	}
	for _, direct := range []string{"http://internal.example/x", "http://127.0.0.1:5000/v2/", "https://deb.debian.org/"} {
		if got := Of(direct); got != "" {
			t.Errorf("%s goes through %q, want directly", direct, got)
		}
	}
	msg := Explain("http://deb.debian.org/x", "http://deb.debian.org/x: HTTP 403 Access denied")
	if !strings.HasSuffix(msg, "(through the proxy http://10.200.0.1:8888 of HTTP_PROXY)") {
		t.Errorf("%s", msg)
	}
	msg = Explain("http://deb.debian.org/x", "proxyconnect tcp: dial tcp 10.200.0.1:8888: connect: connection refused")
	if !strings.Contains(msg, "does not answer") {
		t.Errorf("%s", msg)
	}
	if msg := Explain("http://internal.example/x", "boom"); msg != "boom" {
		t.Errorf("a direct request got %q", msg)
	}
}
