package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// Attachment is a document to attach to a manifest as a referrer: an
// artifact manifest of the given type whose subject is that manifest and
// whose one layer is the document.
type Attachment struct {
	ArtifactType string
	Filename     string
	Data         []byte
	Annotations  map[string]string
	// Created stamps the manifest, so that the same document attached to
	// the same subject is the same manifest, and a second push adds none.
	Created time.Time
}

// Attach pushes the attachment as a referrer of subject in repo. A
// registry with the referrers API indexes it itself; for one without
// (answering the push with no OCI-Subject header), oras-go keeps the
// distribution-spec 1.1 fallback index at the tag sha256-<hex> of the
// subject, as every client that reads referrers looks for it.
//
// The old fallback index is left in place when the index is rewritten:
// Distribution refuses deletes unless configured to allow them, and an
// unreferenced index costs only its few bytes.
func (c *Client) Attach(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor, a Attachment) (ocispec.Descriptor, error) {
	repo.SkipReferrersGC = true
	if err := c.probeReferrers(ctx, repo, subject); err != nil {
		return ocispec.Descriptor{}, err
	}
	layer := content.NewDescriptorFromBytes(a.ArtifactType, a.Data)
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: a.Filename}
	if err := repo.Push(ctx, layer, bytes.NewReader(a.Data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, c.Explain(repo.Reference.Registry, err)
	}
	ann := map[string]string{ocispec.AnnotationCreated: a.Created.UTC().Format(time.RFC3339)}
	for k, v := range a.Annotations {
		ann[k] = v
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, a.ArtifactType, oras.PackManifestOptions{
		Subject: &subject, Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: ann,
	})
	if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return desc, c.Explain(repo.Reference.Registry, fmt.Errorf("attaching %s to %s: %w", a.Filename, subject.Digest, err))
	}
	return desc, nil
}

// probeReferrers asks the registry for subject's referrers once before the
// first push with a subject: a registry that answers has the referrers API
// and indexes what is pushed itself, whether or not its push answer names
// the subject (go-containerregistry's does not), so no fallback tag is
// written there.
func (c *Client) probeReferrers(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor) error {
	err := repo.Referrers(ctx, subject, "", func([]ocispec.Descriptor) error { return nil })
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return c.Explain(repo.Reference.Registry, fmt.Errorf("asking for the referrers of %s: %w", subject.Digest, err))
	}
	return nil
}

// Referrers lists the manifests that refer to subject, of artifactType
// or of every type when it is empty: through the referrers API where the
// registry has it, else through the fallback tag. A listing that gives a
// referrer no artifactType of its own, or its config's media type (as
// go-containerregistry's registry does), is completed from the referrer's
// manifest before it is filtered.
func (c *Client) Referrers(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	var all []ocispec.Descriptor
	err := repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return nil, c.Explain(repo.Reference.Registry, fmt.Errorf("listing the referrers of %s: %w", subject.Digest, err))
	}
	var kept []ocispec.Descriptor
	for _, d := range all {
		if d.ArtifactType == "" || d.ArtifactType == ocispec.MediaTypeEmptyJSON {
			data, err := content.FetchAll(ctx, repo, d)
			if err != nil {
				return nil, c.Explain(repo.Reference.Registry, fmt.Errorf("referrer %s: %w", d.Digest, err))
			}
			var m ocispec.Manifest
			if json.Unmarshal(data, &m) == nil {
				d.ArtifactType = m.ArtifactType
				if d.ArtifactType == "" {
					d.ArtifactType = m.Config.MediaType
				}
			}
		}
		if artifactType == "" || d.ArtifactType == artifactType {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// FetchAttachment reads the document a referrer carries: its manifest and
// its one layer, each checked against its digest.
func (c *Client) FetchAttachment(ctx context.Context, repo *remote.Repository, referrer ocispec.Descriptor) ([]byte, error) {
	data, err := content.FetchAll(ctx, repo, referrer)
	if err != nil {
		return nil, c.Explain(repo.Reference.Registry, fmt.Errorf("referrer %s: %w", referrer.Digest, err))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("referrer %s is not an OCI manifest: %w", referrer.Digest, err)
	}
	if len(m.Layers) != 1 {
		return nil, fmt.Errorf("referrer %s has %d layers; an attached document has one", referrer.Digest, len(m.Layers))
	}
	doc, err := content.FetchAll(ctx, repo, m.Layers[0])
	if err != nil {
		return nil, c.Explain(repo.Reference.Registry, fmt.Errorf("referrer %s: layer %s: %w", referrer.Digest, m.Layers[0].Digest, err))
	}
	return doc, nil
}
