package boot

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// minimumQEMU is the first QEMU version with each NIC model that is not
// in every release.
var minimumQEMU = map[string]string{"igb": "8.0"}

var qemuVersion = regexp.MustCompile(`QEMU emulator version (\S+)`)

// CheckDevices fails, before any build, when the QEMU on PATH lacks a
// device model the machine needs; the error names the version found and
// the fix.
func CheckDevices(models []string) error {
	if len(models) == 0 {
		return nil
	}
	bin, err := exec.LookPath(QEMUBinary)
	if err != nil {
		return fmt.Errorf("%s not found: install it with `apt-get install qemu-system-x86` (QEMU 8 or newer for igb: `make qemu-igb` takes it from bookworm-backports)", QEMUBinary)
	}
	out, err := exec.Command(bin, "-device", "help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -device help: %v: %s", bin, err, out)
	}
	version := "unknown"
	if v, err := exec.Command(bin, "--version").Output(); err == nil {
		if m := qemuVersion.FindSubmatch(v); m != nil {
			version = string(m[1])
		}
	}
	for _, model := range models {
		if strings.Contains(string(out), fmt.Sprintf("name %q", model)) {
			continue
		}
		need := ""
		if v, ok := minimumQEMU[model]; ok {
			need = fmt.Sprintf(" (it needs QEMU %s or newer)", v)
		}
		return fmt.Errorf("%s is QEMU %s, which has no %s device%s: on Debian 12 install QEMU from bookworm-backports (`make qemu-igb`, or add bookworm-backports to apt's sources and `apt-get install -t bookworm-backports qemu-system-x86`)",
			bin, version, model, need)
	}
	return nil
}
