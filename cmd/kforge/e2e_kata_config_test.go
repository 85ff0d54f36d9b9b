package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Kata's own fragment tree, merged by kforge for x86_64, gives the same
// .config as the kernel's merge_config.sh -n run independently on the host
// over the same files in the same order, followed by olddefconfig; and
// every option merge_config.sh says did not land is in kforge's report with
// a reason. Against Debian's linux-source-6.1 and the 6.12 LTS from
// bookworm-security.
func TestKataFragmentsMergeLikeMergeConfig(t *testing.T) {
	e2e(t)
	for _, c := range []struct{ name, source string }{
		{"6.1", ""},
		{"6.12", "      deb: {package: linux-source-6.12, path: usr/src/linux-source-6.12.tar.xz, suite: bookworm-security,\n" +
			"            mirrors: [http://deb.debian.org/debian-security]}"},
	} {
		t.Run(c.name, func(t *testing.T) { mergeLikeMergeConfig(t, c.source) })
	}
}

func mergeLikeMergeConfig(t *testing.T, source string) {
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "testdata", "recipes", "kernel"), dir)
	copyTree(t, filepath.Join(repoRoot, "testdata", "kata-fragments"), filepath.Join(dir, "kata"))
	p := filepath.Join(dir, "kernel.yaml")
	data, _ := os.ReadFile(p)
	text := strings.Replace(string(data), "      base: tinyconfig\n      kata: {tree: fragments}",
		"      base: allnoconfig\n      kata: {tree: kata}\n      policy: warn", 1)
	if source != "" {
		text = strings.Replace(text, "      deb: {package: linux-source-6.1, path: usr/src/linux-source-6.1.tar.xz}", source, 1)
	}
	os.WriteFile(p, []byte(text), 0o644)
	lockLive(t, p)
	r := mustKforge(t, nil, "kernel", "config", "-f", p, "--target", "tiny", "--progress", "plain")
	kforgeConfig := r.stdout
	dropped := reportedDrops(r.stderr)

	// The independent run: the same source from the lock, on the host.
	src := hostKernelSource(t, strings.TrimSuffix(p, ".yaml")+".lock", "tiny")
	files := kataSelection(t, filepath.Join(dir, "kata"), "x86_64")
	objdir := filepath.Join(t.TempDir(), "obj")
	os.MkdirAll(objdir, 0o755)
	merge := exec.Command("scripts/kconfig/merge_config.sh", append([]string{"-n", "-O", objdir}, files...)...)
	merge.Dir = src
	merge.Env = append(os.Environ(), "ARCH=x86_64", "PATH="+pathWithoutRust())
	mergeOut, err := merge.CombinedOutput()
	if err != nil {
		t.Fatalf("merge_config.sh: %v\n%s", err, lastLines(string(mergeOut), 20))
	}
	old := exec.Command("make", "-s", "O="+objdir, "olddefconfig")
	old.Dir = src
	old.Env = append(os.Environ(), "ARCH=x86_64", "PATH="+pathWithoutRust())
	if out, err := old.CombinedOutput(); err != nil {
		t.Fatalf("olddefconfig: %v\n%s", err, out)
	}
	reference, _ := os.ReadFile(filepath.Join(objdir, ".config"))
	if a, b := settings(kforgeConfig), settings(string(reference)); a != b {
		t.Errorf("kforge's .config differs from merge_config.sh -n + olddefconfig:\n%s", diffLines(a, b))
	}

	notLanded := claimedDrops(t, string(mergeOut))
	if len(notLanded) < 10 {
		t.Fatalf("merge_config.sh reported only %d options that did not land; expected about two dozen", len(notLanded))
	}
	for sym := range notLanded {
		reason, ok := dropped[sym]
		if !ok {
			t.Errorf("CONFIG_%s did not land (merge_config.sh says so) but is not in kforge's report", sym)
		} else if strings.TrimSpace(reason) == "" {
			t.Errorf("CONFIG_%s is reported without a reason", sym)
		}
	}
	t.Logf("%d options did not land; kforge's report:\n%s", len(notLanded), r.stderr[strings.Index(r.stderr, "kforge kernel config report"):])
}

// claimedDrops reads merge_config.sh's "Value requested for CONFIG_X not in
// final .config" blocks. merge_config.sh greps fragments for the symbol's
// name, so a comment that mentions it ("# ... disabled by CONFIG_EXPERT")
// becomes part of the "requested value" and makes a false claim when the
// actual value is the requested one; such claims are left out.
func claimedDrops(t *testing.T, out string) map[string]bool {
	claims := map[string]bool{}
	lines := strings.Split(out, "\n")
	head := regexp.MustCompile(`Value requested for CONFIG_(\w+) not in final .config`)
	for i := 0; i < len(lines); i++ {
		m := head.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		var requested []string
		actual := ""
		for j := i + 1; j < len(lines) && j < i+10; j++ {
			l := strings.TrimSpace(lines[j])
			if v, ok := strings.CutPrefix(l, "Requested value:"); ok {
				requested = append(requested, strings.TrimSpace(v))
			} else if v, ok := strings.CutPrefix(l, "Actual value:"); ok {
				actual = strings.TrimSpace(v)
				break
			} else {
				requested = append(requested, l)
			}
		}
		falseClaim := false
		for _, r := range requested {
			if r == actual && !strings.HasPrefix(r, "# ") {
				falseClaim = true
			}
		}
		if falseClaim {
			t.Logf("merge_config.sh's claim about CONFIG_%s is false (a comment mentions it; actual %q)", m[1], actual)
			continue
		}
		claims[m[1]] = true
	}
	return claims
}

// reportedDrops reads "  CONFIG_X=v (file:line) -> got: reason" lines.
func reportedDrops(report string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^  CONFIG_(\w+)=.* -> [^:]*: (.*)$`)
	for _, m := range re.FindAllStringSubmatch(report, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// pathWithoutRust is PATH less the directories holding a rustc: from 6.12
// on Kconfig records the Rust toolchain it finds (RUSTC_VERSION), and the
// reference must see what kforge's builder sees, which has none.
func pathWithoutRust() string {
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "rustc")); err != nil {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// settings keeps the lines of a .config that set something, sorted: the
// header comments name the compiler and may differ in layout only.
func settings(config string) string {
	var keep []string
	for _, line := range strings.Split(config, "\n") {
		if strings.HasPrefix(line, "CONFIG_") || strings.HasSuffix(line, " is not set") {
			keep = append(keep, line)
		}
	}
	sort.Strings(keep)
	return strings.Join(keep, "\n")
}

func diffLines(a, b string) string {
	as, bs := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		as[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		bs[l] = true
	}
	var out []string
	for l := range as {
		if !bs[l] {
			out = append(out, "kforge only:    "+l)
		}
	}
	for l := range bs {
		if !as[l] {
			out = append(out, "reference only: "+l)
		}
	}
	sort.Strings(out)
	if len(out) > 40 {
		out = append(out[:40], fmt.Sprintf("... and %d more", len(out)-40))
	}
	return strings.Join(out, "\n")
}

// kataSelection is Kata's build-kernel.sh selection for an architecture
// (x86_64, arm64), done here with the shell tools Kata uses (grep -L, glob
// order in the C locale).
func kataSelection(t *testing.T, tree, arch string) []string {
	t.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`grep -L '!%s' common/*.conf; ls %s/*.conf`, arch, arch))
	cmd.Dir = tree
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("selecting Kata fragments: %v", err)
	}
	var files []string
	for _, f := range strings.Fields(string(out)) {
		files = append(files, filepath.Join(tree, f))
	}
	return files
}

// hostKernelSource downloads the locked linux-source .deb, checks it
// against the lock and unpacks the kernel tree on the host.
func hostKernelSource(t *testing.T, lockPath, kernel string) string {
	t.Helper()
	var lock struct {
		Kernels map[string]struct {
			Source struct {
				Filename, Member, SHA256 string
				URLs                     []string
			}
		}
	}
	data, _ := os.ReadFile(lockPath)
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatal(err)
	}
	src := lock.Kernels[kernel].Source
	dir := t.TempDir()
	deb := filepath.Join(dir, "linux-source.deb")
	mirror := debianMirror
	if len(src.URLs) > 0 { // a package of another suite, on its mirrors
		mirror = src.URLs[0]
	}
	resp, err := http.Get(mirror + "/" + src.Filename)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f, _ := os.Create(deb)
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != src.SHA256 {
		t.Fatalf("downloaded %s has sha256 %s, the lock says %s", src.Filename, got, src.SHA256)
	}
	tree := filepath.Join(dir, "linux")
	os.MkdirAll(tree, 0o755)
	unpack := exec.Command("bash", "-c", fmt.Sprintf("set -euo pipefail; dpkg-deb --fsys-tarfile %s | tar -xO ./%s | tar -xJ --strip-components=1 -C %s", deb, src.Member, tree))
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("unpacking the kernel source: %v\n%s", err, out)
	}
	os.Remove(deb)
	return tree
}

// The built-in Kata kernel (recipes/kata-kernel.yaml, 6.12) sets every
// option that Kata's own fragments set for the architecture, and that 6.12
// has, the way Kata's tree does: the .config of kforge's fragments against
// the .config of Kata's tree, on the same source, for x86_64 and arm64.
func TestKataKernelSetsWhatKatasTreeSets(t *testing.T) {
	e2e(t)
	builtin := filepath.Join(repoRoot, "recipes", "kata-kernel.yaml")
	// The same recipe and lock with Kata's tree in place of fragments/.
	dir := t.TempDir()
	data, _ := os.ReadFile(builtin)
	text := strings.Replace(string(data), "      kata: {tree: fragments}", "      kata: {tree: fragments}\n      policy: warn", 1)
	os.WriteFile(filepath.Join(dir, "kata-kernel.yaml"), []byte(text), 0o644)
	copyFileTo(t, strings.TrimSuffix(builtin, ".yaml")+".lock", filepath.Join(dir, "kata-kernel.lock"))
	kata := filepath.Join(repoRoot, "testdata", "kata-fragments")
	copyTree(t, kata, filepath.Join(dir, "fragments"))

	for _, c := range []struct{ arch, platform string }{{"x86_64", "linux/amd64"}, {"arm64", "linux/arm64"}} {
		t.Run(c.arch, func(t *testing.T) {
			ours := mustKforge(t, nil, "kernel", "config", "-f", builtin, "--target", "kernel", "--platform", c.platform, "--progress", "plain")
			if !strings.Contains(ours.stderr, " 0 did not ") {
				t.Errorf("kforge's fragments: requested options did not land:\n%s", lastLines(ours.stderr, 10))
			}
			theirs := mustKforge(t, nil, "kernel", "config", "-f", filepath.Join(dir, "kata-kernel.yaml"), "--target", "kernel", "--platform", c.platform, "--progress", "plain")
			oursSet, theirsSet := configValues(ours.stdout), configValues(theirs.stdout)
			requested := fragmentSymbols(t, kataSelection(t, kata, c.arch))
			checked := 0
			for _, sym := range requested {
				want, exists := theirsSet[sym]
				if !exists {
					continue // not in 6.12 (or not visible on this architecture)
				}
				checked++
				if got := oursSet[sym]; got != want {
					t.Errorf("%s: Kata's tree gives %s, kforge's fragments %q", sym, want, got)
				}
			}
			if checked < 500 {
				t.Errorf("only %d of the %d options Kata's fragments set were compared", checked, len(requested))
			}
			t.Logf("%s: %d options of Kata's fragments exist in 6.12, all set as Kata sets them", c.arch, checked)
		})
	}
}

// configValues maps each symbol of a .config to its value, n for "is not
// set"; symbols the .config does not mention are absent.
func configValues(config string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(config, "\n") {
		if name, value, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "CONFIG_") {
			out[name] = value
		} else if name, ok := strings.CutSuffix(strings.TrimPrefix(line, "# "), " is not set"); ok && strings.HasPrefix(line, "# CONFIG_") {
			out[name] = "n"
		}
	}
	return out
}

// fragmentSymbols lists the symbols the fragment files set or unset.
func fragmentSymbols(t *testing.T, files []string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name := range configValues(string(data)) {
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}
