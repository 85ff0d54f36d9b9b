package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// testArchive is a Debian archive of the test's own, served over HTTP and
// signed with a key made for the test: an index can be published with any
// content and any Valid-Until, as a real mirror would serve it.
type testArchive struct {
	t       *testing.T
	dir     string
	URL     string
	entity  *openpgp.Entity
	Keyring string // the armored public key, for debian.keyring
}

func newTestArchive(t *testing.T) *testArchive {
	t.Helper()
	entity, err := openpgp.NewEntity("kforge test archive", "", "archive@kforge.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &testArchive{t: t, dir: t.TempDir(), entity: entity}
	srv := httptest.NewServer(http.FileServer(http.Dir(a.dir)))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	var key bytes.Buffer
	w, err := armor.Encode(&key, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := entity.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a.Keyring = filepath.Join(t.TempDir(), "archive.asc")
	if err := os.WriteFile(a.Keyring, key.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// publish writes the suite's main/binary-amd64/Packages and a clear-signed
// InRelease listing it, with the extra Release fields given (Valid-Until,
// NotAutomatic).
func (a *testArchive) publish(suite string, fields map[string]string, packages string) {
	a.t.Helper()
	dists := filepath.Join(a.dir, "dists", suite)
	index := filepath.Join(dists, "main", "binary-amd64", "Packages")
	if err := os.MkdirAll(filepath.Dir(index), 0o755); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(index, []byte(packages), 0o644); err != nil {
		a.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(packages))
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: kforge test\nSuite: %s\nCodename: %s\nDate: %s\n", suite, suite, time.Now().UTC().Format(time.RFC1123))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&rel, "%s: %s\n", k, fields[k])
	}
	fmt.Fprintf(&rel, "Architectures: amd64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages\n", hex.EncodeToString(sum[:]), len(packages))
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, a.entity.PrivateKey, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := w.Write([]byte(rel.String())); err != nil {
		a.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dists, "InRelease"), signed.Bytes(), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// stanza is one package of a Packages index; depends may be empty.
func stanza(name, version, depends string) string {
	s := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\n", name, version)
	if depends != "" {
		s += "Depends: " + depends + "\n"
	}
	file := fmt.Sprintf("pool/main/%s/%s_%s_amd64.deb", name[:1], name, version)
	sum := sha256.Sum256([]byte(file))
	return s + fmt.Sprintf("Filename: %s\nSize: 100\nSHA256: %s\n\n", file, hex.EncodeToString(sum[:]))
}
