package artifact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// Artifact is a kforge artifact as read from a registry or layout, with its
// manifest (and index) verified against their digests.
type Artifact struct {
	Ref      string
	Root     ocispec.Descriptor // what the reference names: a manifest or an index
	Index    *ocispec.Index     // the index, when Root is one
	Desc     ocispec.Descriptor // the manifest of the chosen platform
	Manifest ocispec.Manifest
	Kind     string
	Files    []File
}

// File is one layer of an artifact.
type File struct {
	Name  string
	Mode  os.FileMode
	Links []string
	Layer ocispec.Descriptor
}

// HostPlatform is the platform pulls pick by default.
func HostPlatform() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

const dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
const dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// Open resolves ref in src and reads the artifact it names. From an index
// it takes the entry of platform, the host's when platform is nil.
func Open(ctx context.Context, src oras.ReadOnlyTarget, ref, display string, platform *ocispec.Platform) (*Artifact, error) {
	root, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	a := &Artifact{Ref: display, Root: root, Desc: root}
	switch root.MediaType {
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		data, err := content.FetchAll(ctx, src, root)
		if err != nil {
			return nil, fmt.Errorf("%s: index %s: %w", display, root.Digest, err)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("%s: index %s is not valid JSON: %w", display, root.Digest, err)
		}
		a.Index = &idx
		if KindOf(idx.ArtifactType) == "" && !anyKforgeEntry(idx) {
			return nil, fmt.Errorf("%s is an index of container images (%s), not a kforge artifact: pull it with docker, podman or crane", display, root.MediaType)
		}
		want := HostPlatform()
		if platform != nil {
			want = *platform
		}
		d, err := selectPlatform(idx, want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", display, err)
		}
		a.Desc = d
	case ocispec.MediaTypeImageManifest, dockerManifest:
	default:
		return nil, fmt.Errorf("%s is %s, not a kforge artifact (an OCI manifest with a kforge artifactType)", display, root.MediaType)
	}
	data, err := content.FetchAll(ctx, src, a.Desc)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", display, a.Desc.Digest, err)
	}
	if err := json.Unmarshal(data, &a.Manifest); err != nil {
		return nil, fmt.Errorf("%s: manifest %s is not valid JSON: %w", display, a.Desc.Digest, err)
	}
	if err := a.readManifest(platform); err != nil {
		return nil, err
	}
	return a, nil
}

// ErrContainerImage is what Open's error is (errors.Is) when the reference
// names a container image rather than a kforge artifact.
var ErrContainerImage = errors.New("a container image, not a kforge artifact")

type containerImageError string

func (e containerImageError) Error() string        { return string(e) }
func (e containerImageError) Is(target error) bool { return target == ErrContainerImage }

func anyKforgeEntry(idx ocispec.Index) bool {
	for _, m := range idx.Manifests {
		if KindOf(m.ArtifactType) != "" {
			return true
		}
	}
	return false
}

func selectPlatform(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	var have []string
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		have = append(have, PlatformString(*m.Platform))
		if m.Platform.OS == want.OS && m.Platform.Architecture == want.Architecture &&
			(want.Variant == "" || m.Platform.Variant == want.Variant) {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no entry for %s; the index has %s: choose one with --platform", PlatformString(want), strings.Join(have, ", "))
}

// readManifest checks that the manifest is a kforge artifact and reads its
// files.
func (a *Artifact) readManifest(platform *ocispec.Platform) error {
	m := a.Manifest
	a.Kind = KindOf(m.ArtifactType)
	if a.Kind == "" {
		switch {
		case m.Config.MediaType == ocispec.MediaTypeImageConfig || m.MediaType == dockerManifest ||
			m.Config.MediaType == "application/vnd.docker.container.image.v1+json":
			return containerImageError(fmt.Sprintf("%s is a container image (config %s), not a kforge artifact: run it with docker or podman, or pull it with crane", a.Ref, m.Config.MediaType))
		case m.ArtifactType != "":
			return fmt.Errorf("%s is an artifact of type %s, not a kforge artifact: pull it with oras", a.Ref, m.ArtifactType)
		}
		return fmt.Errorf("%s has no kforge artifactType (config %s), so it is not a kforge artifact", a.Ref, m.Config.MediaType)
	}
	if p := m.Annotations[AnnotationPlatform]; platform != nil && a.Index == nil && p != "" && p != PlatformString(*platform) {
		return fmt.Errorf("%s is for %s only, not %s", a.Ref, p, PlatformString(*platform))
	}
	seen := map[string]bool{}
	for _, l := range m.Layers {
		name := l.Annotations[AnnotationTitle]
		if err := safeName(name); err != nil {
			return fmt.Errorf("%s: layer %s: title %w", a.Ref, l.Digest, err)
		}
		if seen[name] {
			return fmt.Errorf("%s: two layers are titled %q", a.Ref, name)
		}
		seen[name] = true
		if l.Digest.Algorithm() != digest.SHA256 || l.Digest.Validate() != nil {
			return fmt.Errorf("%s: %s: digest %q is not a sha256 digest, the only kind kforge writes and verifies", a.Ref, name, l.Digest)
		}
		f := File{Name: name, Mode: 0o644, Layer: l}
		if s := l.Annotations[AnnotationMode]; s != "" {
			mode, err := strconv.ParseUint(s, 8, 32)
			if err != nil || mode > 0o777 {
				return fmt.Errorf("%s: %s: %s %q is not an octal permission", a.Ref, name, AnnotationMode, s)
			}
			f.Mode = os.FileMode(mode)
		}
		if s := l.Annotations[AnnotationLinks]; s != "" {
			for _, link := range strings.Split(s, ",") {
				if err := safeName(link); err != nil {
					return fmt.Errorf("%s: %s: link %w", a.Ref, name, err)
				}
				f.Links = append(f.Links, link)
			}
		}
		a.Files = append(a.Files, f)
	}
	for _, f := range a.Files {
		for _, l := range f.Links {
			if seen[l] {
				return fmt.Errorf("%s: link %s has the name of a file", a.Ref, l)
			}
			seen[l] = true
		}
	}
	return nil
}

// safeName accepts a plain file name: an artifact never writes outside the
// directory it is pulled into.
func safeName(name string) error {
	if name == "" {
		return fmt.Errorf("is missing")
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("%q is not a plain file name", name)
	}
	return nil
}

// Platform is the platform of the chosen manifest, from the index entry or
// the manifest's annotation.
func (a *Artifact) Platform() string {
	if a.Desc.Platform != nil {
		return PlatformString(*a.Desc.Platform)
	}
	return a.Manifest.Annotations[AnnotationPlatform]
}
