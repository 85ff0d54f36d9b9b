package recipes

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	fileModes = regexp.MustCompile(`^0?[0-7]{3}$`)
	testDisks = []string{"nvdimm", "virtio-blk"}
)

func validateContainers(r *Recipe, loc *locator) error {
	for _, name := range SortedKeys(r.Containers) {
		c, at := r.Containers[name], "$.containers."+name
		if _, ok := r.Environments[c.Base]; !ok {
			return loc.errorf(at+".base", "base %q is not an environment of this recipe (have: %v)", c.Base, SortedKeys(r.Environments))
		}
		for i, f := range c.Files {
			fat := fmt.Sprintf("%s.files[%d]", at, i)
			if !isLocalPath(f.Src) {
				return loc.errorf(fat+".src", "src %q must be a file inside the recipe's directory", f.Src)
			}
			if !path.IsAbs(f.Dest) || path.Clean(f.Dest) != f.Dest || f.Dest == "/" {
				return loc.errorf(fat+".dest", "dest %q must be a clean absolute path of a file in the image, such as /usr/local/bin/tool", f.Dest)
			}
			if f.Mode != "" && !fileModes.MatchString(f.Mode) {
				return loc.errorf(fat+".mode", "mode %q is not an octal file mode such as \"0755\"", f.Mode)
			}
		}
		for _, k := range SortedKeys(c.Env) {
			if !envName.MatchString(k) {
				return loc.errorf(at+".env."+k, "%q is not an environment variable name", k)
			}
		}
		if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
			return loc.errorf(at+".workingDir", "workingDir %q must be an absolute path", c.WorkingDir)
		}
	}
	return nil
}

func validateTests(r *Recipe, loc *locator) error {
	for _, name := range SortedKeys(r.Tests) {
		t, at := r.Tests[name], "$.tests."+name
		if !targetName.MatchString(name) {
			return loc.errorf(at, "test name %q must be lower case letters, digits, '.', '_' or '-'", name)
		}
		if _, ok := r.Kernels[t.Kernel]; !ok {
			return loc.errorf(at+".kernel", "kernel %q is not a kernel target of this recipe (have: %v)", t.Kernel, SortedKeys(r.Kernels))
		}
		kind := r.TargetKind(t.Rootfs)
		if !slices.Contains([]string{KindRootfs, KindImage, KindInitrd, KindContainer}, kind) {
			return loc.errorf(at+".rootfs", "rootfs %q is not a rootfs, image, initrd or container target of this recipe (have: %v)", t.Rootfs, bootableTargets(r))
		}
		if t.Script != "" && kind != KindRootfs && kind != KindContainer {
			return loc.errorf(at+".script", "a script runs in a rootfs or container target's tree; %q is a finished %s: boot it with its own init (no script)", t.Rootfs, kind)
		}
		if t.Script == "" && (len(t.Files) > 0 || len(t.KernelSelftests) > 0) {
			return loc.errorf(at+".files", "files and kernelSelftests go beside a script: add script:")
		}
		if t.Script != "" && !isLocalPath(t.Script) {
			return loc.errorf(at+".script", "script %q must be a file inside the recipe's directory", t.Script)
		}
		for i, f := range t.Files {
			if !isLocalPath(f) {
				return loc.errorf(fmt.Sprintf("%s.files[%d]", at, i), "file %q must be inside the recipe's directory", f)
			}
		}
		for i, d := range t.KernelSelftests {
			if !isLocalPath(d) || strings.Contains(d, "/") {
				return loc.errorf(fmt.Sprintf("%s.kernelSelftests[%d]", at, i), "%q is not a directory of tools/testing/selftests, such as tc-testing", d)
			}
		}
		if t.Timeout != "" {
			if d, err := time.ParseDuration(t.Timeout); err != nil || d <= 0 {
				return loc.errorf(at+".timeout", "timeout %q is not a duration such as 10m", t.Timeout)
			}
		}
		m := t.Machine
		if m.Memory < 0 || m.CPUs < 0 {
			return loc.errorf(at+".machine", "memory and cpus cannot be negative")
		}
		if len(m.NICs) > 4 {
			return loc.errorf(at+".machine.nics", "a test machine has at most 4 NICs, not %d", len(m.NICs))
		}
		for i, nic := range m.NICs {
			if !slices.Contains(NICModels, nic) {
				return loc.errorf(fmt.Sprintf("%s.machine.nics[%d]", at, i), "NIC %q is not one of %v", nic, NICModels)
			}
		}
		if m.Disk != "" && (!slices.Contains(testDisks, m.Disk) || kind != KindImage) {
			return loc.errorf(at+".machine.disk", "disk %q: an image target is attached as nvdimm or virtio-blk", m.Disk)
		}
		if len(t.Checks) == 0 {
			return loc.errorf(at+".checks", "a test needs checks: the lines its console must show")
		}
		for i, c := range t.Checks {
			cat := fmt.Sprintf("%s.checks[%d]", at, i)
			if c.Step != "" && t.Script == "" {
				return loc.errorf(cat+".step", "steps are a script's: with no script, check the whole console (no step)")
			}
			if len(c.Expect) == 0 {
				return loc.errorf(cat+".expect", "a check needs at least one expected line (a regular expression)")
			}
			for j, e := range c.Expect {
				if _, err := regexp.Compile(e); err != nil {
					return loc.errorf(fmt.Sprintf("%s.expect[%d]", cat, j), "%q is not a regular expression: %v", e, err)
				}
			}
		}
	}
	return nil
}

// bootableTargets are the targets a test can boot, sorted.
func bootableTargets(r *Recipe) []string {
	names := slices.Concat(SortedKeys(r.Rootfs), SortedKeys(r.Images), SortedKeys(r.Initrds), SortedKeys(r.Containers))
	slices.Sort(names)
	return names
}
