package attest

import (
	"fmt"
	"io/fs"

	toml "github.com/pelletier/go-toml/v2"
)

// cargoLock is the part of a Cargo.lock that names dependencies.
type cargoLock struct {
	Package []struct {
		Name     string `toml:"name"`
		Version  string `toml:"version"`
		Source   string `toml:"source"`
		Checksum string `toml:"checksum"`
	} `toml:"package"`
}

// cargoLockCrates lists the crates a Cargo.lock pins from a registry, with
// the sha256 of each .crate that cargo checks. The project's own members
// have no source and are not inputs of their own; they are the local files.
func cargoLockCrates(fsys fs.FS, name string) ([]Input, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var lock cargoLock
	if err := toml.Unmarshal(data, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var crates []Input
	for _, p := range lock.Package {
		if p.Source == "" {
			continue
		}
		crates = append(crates, Input{Kind: KindCrate, Name: p.Name, Version: p.Version, SHA256: p.Checksum, URI: p.Source})
	}
	return crates, nil
}
