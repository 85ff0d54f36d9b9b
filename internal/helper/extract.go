package helper

import (
	"archive/tar"
	"io"
)

// ExtractTar unpacks a tar stream below root, resolving every path inside
// root; regular files keep their modification times.
func ExtractTar(root string, r io.Reader) error {
	return extractAll(root, tar.NewReader(r))
}
