package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// Push copies the graph that src resolves for "" to ref. Blobs go first and
// are skipped where the registry has them; the root manifest goes last, by
// tag when ref has one, so that a push cut short leaves no tag behind. Each
// blob is reported on progress as it is uploaded or found.
func (c *Client) Push(ctx context.Context, src oras.ReadOnlyTarget, ref string, progress io.Writer) (ocispec.Descriptor, error) {
	repo, r, err := c.Repository(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	dstRef := r.Reference
	opts := oras.CopyOptions{}
	opts.Concurrency = 3
	opts.PreCopy = func(_ context.Context, d ocispec.Descriptor) error {
		fmt.Fprintf(progress, "pushing %s %s (%s)\n", describe(d), d.Digest, humanSize(d.Size))
		return nil
	}
	if dstRef == "" {
		root, err := src.Resolve(ctx, "")
		if err != nil {
			return root, err
		}
		dstRef = root.Digest.String()
	}
	if err := c.pushLeaves(ctx, src, repo, progress); err != nil {
		return ocispec.Descriptor{}, c.Explain(r.Registry, err)
	}
	desc, err := oras.Copy(ctx, src, "", repo, dstRef, opts)
	if err != nil {
		return desc, c.Explain(r.Registry, err)
	}
	return desc, nil
}

// Check reaches the repository of ref with the credentials a push would
// use, so that a wrong login, an untrusted certificate or an unreachable
// registry is reported before a long build rather than after it.
func (c *Client) Check(ctx context.Context, ref string) error {
	repo, r, err := c.Repository(ctx, ref)
	if err != nil {
		return err
	}
	tag := r.Reference
	if tag == "" {
		tag = "latest"
	}
	if _, err := repo.Resolve(ctx, tag); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return c.Explain(r.Registry, err)
	}
	return nil
}

// pushLeaves uploads the blobs under the root's manifests that the
// registry lacks, straight from the source: the staged files are hashed
// already, and a copy would hash each again on the way. The copy that
// follows finds them present and pushes the manifests alone.
func (c *Client) pushLeaves(ctx context.Context, src oras.ReadOnlyTarget, repo *remote.Repository, progress io.Writer) error {
	root, err := src.Resolve(ctx, "")
	if err != nil {
		return err
	}
	nodes, err := content.Successors(ctx, src, root)
	if err != nil {
		return err
	}
	for len(nodes) > 0 {
		d := nodes[0]
		nodes = nodes[1:]
		if d.MediaType == ocispec.MediaTypeImageManifest || d.MediaType == ocispec.MediaTypeImageIndex {
			children, err := content.Successors(ctx, src, d)
			if err != nil {
				return err
			}
			nodes = append(nodes, children...)
			continue
		}
		if ok, err := repo.Exists(ctx, d); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(progress, "exists  %s %s\n", describe(d), d.Digest)
			continue
		}
		fmt.Fprintf(progress, "pushing %s %s (%s)\n", describe(d), d.Digest, humanSize(d.Size))
		rc, err := src.Fetch(ctx, d)
		if err != nil {
			return err
		}
		err = repo.Push(ctx, d, rc)
		rc.Close()
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
	}
	return nil
}

func describe(d ocispec.Descriptor) string {
	if t := d.Annotations[ocispec.AnnotationTitle]; t != "" {
		return t
	}
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest:
		return "manifest"
	case ocispec.MediaTypeImageIndex:
		return "index"
	case ocispec.MediaTypeEmptyJSON:
		return "config"
	}
	return d.MediaType
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
