package artifact

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// Meta is what an artifact says of itself in its annotations. Everything in
// it comes from the recipe and lock, so the same recipe and lock give the
// same manifest digest on any machine.
type Meta struct {
	Kind     string
	Target   string
	Recipe   string // the recipe's name
	Platform ocispec.Platform
	// RecipeSHA256 and LockSHA256 are the hex sha256 of the two files.
	RecipeSHA256, LockSHA256 string
	// Created is the recipe's sourceDateEpoch.
	Created time.Time
	// ConfigVersion is a kernel's Kata config version, the last part of
	// its installed names.
	ConfigVersion string
}

func (m Meta) annotations() map[string]string {
	a := map[string]string{
		AnnotationCreated:      m.Created.UTC().Format(time.RFC3339),
		AnnotationKind:         m.Kind,
		AnnotationTarget:       m.Target,
		AnnotationRecipe:       m.Recipe,
		AnnotationRecipeSHA256: m.RecipeSHA256,
		AnnotationLockSHA256:   m.LockSHA256,
	}
	if m.Platform.OS != "" {
		a[AnnotationPlatform] = PlatformString(m.Platform)
	}
	return a
}

// PackDir stages each regular file of an exported target directory as a
// layer, in name order, records the symlinks beside them as annotations of
// the files they point at, and packs the manifest. Files whose digests are
// known (taken as the export was unpacked) are not read again.
func PackDir(ctx context.Context, s *Staging, dir string, known map[string]digest.Digest, m Meta) (ocispec.Descriptor, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	links := map[string][]string{}
	var files []os.DirEntry
	for _, e := range entries {
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			if strings.Contains(target, "/") {
				return ocispec.Descriptor{}, fmt.Errorf("%s: symlink %s points out of its directory (%s); an artifact keeps only links to its own files", dir, e.Name(), target)
			}
			links[target] = append(links[target], e.Name())
		case e.Type().IsRegular():
			files = append(files, e)
		default:
			return ocispec.Descriptor{}, fmt.Errorf("%s: %s is not a regular file; an artifact holds files only", dir, e.Name())
		}
	}
	var layers []ocispec.Descriptor
	names := map[string]bool{}
	for _, e := range files {
		info, err := e.Info()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		l, err := stageFile(s, filepath.Join(dir, e.Name()), e.Name(), info.Mode(), m.Kind, known[e.Name()])
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if ls := links[e.Name()]; len(ls) > 0 {
			slices.Sort(ls)
			l.Annotations[AnnotationLinks] = strings.Join(ls, ",")
		}
		names[e.Name()] = true
		layers = append(layers, l)
	}
	for target, ls := range links {
		if !names[target] {
			return ocispec.Descriptor{}, fmt.Errorf("%s: symlinks %v point at %s, which is not a file of the output", dir, ls, target)
		}
	}
	ann := m.annotations()
	if m.Kind == KindKernel {
		v, err := kernelVersion(files, m.ConfigVersion)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", dir, err)
		}
		ann[AnnotationKernelVersion] = v
		ann[AnnotationConfigVersion] = m.ConfigVersion
		ann[AnnotationVersion] = v + "-" + m.ConfigVersion
	}
	return pack(ctx, s, m.Kind, layers, ann)
}

// PackFile packs a single file (a rootfs tarball) under the title given.
func PackFile(ctx context.Context, s *Staging, path, title string, m Meta) (ocispec.Descriptor, error) {
	info, err := os.Stat(path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	l, err := stageFile(s, path, title, info.Mode()|0o444, m.Kind, "")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return pack(ctx, s, m.Kind, []ocispec.Descriptor{l}, m.annotations())
}

func stageFile(s *Staging, path, title string, mode os.FileMode, kind string, known digest.Digest) (ocispec.Descriptor, error) {
	head := make([]byte, 8)
	if f, err := os.Open(path); err == nil {
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		f.Close()
	}
	mediaType := layerMediaType(kind, title, head)
	var d ocispec.Descriptor
	var err error
	if known != "" {
		d, err = s.AddHashed(path, mediaType, known)
	} else {
		d, err = s.AddFile(path, mediaType)
	}
	if err != nil {
		return d, err
	}
	d.Annotations = map[string]string{
		AnnotationTitle: title,
		AnnotationMode:  fmt.Sprintf("%04o", mode.Perm()),
	}
	return d, nil
}

func pack(ctx context.Context, s *Staging, kind string, layers []ocispec.Descriptor, ann map[string]string) (ocispec.Descriptor, error) {
	desc, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, ArtifactTypes[kind], oras.PackManifestOptions{
		Layers:              layers,
		ManifestAnnotations: ann,
	})
	if err != nil {
		return desc, fmt.Errorf("packing the %s artifact: %w", kind, err)
	}
	s.SetRoot(desc)
	return desc, nil
}

// kernelVersion reads the kernel release from Kata's installed name
// vmlinux-<version>-<config version>.
func kernelVersion(files []os.DirEntry, configVersion string) (string, error) {
	for _, f := range files {
		name := f.Name()
		if strings.HasPrefix(name, "vmlinux-") && strings.HasSuffix(name, "-"+configVersion) {
			return strings.TrimSuffix(strings.TrimPrefix(name, "vmlinux-"), "-"+configVersion), nil
		}
	}
	return "", fmt.Errorf("no vmlinux-<version>-%s among the kernel's files", configVersion)
}

// PackIndex joins per-platform manifests into an OCI index whose entries
// carry their platform; the index has the artifactType of its kind.
func PackIndex(ctx context.Context, s *Staging, manifests []ocispec.Descriptor, m Meta) (ocispec.Descriptor, error) {
	var entries []ocispec.Descriptor
	for _, d := range manifests {
		if d.Platform == nil {
			return ocispec.Descriptor{}, fmt.Errorf("index entry %s has no platform", d.Digest)
		}
		entries = append(entries, ocispec.Descriptor{
			MediaType: d.MediaType, ArtifactType: d.ArtifactType, Digest: d.Digest, Size: d.Size, Platform: d.Platform,
		})
	}
	// In platform order, whatever order they were built in: the same
	// platforms give the same index.
	slices.SortFunc(entries, func(a, b ocispec.Descriptor) int {
		return strings.Compare(PlatformString(*a.Platform), PlatformString(*b.Platform))
	})
	ann := m.annotations()
	delete(ann, AnnotationPlatform)
	for _, k := range []string{AnnotationVersion, AnnotationKernelVersion, AnnotationConfigVersion} {
		if v := manifests[0].Annotations[k]; v != "" {
			ann[k] = v
		}
	}
	idx := ocispec.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: ArtifactTypes[m.Kind],
		Manifests:    entries,
		Annotations:  ann,
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: idx.MediaType, ArtifactType: idx.ArtifactType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := s.Push(ctx, desc, strings.NewReader(string(data))); err != nil {
		return desc, err
	}
	s.SetRoot(desc)
	return desc, nil
}

// PlatformString is os/arch[/variant].
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads os/arch[/variant].
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q is not os/arch[/variant], such as linux/amd64", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
