package registry

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
)

// counting is an in-process registry that records the requests it served.
type counting struct {
	mu   sync.Mutex
	reqs []string
	h    http.Handler
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *counting) uploads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.HasPrefix(r, "POST ") && strings.HasSuffix(r, "/blobs/uploads/") {
			n++
		}
	}
	return n
}

func artifact(t *testing.T, payload string) oras.ReadOnlyTarget {
	t.Helper()
	ctx := context.Background()
	mem := memory.New()
	layer, err := oras.PushBytes(ctx, mem, "application/octet-stream", []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "application/vnd.kforge.test.v1",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2023-11-14T22:13:20Z"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Tag(ctx, desc, ""); err != nil {
		t.Fatal(err)
	}
	return mem
}

// A loopback registry that speaks HTTP is reached without --plain-http,
// and a second push of the same blobs uploads none of them.
func TestPushToLoopbackHTTPSkipsExistingBlobs(t *testing.T) {
	reg := &counting{h: ggcr.New()}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := artifact(t, "kernel bytes")
	var progress bytes.Buffer
	first, err := c.Push(context.Background(), src, host+"/k/tiny:v1", &progress)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.uploads(); n != 2 { // the layer and the empty config
		t.Errorf("first push started %d uploads, want 2", n)
	}
	second, err := c.Push(context.Background(), src, host+"/k/tiny:v2", &progress)
	if err != nil || second.Digest != first.Digest {
		t.Fatalf("second push: %v, %s vs %s", err, second.Digest, first.Digest)
	}
	if n := reg.uploads(); n != 2 {
		t.Errorf("the second push uploaded blobs the registry had (%d uploads)", n)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true,
		"10.0.0.1:5000": false, "registry.example:443": false, "192.168.1.2": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%s) = %v", host, got)
		}
	}
}

// A registry that is not on this host is never reached over plain HTTP
// unless --plain-http asks for it.
func TestNonLoopbackNeedsTLS(t *testing.T) {
	c, _ := New(Options{})
	repo, _, err := c.Repository(context.Background(), "registry.example:5000/k/tiny:v1")
	if err != nil {
		t.Fatal(err)
	}
	if repo.PlainHTTP {
		t.Error("a registry that is not on this host is reached over plain HTTP")
	}
}
