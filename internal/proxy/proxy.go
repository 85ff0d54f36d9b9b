// Package proxy names the HTTP proxy a request goes through, for errors: a
// farm behind a proxy must be told whether the proxy or the mirror failed.
package proxy

import (
	"net/http"
	"net/url"
	"strings"
)

// Of is the proxy that Go's HTTP clients take for rawURL from HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY, without credentials, or "" for a direct
// request.
func Of(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	if err != nil || p == nil {
		return ""
	}
	p.User = nil
	return p.String()
}

// Explain adds the proxy, when there is one, to an error about rawURL.
func Explain(rawURL, msg string) string {
	p := Of(rawURL)
	if p == "" {
		return msg
	}
	hint := " (through the proxy " + p + " of " + varFor(rawURL) + ")"
	if strings.Contains(msg, "proxyconnect") {
		hint = " (the proxy " + p + " of " + varFor(rawURL) + " does not answer)"
	}
	return msg + hint
}

func varFor(rawURL string) string {
	if strings.HasPrefix(rawURL, "https:") {
		return "HTTPS_PROXY"
	}
	return "HTTP_PROXY"
}
