package kconfig

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// KataArchTags are the tags that exclude a common fragment for an
// architecture. Kata's fragments use both the kernel's and the machine's
// names (!s390x, !ppc64le, !arm64), so each architecture answers to both.
var KataArchTags = map[string][]string{
	"x86_64":  {"!x86_64"},
	"arm64":   {"!arm64", "!aarch64"},
	"s390":    {"!s390x", "!s390"},
	"powerpc": {"!powerpc", "!ppc64le"},
	"riscv":   {"!riscv", "!riscv64"},
}

// KataOptions selects the optional parts of a Kata fragment tree.
type KataOptions struct {
	Arch         string
	Confidential bool
	Debug        bool
	BuildType    string
}

// SelectKata lists the fragments of a Kata tree in the order Kata's
// build-kernel.sh merges them: common/*.conf without an exclusion tag for
// the architecture, then <arch>/*.conf, then the build type, the
// confidential fragments (whose common ones honour the tags too) and debug.
// A common fragment tagged !confidential is left out of confidential builds.
// Paths are relative to fsys and use forward slashes.
func SelectKata(fsys fs.FS, tree string, opt KataOptions) ([]string, error) {
	tags, ok := KataArchTags[opt.Arch]
	if !ok {
		return nil, fmt.Errorf("no Kata fragment tags known for architecture %q", opt.Arch)
	}
	excluded := func(p string) (bool, error) {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return false, err
		}
		text := string(data)
		for _, t := range tags {
			if containsTag(text, t) {
				return true, nil
			}
		}
		return opt.Confidential && containsTag(text, "!confidential"), nil
	}
	var out []string
	add := func(dir string, filter bool, required bool) error {
		files, err := confFiles(fsys, path.Join(tree, dir))
		if err != nil {
			if required {
				return err
			}
			return nil
		}
		for _, f := range files {
			if filter {
				skip, err := excluded(f)
				if err != nil {
					return err
				}
				if skip {
					continue
				}
			}
			out = append(out, f)
		}
		return nil
	}
	if err := add("common", true, true); err != nil {
		return nil, fmt.Errorf("Kata fragment tree %s: %w", tree, err)
	}
	if err := add(opt.Arch, false, true); err != nil {
		return nil, fmt.Errorf("Kata fragment tree %s has no fragments for %s: %w", tree, opt.Arch, err)
	}
	if opt.BuildType != "" {
		if err := add(path.Join("build-type", opt.BuildType), false, true); err != nil {
			return nil, fmt.Errorf("Kata fragment tree %s: build type %q: %w", tree, opt.BuildType, err)
		}
	}
	if opt.Confidential {
		if err := add(path.Join(opt.Arch, "confidential"), false, false); err != nil {
			return nil, err
		}
		if err := add(path.Join("common", "confidential_containers"), true, false); err != nil {
			return nil, err
		}
	}
	if opt.Debug {
		if err := add("debug", false, true); err != nil {
			return nil, fmt.Errorf("Kata fragment tree %s: debug fragments: %w", tree, err)
		}
	}
	return out, nil
}

// containsTag reports whether tag occurs as a whole word: "!s390x" must not
// match "!s390".
func containsTag(text, tag string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], tag)
		if j < 0 {
			return false
		}
		end := i + j + len(tag)
		if end == len(text) || !isWordByte(text[end]) {
			return true
		}
		i = end
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// confFiles lists dir/*.conf, regular files only, in byte order.
func confFiles(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".conf") {
			names = append(names, path.Join(dir, e.Name()))
		}
	}
	return sortedBytewise(names), nil
}
