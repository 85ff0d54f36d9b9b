package solve

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client"
)

// Output is an export destination given as `-o type=...,dest=...`, written
// to a temporary name beside its destination and moved into place only when
// the build succeeded, so a failed build leaves nothing behind.
type Output struct {
	Type  string
	Dest  string
	Attrs map[string]string
	tmp   string
}

// ParseOutput reads the buildx-style `type=local,dest=DIR` form; a bare path
// means type=local.
func ParseOutput(spec string) (*Output, error) {
	o := &Output{Attrs: map[string]string{}}
	if !strings.Contains(spec, "=") {
		o.Type, o.Dest = "local", spec
		return o, nil
	}
	for _, field := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return nil, fmt.Errorf("output %q: %q is not key=value", spec, field)
		}
		switch k {
		case "type":
			o.Type = v
		case "dest":
			o.Dest = v
		default:
			o.Attrs[k] = v
		}
	}
	switch o.Type {
	case "local", "tar", "oci", "docker":
	case "":
		return nil, fmt.Errorf("output %q has no type=: use type=local,dest=DIR or type=tar,dest=FILE", spec)
	default:
		return nil, fmt.Errorf("output type %q is not one of local, tar, oci, docker", o.Type)
	}
	if o.Dest == "" {
		return nil, fmt.Errorf("output %q has no dest=", spec)
	}
	return o, nil
}

// Entry prepares the temporary destination and returns the export entry.
func (o *Output) Entry() (client.ExportEntry, error) {
	parent := filepath.Dir(o.Dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return client.ExportEntry{}, err
	}
	e := client.ExportEntry{Type: o.Type, Attrs: o.Attrs}
	if o.Type == "local" {
		tmp, err := os.MkdirTemp(parent, "."+filepath.Base(o.Dest)+".partial-")
		if err != nil {
			return e, err
		}
		o.tmp = tmp
		e.OutputDir = tmp
		return e, nil
	}
	f, err := os.CreateTemp(parent, "."+filepath.Base(o.Dest)+".partial-")
	if err != nil {
		return e, err
	}
	o.tmp = f.Name()
	e.Output = func(map[string]string) (io.WriteCloser, error) { return f, nil }
	return e, nil
}

// Commit moves a finished export into place, replacing what was there.
func (o *Output) Commit() error {
	if o.tmp == "" {
		return nil
	}
	if o.Type == "local" {
		// MkdirTemp made the directory private; the result is not.
		if err := os.Chmod(o.tmp, 0o755); err != nil {
			return err
		}
		if err := os.RemoveAll(o.Dest); err != nil {
			return err
		}
	}
	err := os.Rename(o.tmp, o.Dest)
	if err == nil {
		o.tmp = ""
	}
	return err
}

// Discard removes a partial export.
func (o *Output) Discard() {
	if o.tmp != "" {
		os.RemoveAll(o.tmp)
		o.tmp = ""
	}
}
