package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// A registry mirror keeps every pinned file as a blob of one repository,
// under its own sha256: the lock's digest is the blob's, so a daemon fetches
// https://HOST/v2/REPO/blobs/sha256:<hex> and checks it as it checks any
// pinned download. Each blob is the one layer of a small manifest tagged
// file-<hex>, so that the registry's garbage collection keeps it.

// OCIScheme prefixes a registry mirror: oci://HOST/REPOSITORY.
const OCIScheme = "oci://"

// MirrorFileType is the artifactType of a registry mirror's manifests.
const MirrorFileType = "application/vnd.kforge.mirror.file.v1"

// IsOCIMirror says whether a --mirror value names a registry mirror.
func IsOCIMirror(s string) bool { return strings.HasPrefix(s, OCIScheme) }

// MirrorTag is the tag of the manifest that keeps a file in a registry
// mirror.
func MirrorTag(sha string) string { return "file-" + sha }

// SyncOCI copies every file into the repository: a blob already there is
// kept; others are fetched from their URLs, verified, and pushed. Every file
// gets its manifest and tag, so that none is garbage.
func SyncOCI(ctx context.Context, repo *remote.Repository, files []File, progress func(string)) (SyncResult, error) {
	var res SyncResult
	client := &http.Client{Timeout: 30 * time.Minute}
	staging, err := os.MkdirTemp("", "kforge-mirror-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(staging)
	if err := os.MkdirAll(filepath.Join(staging, "sha256"), 0o755); err != nil {
		return res, err
	}
	for i, f := range files {
		if !hexDigest.MatchString(f.SHA256) {
			return res, fmt.Errorf("%s: %q is not a sha256", f.Name, f.SHA256)
		}
		blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.NewDigestFromEncoded(digest.SHA256, f.SHA256)}
		ok, err := repo.Exists(ctx, blob)
		if err != nil {
			return res, err
		}
		if ok {
			res.Kept++
			if blob.Size, err = blobSize(ctx, repo, blob); err != nil {
				return res, err
			}
		} else {
			progress(fmt.Sprintf("[%d/%d] %s", i+1, len(files), f.Name))
			dst := BlobPath(staging, f.SHA256)
			if err := fetchFromAny(ctx, client, f, dst); err != nil {
				res.Missing = append(res.Missing, err)
				continue
			}
			if blob.Size, err = pushFile(ctx, repo, f, blob, dst); err != nil {
				return res, err
			}
			res.Fetched++
		}
		if err := keep(ctx, repo, f, blob); err != nil {
			return res, err
		}
	}
	return res, nil
}

// pushFile uploads a fetched file as the blob and removes it.
func pushFile(ctx context.Context, repo *remote.Repository, f File, blob ocispec.Descriptor, dst string) (int64, error) {
	defer os.Remove(dst)
	st, err := os.Stat(dst)
	if err != nil {
		return 0, err
	}
	blob.Size = st.Size()
	file, err := os.Open(dst)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	if err := repo.Push(ctx, blob, file); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return 0, fmt.Errorf("pushing %s to %s: %w", f.Name, repo.Reference, err)
	}
	return blob.Size, nil
}

// blobSize asks the registry for a blob's size, which its manifest needs.
func blobSize(ctx context.Context, repo *remote.Repository, blob ocispec.Descriptor) (int64, error) {
	d, err := repo.Blobs().Resolve(ctx, blob.Digest.String())
	if err != nil {
		return 0, err
	}
	return d.Size, nil
}

// keep gives a blob its manifest and tag, unless the tag is there.
func keep(ctx context.Context, repo *remote.Repository, f File, blob ocispec.Descriptor) error {
	tag := MirrorTag(f.SHA256)
	if _, err := repo.Resolve(ctx, tag); err == nil {
		return nil
	} else if !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	blob.Annotations = map[string]string{ocispec.AnnotationTitle: f.Name}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, MirrorFileType, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{blob},
		// A fixed time: the same file gives the same manifest.
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: time.Unix(0, 0).UTC().Format(time.RFC3339)},
	})
	if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("writing the manifest of %s: %w", f.Name, err)
	}
	return repo.Tag(ctx, desc, tag)
}
