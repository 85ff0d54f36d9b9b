package rustdist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

const (
	testVersion = "1.93.0"
	testDate    = "2026-01-22"
	testHost    = "x86_64-unknown-linux-gnu"
	testCross   = "aarch64-unknown-linux-gnu"
)

type tfile struct {
	name string // below the top directory; a trailing / makes a directory
	body string
	mode int64
}

// makeTarball writes a dist-style tarball into dir, entries in the given
// (unsorted) order with owners and times that Layout must normalise.
func makeTarball(t *testing.T, dir, file, top string, files []tfile) string {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for i, f := range files {
		h := &tar.Header{
			Name:    top + "/" + f.name,
			Mode:    f.mode,
			Uid:     1000 + i,
			Gid:     1000,
			Uname:   "rustbuild",
			Gname:   "rustbuild",
			ModTime: time.Unix(1700000000+int64(i)*37, 0),
		}
		if strings.HasSuffix(f.name, "/") || f.name == "" {
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o775
			}
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
			if h.Mode == 0 {
				h.Mode = 0o664
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch {
	case strings.HasSuffix(file, ".tar.xz"):
		w, err := xz.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(tb.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		w := gzip.NewWriter(&out)
		w.Name = "something.tar"
		w.ModTime = time.Unix(1700000000, 0)
		w.Write(tb.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// installer files common to every dist tarball.
func installerFiles(components ...string) []tfile {
	return []tfile{
		{name: "rust-installer-version", body: "3\n"},
		{name: "install.sh", body: "#!/bin/sh\necho install\n", mode: 0o755},
		{name: "components", body: strings.Join(components, "\n") + "\n"},
	}
}

// fakeInputs writes a combined .tar.gz for the host (rustc, cargo,
// rust-std, clippy-preview, rust-src) and a standalone rust-std .tar.xz
// for another target.
func fakeInputs(t *testing.T) []string {
	dir := t.TempDir()
	std := "rust-std-" + testHost
	combined := append([]tfile{
		// deliberately unsorted, and with implied directories missing
		{name: "cargo/bin/cargo", body: "cargo binary", mode: 0o755},
		{name: "version", body: "1.93.0 (254b59607 2026-01-19)\n"},
		{name: "rustc/manifest.in", body: "file:bin/rustc\ndir:lib/rustlib/etc\n"},
		{name: "rustc/", mode: 0o700},
		{name: "rustc/bin/rustc", body: "rustc binary", mode: 0o700},
		{name: "rustc/lib/rustlib/etc/gdb_load.py", body: "# gdb\n"},
		{name: "cargo/manifest.in", body: "file:bin/cargo\n"},
		{name: "cargo/"},
		{name: std + "/manifest.in", body: "dir:lib/rustlib/" + testHost + "/lib\n"},
		{name: std + "/lib/rustlib/" + testHost + "/lib/libstd.rlib", body: "std rlib"},
		{name: "clippy-preview/manifest.in", body: "file:bin/cargo-clippy\n"},
		{name: "clippy-preview/bin/cargo-clippy", body: "clippy", mode: 0o755},
		{name: "rust-src/manifest.in", body: "dir:lib/rustlib/src\n"},
		{name: "rust-src/lib/rustlib/src/rust/library/core/src/lib.rs", body: "#![no_std]\n"},
		{name: "COPYRIGHT", body: "copyright\n"},
	}, installerFiles("rustc", "cargo", std, "clippy-preview", "rust-src")...)
	crossStd := "rust-std-" + testCross
	cross := append(installerFiles(crossStd),
		tfile{name: crossStd + "/manifest.in", body: "dir:lib/rustlib/" + testCross + "/lib\n"},
		tfile{name: crossStd + "/lib/rustlib/" + testCross + "/lib/libstd.rlib", body: "aarch64 std rlib"},
	)
	base := "rust-" + testVersion + "-" + testHost
	crossBase := "rust-std-" + testVersion + "-" + testCross
	return []string{
		makeTarball(t, dir, base+".tar.gz", base, combined),
		makeTarball(t, dir, crossBase+".tar.xz", crossBase, cross),
	}
}

// readTree maps every file under root to its bytes.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLayoutIsDeterministic(t *testing.T) {
	in := fakeInputs(t)
	r1, r2 := t.TempDir(), t.TempDir()
	res1, err := Layout(r1, testVersion, testDate, 0, in)
	if err != nil {
		t.Fatal(err)
	}
	// The other argument order must not matter.
	res2, err := Layout(r2, testVersion, testDate, 0, []string{in[1], in[0]})
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := readTree(t, r1), readTree(t, r2)
	if len(t1) != len(t2) {
		t.Fatalf("different file sets: %d and %d files", len(t1), len(t2))
	}
	for p, b := range t1 {
		if !bytes.Equal(b, t2[p]) {
			t.Errorf("%s differs between runs", p)
		}
	}
	res1.Root, res2.Root, res1.Manifest, res2.Manifest = "", "", "", ""
	if !reflect.DeepEqual(res1, res2) {
		t.Errorf("results differ:\n%+v\n%+v", res1, res2)
	}
	// Laying out again over the same root gives the same bytes and leaves
	// no temporary files behind.
	if _, err := Layout(r1, testVersion, testDate, 0, in); err != nil {
		t.Fatal(err)
	}
	t3 := readTree(t, r1)
	if !reflect.DeepEqual(t1, t3) {
		t.Errorf("a second run over the same root changed files")
	}
	ents, _ := os.ReadDir(r1)
	for _, e := range ents {
		if e.Name() != "dist" {
			t.Errorf("left behind %s", e.Name())
		}
	}
	for p := range t3 {
		if strings.Contains(p, ".tmp-") {
			t.Errorf("left behind %s", p)
		}
	}

	want := []string{
		"dist/" + testDate + "/cargo-1.93.0-" + testHost + ".tar.gz",
		"dist/" + testDate + "/clippy-1.93.0-" + testHost + ".tar.gz",
		"dist/" + testDate + "/rust-1.93.0-" + testHost + ".tar.gz",
		"dist/" + testDate + "/rust-src-1.93.0.tar.gz",
		"dist/" + testDate + "/rust-std-1.93.0-" + testCross + ".tar.gz",
		"dist/" + testDate + "/rust-std-1.93.0-" + testHost + ".tar.gz",
		"dist/" + testDate + "/rustc-1.93.0-" + testHost + ".tar.gz",
		"dist/channel-rust-1.93.0.toml",
		"dist/channel-rust-1.93.0.toml.sha256",
	}
	var got []string
	for _, f := range res1.Files {
		got = append(got, f.Path)
		if sum := sha256.Sum256(t1[f.Path]); hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(t1[f.Path])) != f.Size {
			t.Errorf("%s: result has a wrong hash or size", f.Path)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files:\n got %q\nwant %q", got, want)
	}
	var onDisk []string
	for p := range t1 {
		onDisk = append(onDisk, p)
	}
	sort.Strings(onDisk)
	if !reflect.DeepEqual(onDisk, want) {
		t.Errorf("on disk:\n got %q\nwant %q", onDisk, want)
	}
}

func TestManifest(t *testing.T) {
	root := t.TempDir()
	res, err := Layout(root, testVersion, testDate, 0, fakeInputs(t))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseTOML(string(text))
	if err != nil {
		t.Fatalf("manifest does not parse: %v\n%s", err, text)
	}
	if m["manifest-version"] != "2" || m["date"] != testDate {
		t.Errorf("manifest-version %v, date %v", m["manifest-version"], m["date"])
	}

	// Every url names a file that is there with the listed hash.
	pkgs := m["pkg"].(map[string]any)
	type pt struct{ pkg, target string }
	var seen []pt
	for pkg, v := range pkgs {
		p := v.(map[string]any)
		if p["version"] != testVersion {
			t.Errorf("pkg %s: version %v", pkg, p["version"])
		}
		for target, tv := range p["target"].(map[string]any) {
			tt := tv.(map[string]any)
			seen = append(seen, pt{pkg, target})
			if tt["available"] != true {
				t.Errorf("%s %s: not available", pkg, target)
			}
			url := tt["url"].(string)
			prefix := "https://static.rust-lang.org/dist/" + testDate + "/"
			if !strings.HasPrefix(url, prefix) {
				t.Errorf("%s %s: url %s", pkg, target, url)
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, "dist", testDate, strings.TrimPrefix(url, prefix)))
			if err != nil {
				t.Errorf("%s %s: %v", pkg, target, err)
				continue
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != tt["hash"] {
				t.Errorf("%s %s: hash %v does not match %s", pkg, target, tt["hash"], url)
			}
		}
	}
	sort.Slice(seen, func(i, j int) bool { return seen[i].pkg+" "+seen[i].target < seen[j].pkg+" "+seen[j].target })
	wantSeen := []pt{
		{"cargo", testHost}, {"clippy-preview", testHost}, {"rust", testHost},
		{"rust-src", "*"}, {"rust-std", testCross}, {"rust-std", testHost}, {"rustc", testHost},
	}
	if !reflect.DeepEqual(seen, wantSeen) {
		t.Errorf("packages:\n got %v\nwant %v", seen, wantSeen)
	}

	rust := pkgs["rust"].(map[string]any)["target"].(map[string]any)[testHost].(map[string]any)
	comps := func(key string) []string {
		var out []string
		for _, c := range rust[key].([]map[string]any) {
			out = append(out, c["pkg"].(string)+"/"+c["target"].(string))
		}
		return out
	}
	if got, want := comps("components"), []string{"rustc/" + testHost, "rust-std/" + testHost, "cargo/" + testHost}; !reflect.DeepEqual(got, want) {
		t.Errorf("components %v, want %v", got, want)
	}
	if got, want := comps("extensions"), []string{"clippy-preview/" + testHost, "rust-src/*", "rust-std/" + testCross}; !reflect.DeepEqual(got, want) {
		t.Errorf("extensions %v, want %v", got, want)
	}

	profiles := m["profiles"].(map[string]any)
	wantProfiles := map[string]any{
		"minimal":  []any{"rustc", "cargo", "rust-std"},
		"default":  []any{"rustc", "cargo", "rust-std", "clippy-preview"},
		"complete": []any{"rustc", "cargo", "rust-std", "clippy-preview", "rust-src"},
	}
	if !reflect.DeepEqual(profiles, wantProfiles) {
		t.Errorf("profiles %v, want %v", profiles, wantProfiles)
	}
	if got := m["renames"]; !reflect.DeepEqual(got, map[string]any{"clippy": map[string]any{"to": "clippy-preview"}}) {
		t.Errorf("renames %v", got)
	}

	// The .sha256 file, as upstream writes it.
	sha, err := os.ReadFile(res.Manifest + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(text)
	if want := hex.EncodeToString(sum[:]) + "  channel-rust-1.93.0.toml\n"; string(sha) != want {
		t.Errorf(".sha256 is %q, want %q", sha, want)
	}
}

type tentry struct {
	typ   byte
	mode  int64
	body  string
	uid   int
	uname string
	mtime time.Time
}

func readOutput(t *testing.T, p string) (names []string, ents map[string]tentry) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header has name %q, time %v", p, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	ents = map[string]tentry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		ents[strings.TrimSuffix(h.Name, "/")] = tentry{h.Typeflag, h.Mode, string(b), h.Uid + h.Gid, h.Uname + h.Gname, h.ModTime}
	}
	return names, ents
}

func TestSplitTarballs(t *testing.T) {
	root := t.TempDir()
	const epoch = 1767225600 // 2026-01-01
	res, err := Layout(root, testVersion, testDate, epoch, fakeInputs(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ // component → files it must hold
		"rustc":                 {"bin/rustc", "lib/rustlib/etc/gdb_load.py"},
		"cargo":                 {"bin/cargo"},
		"clippy-preview":        {"bin/cargo-clippy"},
		"rust-src":              {"lib/rustlib/src/rust/library/core/src/lib.rs"},
		"rust-std-" + testHost:  {"lib/rustlib/" + testHost + "/lib/libstd.rlib"},
		"rust-std-" + testCross: {"lib/rustlib/" + testCross + "/lib/libstd.rlib"},
	}
	checked := 0
	for _, f := range res.Files {
		if f.Pkg == "" || f.Pkg == "rust" {
			continue
		}
		checked++
		base := strings.TrimSuffix(filepath.Base(f.Path), ".tar.gz")
		names, ents := readOutput(t, filepath.Join(root, f.Path))
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s: entries not sorted: %q", f.Path, names)
		}
		for name, e := range ents {
			if name != base && !strings.HasPrefix(name, base+"/") {
				t.Errorf("%s: %s is outside %s/", f.Path, name, base)
			}
			if e.uid != 0 || e.uname != "" || !e.mtime.Equal(time.Unix(epoch, 0)) {
				t.Errorf("%s: %s has owner %d %q, time %v", f.Path, name, e.uid, e.uname, e.mtime)
			}
		}
		comp := strings.TrimSpace(ents[base+"/components"].body)
		if strings.Contains(comp, "\n") || comp == "" {
			t.Errorf("%s: components is %q, want one component", f.Path, comp)
			continue
		}
		if pkg, target := componentPkg(comp, f.Target); pkg != f.Pkg || target != f.Target {
			t.Errorf("%s: holds %s, which is %s/%s, not %s/%s", f.Path, comp, pkg, target, f.Pkg, f.Target)
		}
		for _, need := range append([]string{"install.sh", "rust-installer-version", comp + "/manifest.in"}, prefixAll(comp+"/", want[comp])...) {
			if e, ok := ents[base+"/"+need]; !ok || e.typ != tar.TypeReg {
				t.Errorf("%s: no file %s", f.Path, need)
			}
		}
		for name, e := range ents {
			rel := strings.TrimPrefix(strings.TrimPrefix(name, base), "/")
			top, _, _ := strings.Cut(rel, "/")
			if e.typ == tar.TypeDir && rel != "" && top != comp {
				t.Errorf("%s: holds directory %s of another component", f.Path, name)
			}
		}
		if e := ents[base+"/"+comp+"/"+want[comp][0]]; comp == "rustc" && e.mode != 0o755 {
			t.Errorf("%s: bin/rustc has mode %o, want 755", f.Path, e.mode)
		}
		if e := ents[base+"/rust-installer-version"]; e.body != "3\n" {
			t.Errorf("%s: rust-installer-version is %q", f.Path, e.body)
		}
	}
	if checked != 6 {
		t.Errorf("checked %d split tarballs, want 6", checked)
	}

	// The combined package keeps every component.
	_, ents := readOutput(t, filepath.Join(root, "dist", testDate, "rust-1.93.0-"+testHost+".tar.gz"))
	top := "rust-1.93.0-" + testHost
	if got := ents[top+"/components"].body; got != "rustc\ncargo\nrust-std-"+testHost+"\nclippy-preview\nrust-src\n" {
		t.Errorf("combined components file is %q", got)
	}
	for _, p := range []string{"cargo", "cargo/bin", "rustc/lib/rustlib", "version", "COPYRIGHT"} {
		if _, ok := ents[top+"/"+p]; !ok {
			t.Errorf("combined package lacks %s", p)
		}
	}
}

func prefixAll(prefix string, s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = prefix + v
	}
	return out
}

func TestDefaultEpochIsTheDate(t *testing.T) {
	root := t.TempDir()
	res, err := Layout(root, testVersion, testDate, 0, fakeInputs(t))
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC)
	_, ents := readOutput(t, filepath.Join(root, res.Files[0].Path))
	for name, e := range ents {
		if !e.mtime.Equal(midnight) {
			t.Errorf("%s: mtime %v, want %v", name, e.mtime, midnight)
		}
	}
}

func TestNotADistTarball(t *testing.T) {
	dir := t.TempDir()
	base := "rust-" + testVersion + "-" + testHost
	ok := append(installerFiles("rustc"), tfile{name: "rustc/manifest.in", body: "file:bin/rustc\n"}, tfile{name: "rustc/bin/rustc", body: "x"})
	cases := []struct {
		name  string
		files []tfile
		want  string
	}{
		{"no install.sh", []tfile{ok[0], ok[2], ok[3], ok[4]}, "no " + base + "/install.sh"},
		{"no components", []tfile{ok[0], ok[1], ok[3], ok[4]}, "no " + base + "/components"},
		{"no installer version", ok[1:], "no " + base + "/rust-installer-version"},
		{"component not there", append(installerFiles("rustc", "cargo"), ok[3:]...), "lists cargo but there is no directory"},
		{"no manifest.in", append(installerFiles("rustc"), ok[4]), "no " + base + "/rustc/manifest.in"},
		{"installer version 2", append([]tfile{{name: "rust-installer-version", body: "2\n"}}, ok[1:]...), "rust-installer version 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := makeTarball(t, dir, base+".tar.gz", base, c.files)
			root := t.TempDir()
			_, err := Layout(root, testVersion, testDate, 0, []string{p})
			if err == nil {
				t.Fatal("no error")
			}
			if left, _ := os.ReadDir(root); len(left) != 0 {
				t.Errorf("a failed layout left %v in the root", left)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, p, c.want)
			}
		})
	}

	// A plain tarball that is not laid out as a dist package.
	plain := filepath.Join(dir, base+".tar.gz")
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "README", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644})
	tw.Write([]byte("hi"))
	tw.Close()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(tb.Bytes())
	zw.Close()
	os.WriteFile(plain, zb.Bytes(), 0o644)
	if _, err := Layout(t.TempDir(), testVersion, testDate, 0, []string{plain}); err == nil || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "not a dist tarball") {
		t.Errorf("plain tarball: error %v", err)
	}

	// Not compressed as the name says.
	fake := filepath.Join(dir, "rust-"+testVersion+"-"+testCross+".tar.xz")
	os.WriteFile(fake, []byte("not xz at all"), 0o644)
	if _, err := Layout(t.TempDir(), testVersion, testDate, 0, []string{fake}); err == nil || !strings.Contains(err.Error(), fake) {
		t.Errorf("bad xz: error %v", err)
	}

	// A name without the version, and a wrong top directory.
	if _, err := Layout(t.TempDir(), testVersion, testDate, 0, []string{filepath.Join(dir, "rust-1.92.0-"+testHost+".tar.gz")}); err == nil || !strings.Contains(err.Error(), "does not carry version") {
		t.Errorf("wrong version: error %v", err)
	}
	wrongTop := makeTarball(t, dir, "rust-"+testVersion+"-i686-unknown-linux-gnu.tar.gz", base, ok)
	if _, err := Layout(t.TempDir(), testVersion, testDate, 0, []string{wrongTop}); err == nil || !strings.Contains(err.Error(), "top directory") {
		t.Errorf("wrong top: error %v", err)
	}
}

func TestNeedsCombinedTarball(t *testing.T) {
	in := fakeInputs(t)
	_, err := Layout(t.TempDir(), testVersion, testDate, 0, in[1:])
	if err == nil || !strings.Contains(err.Error(), "no combined") {
		t.Errorf("error %v", err)
	}
	if _, err := Layout(t.TempDir(), testVersion, "2026-1-22", 0, in); err == nil {
		t.Errorf("bad date accepted")
	}
}

func TestComponentPkg(t *testing.T) {
	for _, c := range []struct{ comp, target, pkg, tgt string }{
		{"rustc", testHost, "rustc", testHost},
		{"rust-std-" + testHost, testHost, "rust-std", testHost},
		{"rust-std-wasm32-unknown-unknown", "wasm32-unknown-unknown", "rust-std", "wasm32-unknown-unknown"},
		{"rust-analysis-" + testHost, testHost, "rust-analysis", testHost},
		{"clippy-preview", testHost, "clippy-preview", testHost},
		{"rust-src", "", "rust-src", "*"},
		{"rust-src", testHost, "rust-src", "*"},
	} {
		pkg, tgt := componentPkg(c.comp, c.target)
		if pkg != c.pkg || tgt != c.tgt {
			t.Errorf("componentPkg(%q, %q) = %q, %q; want %q, %q", c.comp, c.target, pkg, tgt, c.pkg, c.tgt)
		}
	}
	for pkg, want := range map[string]string{
		"clippy-preview": "clippy-1.93.0-" + testHost + ".tar.gz",
		"rust-std":       "rust-std-1.93.0-" + testHost + ".tar.gz",
	} {
		if got := pkgFile(pkg, testVersion, testHost); got != want {
			t.Errorf("pkgFile(%s) = %s, want %s", pkg, got, want)
		}
	}
	if got := pkgFile("rust-src", testVersion, "*"); got != "rust-src-1.93.0.tar.gz" {
		t.Errorf("pkgFile(rust-src) = %s", got)
	}
	if got := tomlKey("thumbv8m.main-none-eabi"); got != `"thumbv8m.main-none-eabi"` {
		t.Errorf("tomlKey = %s", got)
	}
}

// parseTOML reads the TOML subset a channel manifest uses: [table] and
// [[array.of.tables]] headers with bare or "quoted" dotted keys, and
// key = "string" | true | false | ["string", ...] lines.
func parseTOML(s string) (map[string]any, error) {
	root := map[string]any{}
	cur := root
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		errf := func(format string, a ...any) error {
			return fmt.Errorf("line %d: %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		switch {
		case strings.HasPrefix(line, "[["):
			if !strings.HasSuffix(line, "]]") {
				return nil, errf("bad header")
			}
			keys, err := splitKeys(line[2 : len(line)-2])
			if err != nil {
				return nil, errf("%v", err)
			}
			parent, err := walk(root, keys[:len(keys)-1])
			if err != nil {
				return nil, errf("%v", err)
			}
			last := keys[len(keys)-1]
			arr, _ := parent[last].([]map[string]any)
			if parent[last] != nil && arr == nil {
				return nil, errf("%s is not an array of tables", last)
			}
			cur = map[string]any{}
			parent[last] = append(arr, cur)
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") {
				return nil, errf("bad header")
			}
			keys, err := splitKeys(line[1 : len(line)-1])
			if err != nil {
				return nil, errf("%v", err)
			}
			t, err := walk(root, keys)
			if err != nil {
				return nil, errf("%v", err)
			}
			cur = t
		default:
			k, v, ok := strings.Cut(line, " = ")
			if !ok {
				return nil, errf("not key = value")
			}
			keys, err := splitKeys(k)
			if err != nil || len(keys) != 1 {
				return nil, errf("bad key")
			}
			if _, dup := cur[keys[0]]; dup {
				return nil, errf("duplicate key")
			}
			val, err := parseValue(v)
			if err != nil {
				return nil, errf("%v", err)
			}
			cur[keys[0]] = val
		}
	}
	return root, nil
}

func walk(t map[string]any, keys []string) (map[string]any, error) {
	for _, k := range keys {
		switch v := t[k].(type) {
		case nil:
			n := map[string]any{}
			t[k] = n
			t = n
		case map[string]any:
			t = v
		case []map[string]any:
			t = v[len(v)-1]
		default:
			return nil, fmt.Errorf("%s is a value, not a table", k)
		}
	}
	return t, nil
}

func splitKeys(s string) ([]string, error) {
	var keys []string
	for s != "" {
		if s[0] == '"' {
			v, rest, err := takeString(s)
			if err != nil {
				return nil, err
			}
			keys, s = append(keys, v), rest
		} else {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				i = len(s)
			}
			k := s[:i]
			for _, r := range k {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
					return nil, fmt.Errorf("bad bare key %q", k)
				}
			}
			if k == "" {
				return nil, fmt.Errorf("empty key")
			}
			keys, s = append(keys, k), s[i:]
		}
		if s != "" {
			if s[0] != '.' {
				return nil, fmt.Errorf("junk after key: %q", s)
			}
			s = s[1:]
			if s == "" {
				return nil, fmt.Errorf("trailing dot")
			}
		}
	}
	return keys, nil
}

// takeString reads a basic string at the start of s.
func takeString(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			return v, s[i+1:], err
		}
	}
	return "", "", fmt.Errorf("unterminated string")
}

func parseValue(v string) (any, error) {
	switch {
	case v == "true":
		return true, nil
	case v == "false":
		return false, nil
	case strings.HasPrefix(v, `"`):
		s, rest, err := takeString(v)
		if err == nil && rest != "" {
			err = fmt.Errorf("junk after string: %q", rest)
		}
		return s, err
	case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
		arr := []any{}
		body := strings.TrimSpace(v[1 : len(v)-1])
		for body != "" {
			s, rest, err := takeString(body)
			if err != nil {
				return nil, err
			}
			arr = append(arr, s)
			rest = strings.TrimSpace(rest)
			if rest != "" {
				if !strings.HasPrefix(rest, ",") {
					return nil, fmt.Errorf("junk in array: %q", rest)
				}
				rest = strings.TrimSpace(rest[1:])
			}
			body = rest
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unsupported value %q", v)
}

func TestStandaloneComponentWins(t *testing.T) {
	in := fakeInputs(t)
	std := "rust-std-" + testHost
	base := "rust-std-" + testVersion + "-" + testHost
	own := makeTarball(t, t.TempDir(), base+".tar.gz", base, append(installerFiles(std),
		tfile{name: std + "/manifest.in", body: "dir:lib\n"},
		tfile{name: std + "/lib/rustlib/" + testHost + "/lib/libstd.rlib", body: "standalone std"},
	))
	root := t.TempDir()
	for _, order := range [][]string{{in[0], own}, {own, in[0]}} {
		if _, err := Layout(root, testVersion, testDate, 0, order); err != nil {
			t.Fatal(err)
		}
		_, ents := readOutput(t, filepath.Join(root, "dist", testDate, base+".tar.gz"))
		if got := ents[base+"/"+std+"/lib/rustlib/"+testHost+"/lib/libstd.rlib"].body; got != "standalone std" {
			t.Errorf("rust-std for the host came from the combined tarball (%q)", got)
		}
	}
	// Two standalone tarballs of one component clash.
	other := makeTarball(t, t.TempDir(), base+".tar.xz", base, append(installerFiles(std),
		tfile{name: std + "/manifest.in", body: "dir:lib\n"},
	))
	if _, err := Layout(t.TempDir(), testVersion, testDate, 0, []string{in[0], own, other}); err == nil || !strings.Contains(err.Error(), "same dist package") {
		t.Errorf("error %v", err)
	}
}

func TestMinimalManifest(t *testing.T) {
	base := "rust-" + testVersion + "-" + testHost
	p := makeTarball(t, t.TempDir(), base+".tar.xz", base, append(installerFiles("rustc"),
		tfile{name: "rustc/manifest.in", body: "file:bin/rustc\n"},
		tfile{name: "rustc/bin/rustc", body: "rustc", mode: 0o755},
	))
	root := t.TempDir()
	res, err := Layout(root, testVersion, testDate, 0, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(res.Manifest)
	m, err := parseTOML(string(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	rust := m["pkg"].(map[string]any)["rust"].(map[string]any)["target"].(map[string]any)[testHost].(map[string]any)
	if ext, ok := rust["extensions"].([]any); !ok || len(ext) != 0 {
		t.Errorf("extensions = %v, want an empty array", rust["extensions"])
	}
	if r, ok := m["renames"].(map[string]any); !ok || len(r) != 0 {
		t.Errorf("renames = %v, want an empty table", m["renames"])
	}
	if got := m["profiles"].(map[string]any)["minimal"]; !reflect.DeepEqual(got, []any{"rustc"}) {
		t.Errorf("minimal profile %v", got)
	}
}
