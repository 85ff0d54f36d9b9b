// Package debian resolves Debian package sets into locks: it fetches a
// suite's InRelease, verifies its OpenPGP signature, reads the Packages
// indexes it lists (checking their sha256) and closes the requested packages
// over Depends and Pre-Depends.
package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kforge/kforge/internal/proxy"
)

// fetcher gets files from the first mirror that has them.
type fetcher struct {
	mirrors []string
	client  *http.Client
}

func newFetcher(mirrors []string) *fetcher {
	return &fetcher{mirrors: mirrors, client: &http.Client{Timeout: 5 * time.Minute}}
}

// get fetches path from each mirror in turn and returns the first body that
// check accepts, with the URL it came from. Every failure is kept, so that an
// error names each mirror and what went wrong there.
func (f *fetcher) get(ctx context.Context, path string, check func(url string, body []byte) error) ([]byte, string, error) {
	var failures []string
	for _, m := range f.mirrors {
		url := strings.TrimSuffix(m, "/") + "/" + path
		body, err := f.getURL(ctx, url)
		if err == nil {
			err = check(url, body)
		}
		if err == nil {
			return body, url, nil
		}
		failures = append(failures, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", fmt.Errorf("no mirror served %s:\n  %s", path, strings.Join(failures, "\n  "))
}

func (f *fetcher) getURL(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, errors.New(proxy.Explain(url, fmt.Sprintf("%s: %v", url, err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(proxy.Explain(url, fmt.Sprintf("%s: HTTP %s", url, resp.Status)))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return body, nil
}

// sha256Hex is the lower-case hex sha256 of data.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
