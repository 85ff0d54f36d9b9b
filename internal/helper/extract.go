package helper

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"path"

	"github.com/opencontainers/go-digest"
)

// ExtractTar unpacks a tar stream below root, resolving every path inside
// root; regular files keep their modification times.
func ExtractTar(root string, r io.Reader) error {
	return extractAll(root, tar.NewReader(r))
}

// ExtractTarHashed is ExtractTar that also returns the sha256 of every
// regular file, by its clean path below root: whoever ships the files next
// need not read them once more to learn their digests.
func ExtractTarHashed(root string, r io.Reader) (map[string]digest.Digest, error) {
	sums := map[string]digest.Digest{}
	tr := tar.NewReader(r)
	var h hash.Hash = sha256.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return sums, nil
		}
		if err != nil {
			return nil, err
		}
		var body io.Reader = tr
		if hdr.Typeflag == tar.TypeReg {
			h.Reset()
			body = io.TeeReader(tr, h)
		}
		if err := extractEntry(root, body, hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			// What extractEntry left unread is hashed too, so that the sum
			// is of the whole file.
			if _, err := io.Copy(h, tr); err != nil {
				return nil, err
			}
			sums[path.Clean("/" + hdr.Name)[1:]] = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
		}
	}
}
