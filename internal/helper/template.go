package helper

import (
	"bytes"
	"fmt"
	"os"
	"sort"
)

// ApplyTemplate writes to from from with every placeholder replaced by its
// value, literally. Every placeholder must be in the template: one that is
// not means the recipe and the source disagree.
func ApplyTemplate(from, to string, replace map[string]string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("template %s is not in the source: %w", from, err)
	}
	keys := make([]string, 0, len(replace))
	for k := range replace {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !bytes.Contains(data, []byte(k)) {
			return fmt.Errorf("template %s has no placeholder %s", from, k)
		}
		data = bytes.ReplaceAll(data, []byte(k), []byte(replace[k]))
	}
	return writeAtomically(to, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
