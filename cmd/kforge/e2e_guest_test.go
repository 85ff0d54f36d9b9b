package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// guestFixture is the Kata guest around the test program (its agent), in
// the Rust fixture's directory.
// The guest's kernel is recipes/kata-kernel.yaml's, from its fragments.
var guestFixture = &lockedFixture{dir: "rust", recipe: "guest.yaml", with: []string{"recipes/fragments"}}

var guestBuilt struct {
	once             sync.Once
	image, initrd    string
	initrdZstd, logs string
}

// guestOutputs builds the guest's image and initrds once for the tests.
func guestOutputs(t *testing.T) (image, initrd, initrdZstd, imageLog string) {
	t.Helper()
	guestBuilt.once.Do(func() {
		p := guestFixture.get(t)
		dir, err := os.MkdirTemp(e2eTmp, "kforge-guest-out-")
		if err != nil {
			t.Fatal(err)
		}
		r := mustKforge(t, nil, "build", "-f", p, "--target", "image", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(dir, "image"))
		mustKforge(t, nil, "build", "-f", p, "--target", "initrd", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(dir, "initrd"))
		mustKforge(t, nil, "build", "-f", p, "--target", "initrd-zstd", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(dir, "initrd-zstd"))
		guestBuilt.image = filepath.Join(dir, "image", "kata-containers.img")
		guestBuilt.initrd = filepath.Join(dir, "initrd", "kata-containers-initrd.img")
		guestBuilt.initrdZstd = filepath.Join(dir, "initrd-zstd", "kata-containers-initrd.img")
		guestBuilt.logs = r.stderr
	})
	if guestBuilt.image == "" {
		t.Fatal("building the guest failed in an earlier test")
	}
	return guestBuilt.image, guestBuilt.initrd, guestBuilt.initrdZstd, guestBuilt.logs
}

// bootGuest boots the tiny kernel with extra arguments and checks that the
// agent came up as pid 1 with libseccomp linked in.
func bootGuest(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"boot", "--kernel", filepath.Join(tinyKernel(t), "vmlinuz.container"),
		"--expect", "KFORGE-RUST-READY", "--timeout", "300s"}, args...)
	r := mustKforge(t, nil, args...)
	if !regexp.MustCompile(`KFORGE-RUST-READY \{"pid":1,"ready":true,"seccomp":"2\.5\.\d+"\}`).MatchString(r.stdout) {
		t.Errorf("the agent did not come up as init:\n%s", lastLines(r.stdout, 8))
	}
	return r.stdout
}

func TestGuestImageAndInitrdBoot(t *testing.T) {
	e2e(t)
	image, initrd, initrdZstd, log := guestOutputs(t)
	// The image step had no CAP_SYS_ADMIN and no loop device.
	if !strings.Contains(log, "CAP_SYS_ADMIN absent, loop devices visible: 0") {
		t.Errorf("the image step does not show that it ran without privileges:\n%s", grepLines(log, "image step"))
	}
	// The image environment's e2fsprogs is bookworm-backports' 1.47.2:
	// mke2fs fills the image from the tree itself in one pass.
	if !strings.Contains(log, "filled by mke2fs -d from the tree)") || !strings.Contains(log, "kata-containers.img made in ") {
		t.Errorf("the image was not filled by mke2fs from the tree:\n%s", grepLines(log, "ext4 of|made in"))
	}
	data, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)%(128<<20) != 0 || data[510] != 0x55 || data[511] != 0xaa || string(data[4096:4096+15]) != "NVDIMM_PFN_INFO" {
		t.Errorf("%s is not a Kata image: %d bytes, MBR signature %x, PFN signature %q", image, len(data), data[510:512], data[4096:4096+15])
	}
	data = nil

	t.Run("nvdimm", func(t *testing.T) {
		console := bootGuest(t, "--image", image, "--image-as", "nvdimm", "--memory", "512")
		// The kernel found the PFN info block (the DAX header: the pmem
		// device is then its pfn device) and mounted the root from the
		// partition its second MBR describes, with rootflags=dax as Kata
		// passes them.
		for _, w := range []string{"nd_pmem pfn0.", "pmem0: p1", "EXT4-fs (pmem0p1): mounted", "rootflags=dax,data=ordered"} {
			if !strings.Contains(console, w) {
				t.Errorf("console lacks %q:\n%s", w, grepLines(console, "pmem|EXT4|DAX|dax"))
			}
		}
	})
	t.Run("virtio-blk", func(t *testing.T) {
		console := bootGuest(t, "--image", image, "--image-as", "virtio-blk", "--memory", "512")
		if !strings.Contains(console, "EXT4-fs (vda1)") {
			t.Errorf("the root was not mounted from vda1:\n%s", grepLines(console, "vda|EXT4"))
		}
	})
	t.Run("initrd", func(t *testing.T) {
		bootGuest(t, "--initrd", initrd, "--memory", "1024")
	})
	t.Run("initrd zstd", func(t *testing.T) {
		head, _ := os.ReadFile(initrdZstd)
		if len(head) < 4 || !bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Fatalf("%s is not zstd", initrdZstd)
		}
		bootGuest(t, "--initrd", initrdZstd, "--memory", "1024")
	})
}

func grepLines(s, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return lastLines(strings.Join(out, "\n"), 20)
}

// TestGuestImageAndInitrdAreReproducible builds the guest again on a
// second daemon with an empty cache: the image and initrd are the same
// bytes.
func TestGuestImageAndInitrdAreReproducible(t *testing.T) {
	e2e(t)
	image, initrd, _, _ := guestOutputs(t)
	state := t.TempDir()
	env := []string{"KFORGE_STATE_DIR=" + state}
	t.Cleanup(func() { kforge(t, env, "daemon", "stop") })
	p := guestFixture.get(t)
	out := t.TempDir()
	mustKforge(t, env, "build", "-f", p, "--target", "image", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(out, "image"))
	mustKforge(t, env, "build", "-f", p, "--target", "initrd", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(out, "initrd"))
	for _, pair := range [][2]string{{image, filepath.Join(out, "image", "kata-containers.img")}, {initrd, filepath.Join(out, "initrd", "kata-containers-initrd.img")}} {
		if a, b := fileSHA256(t, pair[0]), fileSHA256(t, pair[1]); a != b {
			t.Errorf("%s differs between two builds from clean caches: %s and %s", filepath.Base(pair[0]), a, b)
		}
	}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// TestGuestRootfsWithSystemd checks Kata's wiring in a systemd guest: the
// agent as a service pulled in through kata-containers.target, Kata's unit
// trims, the runtime-owned files emptied, and the metadata file.
func TestGuestRootfsWithSystemd(t *testing.T) {
	e2e(t)
	p := guestFixture.get(t)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	mustKforge(t, nil, "build", "-f", p, "--target", "systemd", "--progress", "plain", "-o", "type=tar,dest="+tarball)
	entries := tarEntries(t, tarball, "etc/", "usr/lib/systemd/", "usr/bin/kata-agent", "var/")
	link := func(name, target string) {
		if h, ok := entries[name]; !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != target {
			t.Errorf("%s is not a link to %s: %+v", name, target, h)
		}
	}
	link("etc/systemd/system/basic.target.wants/kata-containers.target", "/usr/lib/systemd/system/kata-containers.target")
	link("var/tmp", "/tmp")
	for _, f := range []string{"usr/bin/kata-agent", "usr/lib/systemd/system/kata-agent.service", "usr/lib/systemd/system/kata-containers.target",
		"usr/lib/systemd/system/systemd-logind.service"} {
		if _, ok := entries[f]; !ok {
			t.Errorf("%s is missing", f)
		}
	}
	for _, f := range []string{"usr/lib/systemd/system/systemd-journald.service", "usr/lib/systemd/system/systemd-udevd.service",
		"usr/lib/systemd/system/systemd-timesyncd.service", "usr/lib/systemd/system-generators/systemd-getty-generator"} {
		if _, ok := entries[f]; ok {
			t.Errorf("%s is still there: Kata removes it", f)
		}
	}
	if h := entries["etc/resolv.conf"]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 0 {
		t.Errorf("etc/resolv.conf is not an empty file: %+v", h)
	}
	meta := string(tarFile(t, tarball, "var/lib/osbuilder/osbuilder.yaml"))
	for _, w := range []string{`file-format-version: "0.0.2"`, `agent-is-init-daemon: "no"`,
		`recipe-sha256: "` + fileSHA256(t, p) + `"`, `lock-sha256: "` + fileSHA256(t, strings.TrimSuffix(p, ".yaml")+".lock") + `"`, "systemd="} {
		if !strings.Contains(meta, w) {
			t.Errorf("osbuilder.yaml lacks %q:\n%s", w, meta)
		}
	}
}

// tarEntries lists the headers of the entries under the prefixes.
func tarEntries(t *testing.T, tarball string, prefixes ...string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "./")
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				entries[name] = h
			}
		}
	}
}

func tarFile(t *testing.T, tarball, name string) []byte {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s is not in the rootfs: %v", name, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, _ := io.ReadAll(tr)
			return data
		}
	}
}

func TestGuestInputErrorsAreClear(t *testing.T) {
	e2e(t)
	t.Run("rootfs larger than a fixed image size", func(t *testing.T) {
		p := guestFixture.variant(t, map[string]string{"image: {rootfs: rootfs, builder: tools}": "image: {rootfs: rootfs, builder: tools, size: 64}"}, nil)
		out := filepath.Join(filepath.Dir(p), "out")
		r := kforge(t, nil, "build", "-f", p, "--target", "image", "--progress", "plain", "-o", "type=local,dest="+out)
		if r.code == 0 {
			t.Fatal("an image too small for its rootfs was built")
		}
		if !regexp.MustCompile(`the rootfs \(\d+ MiB of data in \d+ inodes\) does not fit the fixed image size of 64 MiB`).MatchString(r.stderr) {
			t.Errorf("error does not say the rootfs does not fit:\n%s", lastLines(r.stderr, 10))
		}
		noPath(t, out)
	})
	t.Run("unknown init", func(t *testing.T) {
		p := guestFixture.variant(t, map[string]string{"init: agent}": "init: openrc}"}, nil)
		r := kforge(t, nil, "build", "-f", p, "--target", "image", "-o", "type=local,dest="+filepath.Join(filepath.Dir(p), "out"))
		if r.code == 0 || !regexp.MustCompile(`guest\.yaml:\d+:\d+: init "openrc" is not systemd or agent`).MatchString(r.stderr) {
			t.Errorf("an unknown init is not refused at its line:\n%s", lastLines(r.stderr, 5))
		}
	})
}
