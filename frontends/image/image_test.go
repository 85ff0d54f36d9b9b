package image

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kforge/kforge/internal/artifact"
)

func build(t *testing.T, binary string, created time.Time) (*artifact.Staging, ocispec.Descriptor) {
	t.Helper()
	s := artifact.NewStaging()
	desc, err := Build(context.Background(), s, binary, t.TempDir(), created, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	return s, desc
}

func readJSON(t *testing.T, s *artifact.Staging, d ocispec.Descriptor, v any) {
	t.Helper()
	r, err := s.Fetch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, _ := io.ReadAll(r)
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// The same binary and time give the same image; the config carries the
// entrypoint BuildKit runs and the labels it reads.
func TestFrontendImage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kforge")
	os.WriteFile(bin, []byte("\x7fELF not really"), 0o700)
	created := time.Unix(1700000000, 0).UTC()
	s, a := build(t, bin, created)
	_, b := build(t, bin, created)
	if a.Digest != b.Digest {
		t.Errorf("two builds of one binary: %s and %s", a.Digest, b.Digest)
	}
	if _, c := build(t, bin, created.Add(time.Second)); c.Digest == a.Digest {
		t.Error("the creation time does not reach the image")
	}
	var m ocispec.Manifest
	readJSON(t, s, a, &m)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayer || m.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Fatalf("manifest %+v", m)
	}
	var cfg ocispec.Image
	readJSON(t, s, m.Config, &cfg)
	if len(cfg.Config.Entrypoint) != 3 || cfg.Config.Entrypoint[0] != "/kforge" || cfg.Config.Entrypoint[2] != "serve" {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if cfg.Config.Labels["moby.buildkit.frontend.network.none"] != "true" ||
		cfg.Config.Labels["moby.buildkit.frontend.caps"] != "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}
	if cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest || !cfg.Created.Equal(created) || cfg.OS != "linux" {
		t.Errorf("config %+v", cfg)
	}
}
