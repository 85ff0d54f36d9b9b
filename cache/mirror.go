package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kforge/kforge/internal/proxy"
)

// A directory mirror keeps every pinned file of a recipe by its digest:
// DIR/sha256/<hex>, with DIR/index.json naming each file and where it came
// from. `kforge mirror sync` fills it where the network is reachable;
// `kforge build --mirror DIR` serves it to the daemon on 127.0.0.1.

// File is one pinned input: its name, sha256 and the URLs it is fetched from.
type File struct {
	Name   string   `json:"name"`
	SHA256 string   `json:"sha256"`
	URLs   []string `json:"urls"`
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BlobPath is where a directory mirror keeps the file with this digest.
func BlobPath(dir, sha string) string { return filepath.Join(dir, "sha256", sha) }

// SyncResult says what a sync did.
type SyncResult struct {
	Fetched, Kept int
	Missing       []error // one per file no URL could serve with its digest
}

// Sync copies every file into the directory mirror: a file already there
// with the right digest is kept; others are fetched from their URLs in order
// and verified before they appear, so the mirror never holds a partial or
// wrong file. The index lists every file, old and new.
func Sync(ctx context.Context, dir string, files []File, progress func(string)) (SyncResult, error) {
	var res SyncResult
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
		return res, err
	}
	index, err := readIndex(dir)
	if err != nil {
		return res, err
	}
	client := &http.Client{Timeout: 30 * time.Minute}
	for i, f := range files {
		if !hexDigest.MatchString(f.SHA256) {
			return res, fmt.Errorf("%s: %q is not a sha256", f.Name, f.SHA256)
		}
		dst := BlobPath(dir, f.SHA256)
		if ok, err := hasDigest(dst, f.SHA256); err != nil {
			return res, err
		} else if ok {
			res.Kept++
			index[f.SHA256] = f
			continue
		}
		progress(fmt.Sprintf("[%d/%d] %s", i+1, len(files), f.Name))
		if err := fetchFromAny(ctx, client, f, dst); err != nil {
			res.Missing = append(res.Missing, err)
			continue
		}
		res.Fetched++
		index[f.SHA256] = f
	}
	return res, writeIndex(dir, index)
}

// fetchFromAny fetches a file to dst from the first of its URLs that
// serves it with its digest; the error names each URL and what went wrong
// there (through which proxy, if any).
func fetchFromAny(ctx context.Context, client *http.Client, f File, dst string) error {
	var failures []string
	for _, u := range f.URLs {
		err := fetchVerified(ctx, client, u, f.SHA256, dst)
		if err == nil {
			return nil
		}
		failures = append(failures, proxy.Explain(u, fmt.Sprintf("%s: %v", u, err)))
	}
	return fmt.Errorf("%s (sha256 %s) is not on any mirror:\n    %s", f.Name, f.SHA256, strings.Join(failures, "\n    "))
}

// fetchVerified downloads url into a temporary file beside dst and renames
// it into place only when its sha256 is the pinned one.
func fetchVerified(ctx context.Context, client *http.Client, url, sha, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("served sha256 %s, but the lock pins %s", got, sha)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func hasDigest(p, sha string) (bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sha, nil
}

const indexName = "index.json"

func readIndex(dir string) (map[string]File, error) {
	index := map[string]File{}
	data, err := os.ReadFile(filepath.Join(dir, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return index, nil
	}
	if err != nil {
		return nil, err
	}
	var files []File
	if err := json.Unmarshal(data, &files); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, indexName), err)
	}
	for _, f := range files {
		index[f.SHA256] = f
	}
	return index, nil
}

func writeIndex(dir string, index map[string]File) error {
	files := make([]File, 0, len(index))
	for _, f := range index {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].Name != files[j].Name {
			return files[i].Name < files[j].Name
		}
		return files[i].SHA256 < files[j].SHA256
	})
	data, err := json.MarshalIndent(files, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+indexName+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, indexName))
}

// Server serves a directory mirror over HTTP on 127.0.0.1 for the length of
// a build: GET /sha256/<hex> answers with the file of that digest.
// Only digests are served; nothing else of the host is reachable through it.
type Server struct {
	URL string
	srv *http.Server
}

// Serve starts serving dir; Close stops it.
func Serve(dir string) (*Server, error) {
	if st, err := os.Stat(filepath.Join(dir, "sha256")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--mirror %s: not a directory mirror (no sha256/ inside): fill it with `kforge mirror sync -f <recipe> %s`", dir, dir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
		if len(parts) < 2 || parts[0] != "sha256" || !hexDigest.MatchString(parts[1]) {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, BlobPath(dir, parts[1]))
	})
	s := &Server{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
