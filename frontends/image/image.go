// Package image builds the kforge frontend image from scratch, with no
// base image: one layer holding the static kforge binary, and a config whose
// entrypoint serves the gateway frontend and whose labels tell BuildKit what
// the frontend supports and that it needs no network. The same binary and
// epoch give the same image digest.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kforge/kforge/internal/artifact"
	kllb "github.com/kforge/kforge/llb"
)

// Entrypoint runs the frontend; the gateway ignores the image's Cmd.
var Entrypoint = []string{kllb.HelperPath, "frontend", "serve"}

// Labels tell BuildKit's gateway what the frontend needs: the caps it
// supports (inputs, subrequests, named contexts) and no network for its own
// container. The steps it solves get the network the graph gives them.
var Labels = map[string]string{
	"moby.buildkit.frontend.caps":         "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
	"moby.buildkit.frontend.network.none": "true",
}

// Build stages the image of binary into s and returns its manifest. The
// layer is written to workDir.
func Build(ctx context.Context, s *artifact.Staging, binary, workDir string, created time.Time, version string) (ocispec.Descriptor, error) {
	layerPath := filepath.Join(workDir, "layer.tar")
	if err := writeLayer(layerPath, binary, created); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing the frontend layer: %w", err)
	}
	layer, err := s.AddFile(layerPath, ocispec.MediaTypeImageLayer)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: filepath.Base(kllb.HelperPath)}
	labels := map[string]string{ocispec.AnnotationVersion: version}
	for k, v := range Labels {
		labels[k] = v
	}
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   ocispec.ImageConfig{Entrypoint: Entrypoint, Labels: labels},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	}
	config, err := put(ctx, s, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{layer},
		Annotations: map[string]string{
			ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339),
			ocispec.AnnotationVersion: version,
			ocispec.AnnotationTitle:   "kforge gateway frontend",
		},
	}
	desc, err := put(ctx, s, ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.Platform = &cfg.Platform
	s.SetRoot(desc)
	return desc, nil
}

func put(ctx context.Context, s *artifact.Staging, mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	return desc, s.Push(ctx, desc, bytes.NewReader(data))
}

// writeLayer writes an uncompressed tar with the binary at HelperPath,
// owned by root, mode 0755, dated created: nothing of the host leaks in.
func writeLayer(path, binary string, created time.Time) error {
	src, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: filepath.Base(kllb.HelperPath), Mode: 0o755, Size: info.Size(),
		ModTime: created, Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, src); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return out.Close()
}
