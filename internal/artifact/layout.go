package artifact

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// WriteLayout writes the graph under root as an OCI image layout: a
// directory, or with asTar a tar of it whose entries are sorted, owned by 0
// and dated at epoch, so that the same artifact gives the same bytes. The
// layout's index.json names root alone, tagged ref when ref is not empty.
// It is written beside dest and renamed into place when complete.
func WriteLayout(ctx context.Context, src content.ReadOnlyStorage, root ocispec.Descriptor, dest, ref string, asTar bool, epoch time.Time) error {
	if !asTar {
		return ReplaceDir(dest, func(dir string) error { return writeLayoutDir(ctx, src, root, dir, ref) })
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := writeLayoutDir(ctx, src, root, tmp, ref); err != nil {
		return err
	}
	f, err := os.CreateTemp(parent, "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := tarTree(f, tmp, epoch); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), dest)
}

func writeLayoutDir(ctx context.Context, src content.ReadOnlyStorage, root ocispec.Descriptor, dir, ref string) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	var copyNode func(d ocispec.Descriptor) error
	copyNode = func(d ocispec.Descriptor) error {
		if err := copyBlob(ctx, src, d, filepath.Join(blobs, d.Digest.Encoded())); err != nil {
			return err
		}
		children, err := content.Successors(ctx, src, d)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := copyNode(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := copyNode(root); err != nil {
		return err
	}
	entry := root
	if ref != "" {
		entry.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	} else {
		entry.Annotations = nil
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{entry},
	})
	if err != nil {
		return err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), layout, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), index, 0o644)
}

// copyBlob writes a blob, verified against its descriptor, unless it is
// already there (an index shares blobs between platforms).
func copyBlob(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	rc, err := src.Fetch(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, content.NewVerifyReader(rc, d)); err != nil {
		f.Close()
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return f.Close()
}

// tarTree writes a directory as a reproducible tar.
func tarTree(w io.Writer, dir string, epoch time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Size: info.Size(), Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name += "/"
			h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.IsDir() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
