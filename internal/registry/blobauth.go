package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// BlobAccess is how another HTTP client (BuildKit's fetcher of pinned
// files) reads a repository's blobs: the URL prefix that a blob's digest
// completes, and the Authorization header value to send, empty for an
// anonymous registry.
type BlobAccess struct {
	Prefix        string // http[s]://HOST/v2/REPOSITORY/blobs/sha256:
	Authorization string // "Basic ..." or "Bearer ...", as the registry asked
	Host          string // the registry's host name, without the port
}

// BlobAccess answers the registry's challenge for pulling from ref's
// repository with the docker config's credentials, and returns what the
// answer was. A bearer token is short-lived: take it just before the build.
func (c *Client) BlobAccess(ctx context.Context, ref string) (BlobAccess, error) {
	repo, r, err := c.Repository(ctx, ref)
	if err != nil {
		return BlobAccess{}, err
	}
	rec := &recordingCache{Cache: auth.NewCache()}
	ac := *c.auth
	ac.Cache = rec
	probe := &remote.Repository{Client: &ac, Reference: r, PlainHTTP: repo.PlainHTTP}
	// Any blob will do: the challenge comes before the registry looks.
	_, err = probe.Blobs().Resolve(ctx, digest.FromBytes(nil).String())
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return BlobAccess{}, c.Explain(r.Registry, fmt.Errorf("reaching the registry mirror %s: %w", ref, err))
	}
	scheme := "https"
	if repo.PlainHTTP {
		scheme = "http"
	}
	host := r.Host()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a := BlobAccess{Prefix: scheme + "://" + r.Host() + "/v2/" + r.Repository + "/blobs/sha256:", Host: host}
	if rec.token != "" {
		a.Authorization = rec.scheme.String() + " " + rec.token
	}
	return a, nil
}

// recordingCache keeps the token the auth client fetched last.
type recordingCache struct {
	auth.Cache
	mu     sync.Mutex
	scheme auth.Scheme
	token  string
}

func (r *recordingCache) Set(ctx context.Context, registry string, scheme auth.Scheme, key string, fetch func(context.Context) (string, error)) (string, error) {
	token, err := r.Cache.Set(ctx, registry, scheme, key, fetch)
	if err == nil {
		r.mu.Lock()
		r.scheme, r.token = scheme, token
		r.mu.Unlock()
	}
	return token, err
}
