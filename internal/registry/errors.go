package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Explain turns a registry error into one that names the registry and what
// to do about it: log in, pass a CA, check the address.
func (c *Client) Explain(host string, err error) error {
	if err == nil {
		return nil
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			what := "access without credentials (there are none for it in " + c.configPath() + ")"
			if cred, err := c.creds.Get(context.Background(), credentials.ServerAddressFromRegistry(host)); err == nil && cred != auth.EmptyCredential {
				what = "the credentials in " + c.configPath()
			}
			return fmt.Errorf("registry %s refused %s: log in with `docker login %s` (or `oras login %s`), or point DOCKER_CONFIG at a config that has them: %w",
				host, what, host, host, err)
		case http.StatusForbidden:
			return fmt.Errorf("registry %s denied access to %s with these credentials: ask for push or pull rights on the repository (%w)", host, resp.URL.Path, err)
		}
		return fmt.Errorf("registry %s: %w", host, err)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("registry %s: its TLS certificate is not signed by a trusted authority: pass --ca-file with the CA's PEM (%w)", host, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("registry %s: its TLS certificate is not valid for this name (%w)", host, err)
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("registry %s speaks plain HTTP: pass --plain-http if that is intended (%w)", host, err)
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot reach registry %s: %w (check the address, the network and HTTPS_PROXY)", host, err)
	}
	// Not the registry's answer (a digest mismatch, a local file): the
	// error says what it is already.
	return err
}

func (c *Client) configPath() string {
	if ds, ok := c.creds.(interface{ ConfigPath() string }); ok {
		return ds.ConfigPath()
	}
	return ""
}
