package artifact

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"
)

// Pull writes the artifact's files, and the links its annotations name,
// into dest. Every blob is downloaded into a temporary sibling of dest and
// checked against its digest; only when all are verified are they renamed
// into dest, so a failed pull writes nothing.
func (a *Artifact) Pull(ctx context.Context, src content.Fetcher, dest string, progress io.Writer) error {
	parent := filepath.Dir(filepath.Clean(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("pull into %s: %w", dest, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return fmt.Errorf("pull into %s: %w", dest, err)
	}
	defer os.RemoveAll(tmp)
	if err := a.download(ctx, src, tmp, progress); err != nil {
		return err
	}
	for _, f := range a.Files {
		for _, l := range f.Links {
			if err := os.Symlink(f.Name, filepath.Join(tmp, l)); err != nil {
				return err
			}
		}
	}
	if _, err := os.Lstat(dest); os.IsNotExist(err) {
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		return os.Rename(tmp, dest)
	}
	// dest exists: replace the artifact's names in it and keep the rest,
	// once it is clear that every rename can succeed.
	for _, f := range a.Files {
		for _, n := range append([]string{f.Name}, f.Links...) {
			if info, err := os.Lstat(filepath.Join(dest, n)); err == nil && info.IsDir() {
				return fmt.Errorf("pull into %s: %s is a directory there; the artifact has a file of that name", dest, n)
			}
		}
	}
	for _, f := range a.Files {
		names := append([]string{f.Name}, f.Links...)
		for _, n := range names {
			if err := os.Rename(filepath.Join(tmp, n), filepath.Join(dest, n)); err != nil {
				return fmt.Errorf("pull into %s: %w", dest, err)
			}
		}
	}
	return nil
}

// download fetches every file into dir, each verified, with its mode and
// the artifact's creation time.
func (a *Artifact) download(ctx context.Context, src content.Fetcher, dir string, progress io.Writer) error {
	created, _ := time.Parse(time.RFC3339, a.Manifest.Annotations[AnnotationCreated])
	for _, f := range a.Files {
		p := filepath.Join(dir, f.Name)
		report(progress, "pulling %s %s (%d bytes)\n", f.Name, f.Layer.Digest, f.Layer.Size)
		out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if err := a.fetchVerified(ctx, src, f, out); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
		if !created.IsZero() {
			os.Chtimes(p, created, created)
		}
	}
	return nil
}

// fetchVerified streams one layer into out, which it closes, and compares
// what arrived with the layer's digest and size.
func (a *Artifact) fetchVerified(ctx context.Context, src content.Fetcher, f File, out *os.File) error {
	rc, err := src.Fetch(ctx, f.Layer)
	if err != nil {
		out.Close()
		return fmt.Errorf("%s: fetching %s (%s): %w", a.Ref, f.Name, f.Layer.Digest, err)
	}
	defer rc.Close()
	h := sha256.New()
	// One byte more than the descriptor says shows a blob that is too long.
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(rc, f.Layer.Size+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: fetching %s (%s): %w", a.Ref, f.Name, f.Layer.Digest, err)
	}
	got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	if got != f.Layer.Digest || n != f.Layer.Size {
		return fmt.Errorf("%s: blob %s (%s) does not match its digest: the registry served %d bytes with digest %s, the manifest says %d bytes with digest %s; the registry's copy is damaged or was altered, and nothing was written",
			a.Ref, f.Layer.Digest, f.Name, n, got, f.Layer.Size, f.Layer.Digest)
	}
	return nil
}
