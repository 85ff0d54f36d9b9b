package artifact

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/pelletier/go-toml/v2"
	"oras.land/oras-go/v2/content"
)

// DefaultPrefix is where Kata's packages keep guest assets.
const DefaultPrefix = "/usr/share/kata-containers"

// DropInName is the drop-in install writes into Kata's config.d; 50-89 is
// the range Kata leaves to users.
const DropInName = "50-kforge.toml"

// InstallOptions say where an artifact goes.
type InstallOptions struct {
	Prefix string
	// KataConfig is the directory of Kata's configuration.toml; when set, a
	// drop-in in its config.d points the hypervisor at the installed files.
	KataConfig string
	Hypervisor string // the [hypervisor.NAME] section: qemu unless set
	Progress   io.Writer
}

// kataNames are the names Kata's runtime looks for that an install makes
// links, pointing at a copy named by content, so that a new image replaces
// the old one in one rename and never half-written.
var kataNames = map[string]string{
	"kata-containers.img":        "kata-containers-%s.img",
	"kata-containers-initrd.img": "kata-containers-initrd-%s.img",
}

type installFile struct {
	File
	path  string   // where the file goes
	links []string // links in the prefix that point at it
	tmp   string   // the verified download, before its rename
}

// Install puts the artifact's files into the prefix under Kata's names,
// then the links, then the drop-in. Files already there with the same
// content are left alone; it reports whether anything changed. Everything
// is downloaded and verified before the first rename, so a failure changes
// nothing.
func (a *Artifact) Install(ctx context.Context, src content.Fetcher, opt InstallOptions) (changed bool, err error) {
	if a.Kind == KindRootfs {
		return false, fmt.Errorf("%s is a rootfs, which has no place in Kata's layout: build an image or initrd from it, or use `kforge pull`", a.Ref)
	}
	prefix, err := filepath.Abs(opt.Prefix)
	if err != nil {
		return false, err
	}
	// Directories the install makes go again if it fails.
	targets := []string{prefix}
	if opt.KataConfig != "" {
		targets = append(targets, filepath.Join(opt.KataConfig, "config.d"))
	}
	made := missingDirs(targets...)
	defer func() {
		if err != nil {
			for _, d := range made {
				os.Remove(d) // only when empty
			}
		}
	}()
	if err := writableDir(prefix); err != nil {
		return false, fmt.Errorf("install prefix %s cannot be written: %w", prefix, err)
	}
	var dropInDir string
	if opt.KataConfig != "" {
		dropInDir = filepath.Join(opt.KataConfig, "config.d")
		if err := writableDir(dropInDir); err != nil {
			return false, fmt.Errorf("Kata config drop-in directory %s cannot be written: %w", dropInDir, err)
		}
	}
	files := a.installPlan(prefix)
	defer func() {
		for _, f := range files {
			if f.tmp != "" {
				os.Remove(f.tmp)
			}
		}
	}()
	for i := range files {
		f := &files[i]
		if same, _ := sameFile(f.path, f.Layer.Digest, f.Mode); same {
			continue
		}
		tmp, err := os.CreateTemp(prefix, "."+filepath.Base(f.path)+".partial-")
		if err != nil {
			return false, err
		}
		f.tmp = tmp.Name()
		report(opt.Progress, "pulling %s %s (%d bytes)\n", f.Name, f.Layer.Digest, f.Layer.Size)
		if err := a.fetchVerified(ctx, src, f.File, tmp); err != nil {
			return false, err
		}
		if err := os.Chmod(f.tmp, f.Mode); err != nil {
			return false, err
		}
	}
	var dropIn []byte
	if dropInDir != "" {
		if dropIn, err = a.dropIn(filepath.Join(dropInDir, DropInName), prefix, opt.Hypervisor); err != nil {
			return false, err
		}
	}
	// Everything is verified: files first, then the links that point at
	// them, so that no link ever dangles.
	for i := range files {
		f := &files[i]
		if f.tmp == "" {
			continue
		}
		if err := os.Rename(f.tmp, f.path); err != nil {
			return changed, err
		}
		f.tmp, changed = "", true
		report(opt.Progress, "installed %s\n", f.path)
	}
	for _, f := range files {
		for _, l := range f.links {
			old, c, err := replaceLink(filepath.Join(prefix, l), filepath.Base(f.path))
			if err != nil {
				return changed, err
			}
			if !c {
				continue
			}
			changed = true
			report(opt.Progress, "linked %s -> %s\n", filepath.Join(prefix, l), filepath.Base(f.path))
			// The copy the link left is kforge's own, named by content:
			// removed, so installs do not pile up images. A VM that has it
			// open keeps reading it until it exits.
			if pattern, ok := kataNames[l]; ok && old != "" && digestNamed(pattern, old) {
				os.Remove(filepath.Join(prefix, old))
			}
		}
	}
	if dropIn != nil {
		p := filepath.Join(dropInDir, DropInName)
		if old, err := os.ReadFile(p); err != nil || !bytes.Equal(old, dropIn) {
			if err := writeAtomic(p, dropIn, 0o644); err != nil {
				return changed, err
			}
			changed = true
			report(opt.Progress, "wrote %s\n", p)
		}
	}
	return changed, nil
}

func report(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// installPlan maps each file to its path in the prefix and its links.
func (a *Artifact) installPlan(prefix string) []installFile {
	var plan []installFile
	for _, f := range a.Files {
		p := installFile{File: f, path: filepath.Join(prefix, f.Name), links: f.Links}
		if pattern, ok := kataNames[f.Name]; ok {
			p.path = filepath.Join(prefix, fmt.Sprintf(pattern, f.Layer.Digest.Encoded()[:12]))
			p.links = append([]string{f.Name}, f.Links...)
		}
		plan = append(plan, p)
	}
	return plan
}

// missingDirs lists the directories that making dirs would create,
// deepest first.
func missingDirs(dirs ...string) []string {
	var missing []string
	for _, d := range dirs {
		for d = filepath.Clean(d); ; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
				break
			}
			missing = append(missing, d)
		}
	}
	slices.SortFunc(missing, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(missing)
}

// writableDir creates dir and checks that a file can be made in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".kforge-write-test-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// sameFile reports whether path already holds the content and mode.
func sameFile(path string, want digest.Digest, mode os.FileMode) (bool, error) {
	info, err := os.Lstat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != mode {
		return false, err
	}
	got, _, err := fileDigest(path)
	return got == want, err
}

// replaceLink points link at target with one rename; it returns the target
// it had and whether it changed.
func replaceLink(link, target string) (string, bool, error) {
	cur, _ := os.Readlink(link)
	if cur == target {
		return cur, false, nil
	}
	tmp := fmt.Sprintf("%s.kforge-new-%d", link, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return cur, false, err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return cur, false, err
	}
	return cur, true, nil
}

// digestNamed reports whether name is a copy an install named by content
// after pattern.
func digestNamed(pattern, name string) bool {
	before, after, _ := strings.Cut(pattern, "%s")
	if !strings.HasPrefix(name, before) || !strings.HasSuffix(name, after) || len(name) != len(before)+12+len(after) {
		return false
	}
	return strings.Trim(name[len(before):len(before)+12], "0123456789abcdef") == ""
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// dropInFile is the part of Kata's configuration the drop-in sets.
type dropInFile struct {
	Hypervisor map[string]map[string]string `toml:"hypervisor"`
}

// dropIn returns the drop-in with this artifact's keys merged into what an
// earlier install wrote: a kernel install keeps the image, and an image
// install clears initrd (and the other way round), since Kata refuses both.
func (a *Artifact) dropIn(path, prefix, hypervisor string) ([]byte, error) {
	if hypervisor == "" {
		hypervisor = "qemu"
	}
	var cfg dropInFile
	if old, err := os.ReadFile(path); err == nil {
		if err := toml.Unmarshal(old, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w; it is kforge's drop-in: remove it to start afresh", path, err)
		}
	}
	if cfg.Hypervisor == nil {
		cfg.Hypervisor = map[string]map[string]string{}
	}
	keys := cfg.Hypervisor[hypervisor]
	if keys == nil {
		keys = map[string]string{}
	}
	switch a.Kind {
	case KindKernel:
		keys["kernel"] = filepath.Join(prefix, "vmlinux.container")
	case KindImage:
		keys["image"], keys["initrd"] = filepath.Join(prefix, "kata-containers.img"), ""
	case KindInitrd:
		keys["initrd"], keys["image"] = filepath.Join(prefix, "kata-containers-initrd.img"), ""
	}
	cfg.Hypervisor[hypervisor] = keys
	body, err := toml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	header := "# Written by `kforge install`: Kata's guest assets from kforge artifacts.\n"
	return append([]byte(header), body...), nil
}
