package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// Staging is the content store an artifact is assembled in: files stay
// where the build exported them and are read from there on push, so a disk
// image is not copied once more before it is uploaded; manifests, indexes
// and the empty config are small and held in memory.
type Staging struct {
	mu    sync.Mutex
	files map[digest.Digest]string
	blobs map[digest.Digest][]byte
	root  ocispec.Descriptor
}

// NewStaging returns an empty store.
func NewStaging() *Staging {
	return &Staging{files: map[digest.Digest]string{}, blobs: map[digest.Digest][]byte{}}
}

// AddFile hashes a file and makes it servable under its digest.
func (s *Staging) AddFile(path, mediaType string) (ocispec.Descriptor, error) {
	d, n, err := fileDigest(path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	s.mu.Lock()
	s.files[d] = path
	s.mu.Unlock()
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: n}, nil
}

// AddHashed makes a file servable under a digest taken as it was written,
// checking only its size.
func (s *Staging) AddHashed(path, mediaType string, d digest.Digest) (ocispec.Descriptor, error) {
	info, err := os.Stat(path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	s.mu.Lock()
	s.files[d] = path
	s.mu.Unlock()
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: info.Size()}, nil
}

// fileDigest is the sha256 and size of a file.
func fileDigest(path string) (digest.Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), n, nil
}

// Fetch implements content.Fetcher.
func (s *Staging) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.blobs[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if p, ok := s.files[desc.Digest]; ok {
		return os.Open(p)
	}
	return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
}

// Push implements content.Pusher for the small blobs packing writes.
func (s *Staging) Push(_ context.Context, desc ocispec.Descriptor, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if got := digest.FromBytes(b); got != desc.Digest || int64(len(b)) != desc.Size {
		return fmt.Errorf("staging %s: content is %s (%d bytes)", desc.Digest, got, len(b))
	}
	s.mu.Lock()
	s.blobs[desc.Digest] = b
	s.mu.Unlock()
	return nil
}

// Exists implements content.Storage.
func (s *Staging) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, blob := s.blobs[desc.Digest]
	_, file := s.files[desc.Digest]
	return blob || file, nil
}

// SetRoot names the manifest or index that a copy starts from.
func (s *Staging) SetRoot(desc ocispec.Descriptor) { s.root = desc }

// Root is the descriptor given to SetRoot.
func (s *Staging) Root() ocispec.Descriptor { return s.root }

// Resolve implements oras.ReadOnlyTarget: every reference is the root.
func (s *Staging) Resolve(context.Context, string) (ocispec.Descriptor, error) {
	if s.root.Digest == "" {
		return ocispec.Descriptor{}, fmt.Errorf("nothing staged: %w", errdef.ErrNotFound)
	}
	return s.root, nil
}
