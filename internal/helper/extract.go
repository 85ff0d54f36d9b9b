package helper

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// ExtractTar unpacks a tar stream below root, resolving every path inside
// root; regular files keep their modification times.
func ExtractTar(root string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := extractEntry(root, tr, hdr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			parent, err := securejoin.SecureJoin(root, path.Dir(path.Clean("/"+hdr.Name)))
			if err != nil {
				return err
			}
			p := filepath.Join(parent, path.Base(hdr.Name))
			if err := os.Chtimes(p, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		}
	}
}
