// Package registry reaches OCI registries the way docker and oras do:
// credentials from the docker config (credential helpers included), TLS with
// the system roots plus an optional CA file, plain HTTP only for loopback or
// when asked for, and retries with backoff.
//
// It is built on oras-go rather than go-containerregistry's remote: oras-go
// takes plain HTTP as an explicit per-repository switch (go-containerregistry
// falls back to HTTP by itself for loopback and RFC 1918 hosts), it reads
// docker's credential store and helpers, and its copy skips blobs the
// registry already has and pushes the tagged manifest last.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Options say how to reach registries; the zero value is docker's default.
type Options struct {
	// CAFile is a PEM bundle trusted beside the system's roots.
	CAFile string
	// PlainHTTP reaches a registry over HTTP even when it is not on this
	// host. Loopback registries may speak HTTP without it.
	PlainHTTP bool
}

// Client opens repositories with one HTTP client and credential store.
type Client struct {
	opts  Options
	http  *http.Client
	auth  *auth.Client
	creds credentials.Store
}

// New reads the CA file and the docker config once.
func New(opts Options) (*Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", opts.CAFile)
		}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: retry.NewTransport(base)}
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the docker config for registry credentials: %w", err)
	}
	ac := &auth.Client{
		Client:     hc,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     http.Header{"User-Agent": {"kforge"}},
	}
	return &Client{opts: opts, http: hc, auth: ac, creds: store}, nil
}

// Repository opens the repository of a reference (HOST/REPO[:TAG|@DIGEST])
// and returns the parsed reference with it.
func (c *Client) Repository(ctx context.Context, ref string) (*remote.Repository, registry.Reference, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, r, fmt.Errorf("%q is not a registry reference (HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]): %w", ref, err)
	}
	repo := &remote.Repository{Client: c.auth, Reference: r}
	switch {
	case c.opts.PlainHTTP:
		repo.PlainHTTP = true
	case isLoopback(r.Registry):
		repo.PlainHTTP = c.speaksPlainHTTP(ctx, r.Registry)
	}
	return repo, r, nil
}

// isLoopback reports whether a registry host is this machine, where plain
// HTTP cannot be intercepted on the way.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// speaksPlainHTTP asks a loopback registry over TLS first, as docker does,
// and takes HTTP only when the server answered TLS with HTTP.
func (c *Client) speaksPlainHTTP(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	plain := &http.Client{Transport: c.http.Transport.(*retry.Transport).Base}
	resp, err := plain.Do(req)
	if err == nil {
		resp.Body.Close()
		return false
	}
	return errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
