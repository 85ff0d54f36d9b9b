package recipes

import (
	"strconv"
	"time"
)

// Container is an OCI container image made from a locked package set: the
// base environment's tree, the recipe's files on top, and an image config.
// Its one layer is reproducible: sorted entries, times clamped to
// sourceDateEpoch, fixed compression.
type Container struct {
	// Base is the environment (package set) the image's filesystem is.
	Base string `yaml:"base" json:"base"`
	// Files are files of the recipe's directory copied into the image.
	Files []ContainerFile `yaml:"files,omitempty" json:"files,omitempty"`
	// Env are environment variables of the image config; PATH is Debian's
	// default unless set here.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Entrypoint is the image's entrypoint (exec form).
	Entrypoint []string `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	// Cmd is the image's default command (exec form), such as ["/bin/bash"].
	Cmd []string `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	// WorkingDir is the image's working directory (absolute).
	WorkingDir string `yaml:"workingDir,omitempty" json:"workingDir,omitempty"`
	// User is the user (name or uid[:gid]) the image runs as; root when empty.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Labels are the image config's labels.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// ContainerFile is one file of the recipe's directory placed in an image.
type ContainerFile struct {
	// Src is the file, relative to the recipe.
	Src string `yaml:"src" json:"src"`
	// Dest is the absolute path in the image.
	Dest string `yaml:"dest" json:"dest"`
	// Mode is the file's octal mode, such as "0755"; 0644 when empty.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"pattern=^0?[0-7]{3}$"`
}

// DefaultPath is the PATH of an image config that sets none (Debian's).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ModeOrDefault is the file's mode, 0644 when unset.
func (f ContainerFile) ModeOrDefault() uint32 {
	m, err := strconv.ParseUint(f.Mode, 8, 32)
	if f.Mode == "" || err != nil {
		return 0o644
	}
	return uint32(m)
}

// Created is the time every output of the recipe is stamped with.
func (r *Recipe) Created() time.Time { return time.Unix(r.SourceDateEpoch, 0).UTC() }
