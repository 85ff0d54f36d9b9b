package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestKataKernelBootsSystemdGuest builds the built-in Kata kernel
// (recipes/kata-kernel.yaml: linux-source-6.12 from bookworm-security with
// kforge's fragments, under policy fail) and boots the test guest's systemd
// image with it through `kforge test`, as `make run` does: the image as an
// NVDIMM, systemd as init, and the stand-in agent started by systemd through
// kata-containers.target and kata-agent.service. The test guest's kernel is
// the built-in one (the same source, fragments and builder packages), so
// the second build is the first one's cache.
func TestKataKernelBootsSystemdGuest(t *testing.T) {
	e2e(t)
	out := filepath.Join(t.TempDir(), "kata-kernel")
	r := mustKforge(t, nil, "build", "-f", filepath.Join(repoRoot, "recipes", "kata-kernel.yaml"), "--target", "kernel",
		"--progress", "plain", "-o", "type=local,dest="+out)
	// The report beside the kernel (the build prints it only when the
	// configure step runs rather than comes from the cache).
	reportFiles, _ := filepath.Glob(filepath.Join(out, "config-report-6.12.*.txt"))
	if len(reportFiles) != 1 {
		t.Fatalf("the kernel's output has no config report: %v", reportFiles)
	}
	report, _ := os.ReadFile(reportFiles[0])
	m := regexp.MustCompile(`config report: (\d+) options requested, (\d+) landed, (\d+) did not \((\d+) allowed\)`).FindStringSubmatch(string(report))
	if m == nil {
		t.Fatalf("%s has no summary:\n%s", reportFiles[0], report)
	}
	if m[3] != m[4] {
		t.Errorf("options dropped outside the allow-list: %s", m[0])
	}
	if n, _ := strconv.Atoi(m[1]); n < 500 {
		t.Errorf("the Kata kernel requests %d options: not Kata's fragment set", n)
	}
	vmlinuz, err := os.Readlink(filepath.Join(out, "vmlinuz.container"))
	if err != nil || !strings.HasPrefix(vmlinuz, "vmlinuz-6.12.") {
		t.Errorf("vmlinuz.container -> %q (%v), want a 6.12 kernel", vmlinuz, err)
	}

	p := guestFixture.get(t)
	reports := t.TempDir()
	r = mustKforge(t, nil, "test", "-f", p, "--progress", "plain", "--report", reports, "systemd")
	if !regexp.MustCompile(`#\d+ \[kernel\] compile bzImage for x86_64\n#\d+ CACHED`).MatchString(r.stderr) {
		t.Errorf("the test guest's kernel was not the built-in kernel's cache:\n%s", grepLines(r.stderr, `\[kernel\]|CACHED`))
	}
	console := r.stdout
	for _, want := range []string{
		"Linux version 6.12.",                               // the Kata kernel
		"EXT4-fs (pmem0p1): mounted",                        // the root on the NVDIMM
		"systemd[1]: ",                                      // systemd is init
		"kernel start to ready: ",                           // the boot is timed
		"systemd[1]: Started kata-agent.service",            // systemd started the agent
		"systemd[1]: Reached target kata-containers.target", // through Kata's target
	} {
		if !strings.Contains(console, want) {
			t.Errorf("the console lacks %q:\n%s", want, lastLines(console, 30))
		}
	}
	ready := regexp.MustCompile(`KFORGE-RUST-READY \{"pid":(\d+),"ready":true,"seccomp":"2\.5\.\d+","unit":"kata-agent\.service","uptime_ms":(\d+)\}`).FindStringSubmatch(console)
	if ready == nil {
		t.Fatalf("the agent did not report from kata-agent.service:\n%s", grepLines(console, "KFORGE|kata|Failed|FAILED"))
	}
	if ready[1] == "1" {
		t.Errorf("the agent is pid 1: systemd did not start it")
	}
	uptime, _ := strconv.Atoi(ready[2])
	t.Logf("kernel start to agent ready: %d ms on the guest's clock; %s", uptime, grepLines(console, "kernel start to ready"))
	testReport, err := os.ReadFile(filepath.Join(reports, "rust-guest", "systemd", "report.json"))
	if err != nil || !regexp.MustCompile(`"readyNs": [1-9]\d*`).Match(testReport) {
		t.Errorf("the report has no ready time (%v):\n%s", err, testReport)
	}
}
