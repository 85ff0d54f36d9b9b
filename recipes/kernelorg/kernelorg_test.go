package kernelorg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

func TestNearest(t *testing.T) {
	known := []string{"4.20", "5.0", "5.0.1", "5.1", "5.10.3"}
	if got := Nearest("5.0.0", known, 2); !reflect.DeepEqual(got, []string{"5.0", "5.0.1"}) {
		t.Errorf("Nearest(5.0.0) = %v, want [5.0 5.0.1]", got)
	}
}

// A kernel.org-like directory served over HTTP, with sha256sums.asc signed
// by a key made for the test.
func signedServer(t *testing.T, signer *openpgp.Entity, files map[string][]byte) *httptest.Server {
	var sums strings.Builder
	for name, data := range files {
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), name)
	}
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(sums.String()))
	w.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pub/linux/kernel/v5.x/sha256sums.asc" {
			w.Write(signed.Bytes())
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestResolveVerifiesAndSuggests(t *testing.T) {
	key, err := openpgp.NewEntity("kforge test release key", "", "release@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"linux-5.0.tar.xz": []byte("a"), "linux-5.0.1.tar.xz": []byte("b"), "linux-5.1.tar.xz": []byte("c")}
	srv := signedServer(t, key, files)
	mirror := srv.URL + "/pub/linux/kernel"

	p, err := Resolve(context.Background(), []string{mirror}, "5.0.1", openpgp.EntityList{key})
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != "v5.x/linux-5.0.1.tar.xz" || p.SHA256 != fmt.Sprintf("%x", sha256.Sum256([]byte("b"))) {
		t.Errorf("pinned %+v", p)
	}

	_, err = Resolve(context.Background(), []string{mirror}, "5.0.0", openpgp.EntityList{key})
	if err == nil || !strings.Contains(err.Error(), "kernel 5.0.0 does not exist") || !strings.Contains(err.Error(), "nearest versions: 5.0, 5.0.1") {
		t.Errorf("missing version: %v", err)
	}

	other, _ := openpgp.NewEntity("someone else", "", "x@example.org", nil)
	_, err = Resolve(context.Background(), []string{mirror}, "5.0.1", openpgp.EntityList{other})
	if err == nil || !strings.Contains(err.Error(), "signature check failed") {
		t.Errorf("a signature by an unpinned key was accepted: %v", err)
	}
}
