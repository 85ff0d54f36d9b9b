package helper

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kforge/kforge/internal/initramfs"
)

// WriteInitrd writes a Kata initrd of the rootfs to out, through a
// temporary file so that a failure leaves nothing at out.
func WriteInitrd(rootfs, out string, opt initramfs.Options) error {
	if opt.Init != "" {
		if _, err := os.Lstat(filepath.Join(rootfs, strings.TrimPrefix(opt.Init, "/"))); err != nil {
			return fmt.Errorf("the rootfs has no %s for /init to point at: %w", opt.Init, err)
		}
	}
	return writeAtomically(out, func(f *os.File) error { return initramfs.Write(f, rootfs, opt) })
}

// writeAtomically fills a temporary file beside path and renames it into
// place only when fill succeeded.
func writeAtomically(path string, fill func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
