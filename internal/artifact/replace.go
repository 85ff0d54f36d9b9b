package artifact

import (
	"os"
	"path/filepath"
)

// ReplaceDir fills a new directory beside dest and, when fill succeeded,
// puts it in dest's place, so that dest is either what it was or complete.
func ReplaceDir(dest string, fill func(dir string) error) error {
	parent := filepath.Dir(filepath.Clean(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	// MkdirTemp made it private; the result is not.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}
