package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestSyncFetchesVerifiesAndKeeps(t *testing.T) {
	good, bad := []byte("the pinned file"), []byte("not the pinned file")
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		switch r.URL.Path {
		case "/good":
			w.Write(good)
		case "/bad":
			w.Write(bad)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	files := []File{
		{Name: "a.deb", SHA256: digestOf(good), URLs: []string{srv.URL + "/bad", srv.URL + "/good"}},
		{Name: "b.deb", SHA256: digestOf([]byte("elsewhere")), URLs: []string{srv.URL + "/missing", srv.URL + "/bad"}},
	}
	res, err := Sync(context.Background(), dir, files, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 1 || len(res.Missing) != 1 {
		t.Fatalf("fetched %d, missing %v", res.Fetched, res.Missing)
	}
	msg := res.Missing[0].Error()
	for _, w := range []string{"b.deb", "is not on any mirror", "404", "served sha256 " + digestOf(bad)} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing-file error lacks %q: %s", w, msg)
		}
	}
	if data, _ := os.ReadFile(BlobPath(dir, digestOf(good))); string(data) != string(good) {
		t.Errorf("the mirror holds %q", data)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sha256"))
	if len(entries) != 1 {
		t.Errorf("the mirror holds %d files; a wrong or partial file was kept", len(entries))
	}
	before := requests
	res, _ = Sync(context.Background(), dir, files[:1], func(string) {})
	if res.Kept != 1 || requests != before {
		t.Errorf("a second sync fetched again (kept %d, %d requests)", res.Kept, requests-before)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if !strings.Contains(string(index), `"name": "a.deb"`) {
		t.Errorf("index.json: %s", index)
	}

	s, err := Serve(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/sha256/" + digestOf(good) + "/a.deb"); code != 200 || body != string(good) {
		t.Errorf("serving a file by digest: %d %q", code, body)
	}
	for _, p := range []string{"/index.json", "/sha256/../index.json", "/sha256/" + digestOf(bad) + "/x"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

func TestServeRefusesADirectoryThatIsNoMirror(t *testing.T) {
	if _, err := Serve(t.TempDir()); err == nil || !strings.Contains(err.Error(), "kforge mirror sync") {
		t.Errorf("got %v", err)
	}
}
