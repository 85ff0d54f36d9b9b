package main

// A real OCI registry (Distribution, bin/registry) behind TLS and basic
// auth, and the oras CLI (bin/oras) as an independent client, for the tests
// of what kforge pushes and pulls. `make test-deps` builds both tools. The
// registry is shared by the whole test binary; runE2E calls stopRegistries
// after m.Run.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

type testRegistry struct {
	Host         string // 127.0.0.1:PORT
	CAFile       string // PEM of the CA that signed the server's certificate
	Root         string // the filesystem storage's root directory
	DockerConfig string // directory of a config.json with User's credentials
	User         string
	Password     string

	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	client *http.Client
}

var (
	registryOnce sync.Once
	registryRun  *testRegistry
	registryErr  error
	// The plain one: anonymous HTTP on 127.0.0.1, as a farm's local
	// registry of build images is, which buildkitd reaches with no
	// configuration (it speaks plain HTTP to loopback).
	plainOnce sync.Once
	plainRun  *testRegistry
	plainErr  error
	// The farm's: plain HTTP on 127.0.0.1 with htpasswd auth. BuildKit
	// reaches a registry on 127.0.0.1 over plain HTTP unless its config
	// says otherwise, so the daemon's own cache and mirror fetches use this
	// one, with the docker config's credentials.
	farmOnce sync.Once
	farmRun  *testRegistry
	farmErr  error
)

// registryMode is how a test registry is served.
type registryMode struct{ tls, auth bool }

// sharedRegistry returns the registry of this test binary, started on the
// first call.
func sharedRegistry(t *testing.T) *testRegistry {
	t.Helper()
	registryOnce.Do(func() { registryRun, registryErr = startRegistry(registryMode{tls: true, auth: true}) })
	if registryErr != nil {
		t.Fatal(registryErr)
	}
	return registryRun
}

// plainRegistry returns the anonymous plain-HTTP registry, started on the
// first call.
func plainRegistry(t *testing.T) *testRegistry {
	t.Helper()
	plainOnce.Do(func() { plainRun, plainErr = startRegistry(registryMode{}) })
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainRun
}

// farmRegistry returns the plain-HTTP registry with auth, started on the
// first call.
func farmRegistry(t *testing.T) *testRegistry {
	t.Helper()
	farmOnce.Do(func() { farmRun, farmErr = startRegistry(registryMode{auth: true}) })
	if farmErr != nil {
		t.Fatal(farmErr)
	}
	return farmRun
}

// stopRegistries stops the shared registry, if one was started, and removes
// its files.
func stopRegistries() {
	for _, r := range []*testRegistry{registryRun, plainRun, farmRun} {
		if r == nil {
			continue
		}
		r.cmd.Process.Kill()
		<-r.exited
		os.RemoveAll(r.dir)
	}
}

func startRegistry(mode registryMode) (*testRegistry, error) {
	bin := os.Getenv("KFORGE_TEST_REGISTRY")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin", "registry")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no registry at %s: run `make test-deps` (or set KFORGE_TEST_REGISTRY)", bin)
	}
	dir, err := os.MkdirTemp(e2eTmp, "kforge-registry-")
	if err != nil {
		return nil, err
	}
	r, err := setUpRegistry(bin, dir, mode)
	if err != nil {
		if r != nil && r.exited != nil {
			r.cmd.Process.Kill()
			<-r.exited
		}
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

func setUpRegistry(bin, dir string, mode registryMode) (*testRegistry, error) {
	r := &testRegistry{
		Root:         filepath.Join(dir, "storage"),
		DockerConfig: filepath.Join(dir, "docker"),
		CAFile:       filepath.Join(dir, "ca.pem"),
		User:         "kforge",
		Password:     randomHex(16),
		dir:          dir,
	}
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := writeCerts(r.CAFile, certFile, keyFile); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(r.CAFile)
	pool.AppendCertsFromPEM(caPEM)
	r.client = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}

	// The lowest bcrypt cost: the registry checks the password on every
	// request, and the default cost makes each one take tens of milliseconds.
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Host = l.Addr().String()
	l.Close()

	// The secret is set only to keep a warning about a generated one out of
	// the log.
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  secret: %q
`, r.Root, r.Host, randomHex(16))
	scheme, ready := "http", http.StatusOK
	if mode.tls {
		config += fmt.Sprintf("  tls:\n    certificate: %q\n    key: %q\n", certFile, keyFile)
		scheme = "https"
	}
	if mode.auth {
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: kforge-test\n    path: %q\n", htpasswd)
		ready = http.StatusUnauthorized
	}
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := writeDockerConfig(r.DockerConfig, r.Host, r.User, r.Password); err != nil {
		return nil, err
	}

	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r.cmd = exec.Command(bin, "serve", configFile)
	// Without this the registry sends traces to localhost:4318 and logs an
	// error for each batch it cannot send.
	r.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	r.exited = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.exited) }()

	fail := func(why string) error {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("registry on %s %s:\n%s", r.Host, why, lastLines(string(log), 30))
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-r.exited:
			return r, fail("exited")
		default:
		}
		resp, err := r.client.Get(scheme + "://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == ready {
				return r, nil
			}
			return r, fail("answered /v2/ without credentials with " + resp.Status)
		}
		if time.Now().After(deadline) {
			return r, fail(fmt.Sprintf("not ready after 30s: %v", err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeCerts writes a new CA and a certificate it signs for 127.0.0.1 and
// localhost, with the server's key.
func writeCerts(caFile, certFile, keyFile string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kforge test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	server := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, server, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", serverDER}, {keyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeDockerConfig writes dir/config.json, as docker login would, with
// credentials for host.
func writeDockerConfig(dir, host, user, password string) error {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	data, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env is the environment that gives kforge or oras the registry's
// credentials.
func (r *testRegistry) env() []string {
	return []string{"DOCKER_CONFIG=" + r.DockerConfig}
}

// wrongCredentials is an environment whose credentials for the registry
// have the right user and a wrong password.
func (r *testRegistry) wrongCredentials(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	if err := writeDockerConfig(dir, r.Host, r.User, "wrong-"+r.Password); err != nil {
		t.Fatal(err)
	}
	return []string{"DOCKER_CONFIG=" + dir}
}

// blobPath is where the registry's filesystem storage keeps a blob.
func (r *testRegistry) blobPath(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
}

// hasTag asks the registry itself whether repo has a manifest tagged tag.
func (r *testRegistry) hasTag(t *testing.T, repo, tag string) bool {
	t.Helper()
	req, err := http.NewRequest("GET", "https://"+r.Host+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return true
	}
	if resp.StatusCode == http.StatusNotFound {
		var e struct{ Errors []struct{ Code string } }
		json.Unmarshal(body, &e)
		if len(e.Errors) > 0 && (e.Errors[0].Code == "MANIFEST_UNKNOWN" || e.Errors[0].Code == "NAME_UNKNOWN") {
			return false
		}
	}
	t.Fatalf("GET manifest %s:%s: %s\n%s", repo, tag, resp.Status, body)
	return false
}

func orasBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KFORGE_TEST_ORAS")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin", "oras")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no oras at %s: run `make test-deps` (or set KFORGE_TEST_ORAS)", bin)
	}
	return bin
}

// runOras runs the oras CLI in the current directory with env added to the
// environment.
func runOras(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(orasBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	return runCommand(t, cmd)
}

// oras runs the oras CLI with the registry's credentials; the registry's
// CA is the caller's to pass, as --ca-file.
func (r *testRegistry) oras(t *testing.T, args ...string) result {
	t.Helper()
	return runOras(t, r.env(), args...)
}

// mustOras runs oras with the registry's credentials and fails the test on
// a non-zero exit.
func (r *testRegistry) mustOras(t *testing.T, args ...string) result {
	t.Helper()
	res := r.oras(t, args...)
	if res.code != 0 {
		t.Fatalf("oras %s: exit %d\n%s", strings.Join(args, " "), res.code, lastLines(res.stderr, 40))
	}
	return res
}

// TestRegistryHarness checks the harness itself with oras alone: a push
// over TLS with the credentials lands in the registry's storage, and wrong
// credentials are refused.
func TestRegistryHarness(t *testing.T) {
	e2e(t)
	r := sharedRegistry(t)
	// oras takes the files to push as paths relative to its directory.
	t.Chdir(t.TempDir())
	hello := []byte("hello from kforge\n")
	if err := os.WriteFile("hello.txt", hello, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := r.Host + "/harness/file:v1"
	const artifactType = "application/vnd.kforge.test.v1"
	r.mustOras(t, "push", "--ca-file", r.CAFile, ref, "hello.txt:text/plain", "--artifact-type", artifactType)

	if !r.hasTag(t, "harness/file", "v1") {
		t.Fatal("the registry has no harness/file:v1 after oras push")
	}
	if r.hasTag(t, "harness/file", "v2") || r.hasTag(t, "harness/none", "v1") {
		t.Fatal("the registry has a tag nobody pushed")
	}
	sum := sha256.Sum256(hello)
	if _, err := os.Stat(r.blobPath("sha256:" + hex.EncodeToString(sum[:]))); err != nil {
		t.Fatalf("the pushed file is not in the registry's storage: %v", err)
	}

	out := r.mustOras(t, "manifest", "fetch", "--ca-file", r.CAFile, ref)
	var manifest struct{ ArtifactType string }
	if err := json.Unmarshal([]byte(out.stdout), &manifest); err != nil || manifest.ArtifactType != artifactType {
		t.Fatalf("oras manifest fetch: artifactType %q, want %q (%v)\n%s", manifest.ArtifactType, artifactType, err, out.stdout)
	}

	bad := runOras(t, r.wrongCredentials(t), "manifest", "fetch", "--ca-file", r.CAFile, ref)
	if bad.code == 0 || !strings.Contains(bad.stderr, "unauthorized") {
		t.Fatalf("oras with a wrong password: exit %d, want unauthorized\n%s", bad.code, bad.stderr)
	}
}
