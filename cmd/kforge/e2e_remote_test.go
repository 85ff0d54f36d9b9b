package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kforge/kforge/internal/solve"
)

// tlsDaemon is a buildkitd of its own (an empty state) that listens on
// 127.0.0.1 with mutual TLS, as a build farm's node does.
type tlsDaemon struct {
	addr                      string // tcp://127.0.0.1:PORT
	caFile, certFile, keyFile string // what a client presents
	otherCert, otherKey       string // a client certificate the daemon's CA did not sign
}

// flags are kforge's global flags for the daemon, with mTLS.
func (d *tlsDaemon) flags() []string {
	return []string{"--addr", d.addr, "--tlscacert", d.caFile, "--tlscert", d.certFile, "--tlskey", d.keyFile}
}

func startTLSDaemon(t *testing.T) *tlsDaemon {
	t.Helper()
	dir := t.TempDir()
	d := &tlsDaemon{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem"),
		otherCert: filepath.Join(dir, "other.pem"), otherKey: filepath.Join(dir, "other-key.pem")}
	serverCert, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	// The server's certificate comes with its CA; a client certificate is
	// signed by that CA, another one by a CA of its own.
	if err := writeCerts(d.caFile, serverCert, serverKey); err != nil {
		t.Fatal(err)
	}
	if err := writeClientCert(d.caFile, d.certFile, d.keyFile); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other-ca.pem")
	if err := writeCerts(otherCA, d.otherCert, d.otherKey); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d.addr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("KFORGE_BUILDKITD"), "--root", filepath.Join(dir, "root"), "--addr", d.addr,
		"--tlscacert", d.caFile, "--tlscert", serverCert, "--tlskey", serverKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r := kforge(t, nil, append(d.flags(), "daemon", "status")...); r.code == 0 {
			return d
		} else if time.Now().After(deadline) {
			data, _ := os.ReadFile(log.Name())
			t.Fatalf("the TLS daemon did not answer: %s\n%s", r.stderr, lastLines(string(data), 20))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// writeClientCert makes a client CA, appends it to caFile (which the daemon
// and kforge both trust) and issues a client certificate from it.
func writeClientCert(caFile, certFile, keyFile string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "kforge test client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "kforge farm node"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(caFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})); err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// Node A (the shared daemon) builds the whole test guest and exports its
// cache to the authenticated registry; node B, a fresh daemon reached over
// TCP with mutual TLS, builds the same guest from that cache and runs no
// compile and no dpkg step, giving the same files. Both daemons get the
// registry's credentials from the docker config through the session.
func TestFarmNodeBuildsTheGuestFromARegistryCache(t *testing.T) {
	e2e(t)
	reg := farmRegistry(t)
	p := guestFixture.get(t)
	nodeB := startTLSDaemon(t)
	out := t.TempDir()
	for _, target := range []string{"kernel", "rootfs", "image", "initrd"} {
		cacheRef := reg.Host + "/kforge/cache/guest:" + target
		mustKforge(t, reg.env(), "build", "-f", p, "--target", target, "--progress", "plain",
			"--cache-to", "type=registry,ref="+cacheRef+",mode=min", "-o", "type=local,dest="+filepath.Join(out, "a", target))
		r := mustKforge(t, reg.env(), append(nodeB.flags(), "build", "-f", p, "--target", target, "--progress", "rawjson",
			"--cache-from", "type=registry,ref="+cacheRef, "-o", "type=local,dest="+filepath.Join(out, "b", target))...)
		if strings.Contains(r.stderr, "kforge: warning:") {
			t.Errorf("node B built %s with a warning:\n%s", target, lastLines(r.stderr, 5))
		}
		ran := uncachedSteps(t, r.stderr)
		if heavy := solve.HeavySteps(ran); len(heavy) > 0 {
			t.Errorf("node B ran %d compile or dpkg steps for %s: %v", len(heavy), target, heavy)
		}
		t.Logf("node B, %s: %d steps ran (none compiles or installs): %v", target, len(ran), ran)
	}
	for _, f := range []string{"image/kata-containers.img", "initrd/kata-containers-initrd.img"} {
		a, errA := os.ReadFile(filepath.Join(out, "a", f))
		b, errB := os.ReadFile(filepath.Join(out, "b", f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between node A and node B (%v, %v)", f, errA, errB)
		}
	}
	sameTree(t, filepath.Join(out, "a", "kernel"), filepath.Join(out, "b", "kernel"), false)
}

// A daemon on TCP with mTLS refuses a client without the right certificate,
// and kforge says which flags to give.
func TestRemoteDaemonTLSMistakesAreClear(t *testing.T) {
	e2e(t)
	d := startTLSDaemon(t)
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no TLS at all", []string{"--addr", d.addr}, "give --tlscacert, --tlscert and --tlskey"},
		{"no client certificate", []string{"--addr", d.addr, "--tlscacert", d.caFile}, "does not answer"},
		{"a certificate of another CA", []string{"--addr", d.addr, "--tlscacert", d.caFile, "--tlscert", d.otherCert, "--tlskey", d.otherKey}, "does not answer"},
		{"a key without its certificate", []string{"--addr", d.addr, "--tlscacert", d.caFile, "--tlskey", d.keyFile}, "--tlscert and --tlskey go together"},
		{"TLS for the local daemon", []string{"--tlscacert", d.caFile}, "apply to a daemon at tcp://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kforge(t, nil, append(tc.flags, "daemon", "status")...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want an error with %q:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
	r := mustKforge(t, nil, append(d.flags(), "daemon", "status")...)
	if !strings.Contains(r.stdout, d.addr) {
		t.Errorf("daemon status over mTLS does not name %s:\n%s", d.addr, r.stdout)
	}
}

// A cache on a registry that does not answer costs only the cache: the
// build goes on and says so.
func TestUnreachableCacheRegistryIsAWarning(t *testing.T) {
	e2e(t)
	p := lockedKernel(t)
	tinyKernel(t)
	dead := "127.0.0.1:9/kforge/cache:none" // the discard port: nothing listens
	r := mustKforge(t, nil, "build", "-f", p, "--target", "tiny", "--progress", "plain",
		// mode=min: mode=max would first compress every layer of the build.
		"--cache-from", "type=registry,ref="+dead, "--cache-to", "type=registry,ref="+dead+",mode=min")
	for _, want := range []string{"kforge: warning: cache " + dead + " could not be imported", "kforge: warning: the build cache was not exported"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no %q in:\n%s", want, lastLines(r.stderr, 30))
		}
	}
}
