package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// A kernel.org-style source is pinned from a signed sha256sums.asc; a
// version that does not exist fails at lock time, before any build work,
// naming the nearest versions that do. The release directory is served on
// 127.0.0.1 with sums signed by a key made for the test and pinned in the
// recipe.
func TestKernelOrgVersionIsCheckedAtLock(t *testing.T) {
	e2e(t)
	key, err := openpgp.NewEntity("kforge test release key", "", "release@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, v := range []string{"4.20", "5.0", "5.0.1", "5.1"} {
		fmt.Fprintf(&sums, "%x  linux-%s.tar.xz\n", sha256.Sum256([]byte(v)), v)
	}
	var signed bytes.Buffer
	w, _ := clearsign.Encode(&signed, key.PrivateKey, nil)
	w.Write([]byte(sums.String()))
	w.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pub/linux/kernel/v5.x/sha256sums.asc" {
			w.Write(signed.Bytes())
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "testdata", "recipes", "kernel"), dir)
	var pub bytes.Buffer
	aw, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	key.Serialize(aw)
	aw.Close()
	os.WriteFile(filepath.Join(dir, "release.asc"), pub.Bytes(), 0o644)
	p := filepath.Join(dir, "kernel.yaml")
	data, _ := os.ReadFile(p)
	source := "      deb: {package: linux-source-6.1, path: usr/src/linux-source-6.1.tar.xz}"
	for _, c := range []struct {
		version string
		ok      bool
	}{{"5.0.0", false}, {"5.0.1", true}} {
		text := strings.Replace(string(data), source, fmt.Sprintf("      kernelOrg:\n        version: %s\n        mirrors: [%s/pub/linux/kernel]\n        keys: [release.asc]", c.version, srv.URL), 1)
		os.WriteFile(p, []byte(text), 0o644)
		os.Remove(filepath.Join(dir, "kernel.lock"))
		r := kforge(t, nil, "lock", "-f", p)
		lock, _ := os.ReadFile(filepath.Join(dir, "kernel.lock"))
		if !c.ok {
			if r.code == 0 || !strings.Contains(r.stderr, "kernel 5.0.0 does not exist") || !strings.Contains(r.stderr, "nearest versions: 5.0, 5.0.1") {
				t.Errorf("version 5.0.0: exit %d:\n%s", r.code, r.stderr)
			}
			noPath(t, filepath.Join(dir, "kernel.lock"))
			continue
		}
		want := fmt.Sprintf("%x", sha256.Sum256([]byte("5.0.1")))
		if r.code != 0 || !bytes.Contains(lock, []byte("v5.x/linux-5.0.1.tar.xz")) || !bytes.Contains(lock, []byte(want)) {
			t.Errorf("version 5.0.1 was not pinned from the signed sums (exit %d):\n%s", r.code, r.stderr)
		}
	}
}
