package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var rustFixture = &lockedFixture{dir: "rust", recipe: "rust.yaml"}

// lockedRust returns the Rust recipe of testdata, locked afresh.
func lockedRust(t *testing.T) string { return rustFixture.get(t) }

// bootRust packs the program as /init and boots it with the tiny kernel.
func bootRust(t *testing.T, binary string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(root, 0o755)
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "init"), data, 0o755)
	img := filepath.Join(t.TempDir(), "initrd.img")
	writeInitrd(t, root, img)
	r := mustKforge(t, nil, "boot", "--kernel", filepath.Join(tinyKernel(t), "vmlinuz.container"), "--initrd", img,
		"--expect", "KFORGE-RUST-READY", "--timeout", "180s")
	if !strings.Contains(r.stdout, `KFORGE-RUST-READY {"pid":1,"ready":true}`) {
		t.Errorf("the program did not run as init:\n%s", lastLines(r.stdout, 5))
	}
}

func checkStaticBinary(t *testing.T, p string) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", p)
		}
	}
}

func TestRustProgramBuildsOfflineFromDebianRegistryAndBoots(t *testing.T) {
	e2e(t)
	p := lockedRust(t)
	out := filepath.Join(t.TempDir(), "out")
	mustKforge(t, nil, "build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out)
	bin := filepath.Join(out, "usr", "bin", "hello")
	checkStaticBinary(t, bin)
	// The ready line is JSON made by serde_json with the pid from libc: both
	// crates (and serde_json's own dependencies) are in the binary.
	bootRust(t, bin)
}

// vendorTarball makes a `cargo vendor`-style tarball of the program's
// crates, taken from the Debian registry of the built environment.
func vendorTarball(t *testing.T, leaveOut string) []byte {
	t.Helper()
	env := rustEnvTree(t)
	vendor := filepath.Join(t.TempDir(), "vendor")
	os.MkdirAll(vendor, 0o755)
	for _, crate := range []string{"itoa-1.0.1", "libc-0.2.139", "ryu-1.0.2", "serde-1.0.152", "serde_json-1.0.87"} {
		if strings.HasPrefix(crate, leaveOut+"-") {
			continue
		}
		copyTree(t, filepath.Join(env, "usr", "share", "cargo", "registry", crate), filepath.Join(vendor, crate))
	}
	tarball := filepath.Join(t.TempDir(), "vendor.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", filepath.Dir(vendor), "vendor").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(tarball)
	return data
}

func TestRustProgramBuildsFromVendorTarball(t *testing.T) {
	e2e(t)
	p := rustFixture.variant(t, map[string]string{"crates: {directory: /usr/share/cargo/registry}": "crates: {vendor: vendor.tar.gz}"},
		map[string][]byte{"vendor.tar.gz": vendorTarball(t, "")})
	out := filepath.Join(t.TempDir(), "out")
	mustKforge(t, nil, "build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out)
	checkStaticBinary(t, filepath.Join(out, "usr", "bin", "hello"))
}

func TestRustInputErrorsAreClear(t *testing.T) {
	e2e(t)
	lockText, _ := os.ReadFile(filepath.Join(repoRoot, "testdata", "recipes", "rust", "hello", "Cargo.lock"))
	drifted := strings.Replace(string(lockText), "name = \"serde_json\"\nversion = \"1.0.87\"", "name = \"serde_json\"\nversion = \"1.0.999\"", 1)
	cases := []struct {
		name    string
		replace map[string]string
		files   map[string][]byte
		want    []string
	}{
		{"missing vendor tarball", map[string]string{"crates: {directory: /usr/share/cargo/registry}": "crates: {vendor: vendor.tar.gz}"}, nil,
			[]string{"rust.yaml:", "vendor tarball vendor.tar.gz", "no such file"}},
		{"crate missing from the vendored set", map[string]string{"crates: {directory: /usr/share/cargo/registry}": "crates: {vendor: vendor.tar.gz}"},
			map[string][]byte{"vendor.tar.gz": vendorTarball(t, "itoa")}, []string{"itoa"}},
		{"Cargo.lock drift", nil, map[string][]byte{"hello/Cargo.lock": []byte(drifted)}, []string{"serde_json", "1.0.999"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := rustFixture.variant(t, c.replace, c.files)
			out := filepath.Join(filepath.Dir(p), "out")
			r := kforge(t, nil, "build", "-f", p, "--target", "hello", "--progress", "plain", "-o", "type=local,dest="+out)
			if r.code == 0 {
				t.Fatal("the build succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, lastLines(r.stderr, 12))
				}
			}
			noPath(t, out)
		})
	}
}

// TestKataAgentOptions builds the test program with the options of Kata's
// agent: static glibc, libseccomp linked statically from the environment,
// and Kata's units installed beside it.
func TestKataAgentOptions(t *testing.T) {
	e2e(t)
	out := filepath.Join(t.TempDir(), "out")
	mustKforge(t, nil, "build", "-f", lockedRust(t), "--target", "agent", "--progress", "plain", "-o", "type=local,dest="+out)
	bin := filepath.Join(out, "usr", "bin", "kata-agent")
	checkStaticBinary(t, bin)
	units := filepath.Join(out, "usr", "lib", "systemd", "system")
	service, err := os.ReadFile(filepath.Join(units, "kata-agent.service"))
	if err != nil || !strings.Contains(string(service), "ExecStart=/usr/bin/kata-agent") {
		t.Errorf("kata-agent.service is missing or does not start the agent: %v\n%s", err, service)
	}
	target, err := os.ReadFile(filepath.Join(units, "kata-containers.target"))
	if err != nil || !strings.Contains(string(target), "Requires=kata-agent.service") {
		t.Errorf("kata-containers.target is missing or does not pull the agent in: %v\n%s", err, target)
	}
	// The ready line carries the version read from the libseccomp linked
	// into the static binary.
	r, err := exec.Command(bin).Output()
	if err != nil || !strings.Contains(string(r), `"seccomp":"2.5.`) {
		t.Errorf("the agent does not report a linked libseccomp: %v\n%s", err, r)
	}
}
