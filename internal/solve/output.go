package solve

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"

	"github.com/kforge/kforge/internal/helper"
)

// Output is an export destination given as `-o type=...,dest=...`, written
// to a temporary name beside its destination and moved into place only when
// the build succeeded, so a failed build leaves nothing behind.
type Output struct {
	Type  string
	Dest  string
	Attrs map[string]string
	// Hold keeps a successful export in its temporary place until the
	// caller commits or discards it: a build that still has to push
	// leaves no output behind when the push fails.
	Hold bool
	// Hash asks a local export for the sha256 of each regular file, taken
	// while it is unpacked, in Digests (by path below Dest).
	Hash    bool
	Digests map[string]digest.Digest
	// Finish, when set, adds to a local export in its temporary place,
	// after the files are unpacked (with Digests, when Hash is set) and
	// before they are moved into place: files written there appear with
	// the export or not at all.
	Finish func(dir string, digests map[string]digest.Digest) error
	tmp    string
	// unpacked reports the end of unpacking a local export's tar stream,
	// read from stream.
	unpacked chan error
	stream   *io.PipeReader
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
	if o.Type == "image" {
		// buildx's type=registry is short for type=image,push=true; kforge
		// has no image store to export to without the push.
		if o.Attrs["push"] != "true" {
			return nil, fmt.Errorf("output %q: type=image needs push=true here (kforge has no image store); or use type=registry,name=REF", spec)
		}
		delete(o.Attrs, "push")
		o.Type = "registry"
	}
	switch o.Type {
	case "local", "tar", "oci", "docker":
	case "registry":
		if o.Attrs["name"] == "" {
			return nil, fmt.Errorf("output %q has no name=: use type=registry,name=HOST/REPOSITORY[:TAG]", spec)
		}
		if o.Dest != "" {
			return nil, fmt.Errorf("output %q: a registry output takes name=, not dest=", spec)
		}
		return o, nil
	case "":
		return nil, fmt.Errorf("output %q has no type=: use type=local,dest=DIR, type=tar,dest=FILE, type=oci,dest=FILE or type=registry,name=REF", spec)
	default:
		return nil, fmt.Errorf("output type %q is not one of local, tar, oci, docker, registry", o.Type)
	}
	if o.Dest == "" {
		return nil, fmt.Errorf("output %q has no dest=", spec)
	}
	if v, ok := o.Attrs["tar"]; ok && v != "true" && v != "false" {
		return nil, fmt.Errorf("output %q: tar=%s is not true or false", spec, v)
	}
	return o, nil
}

// Name is a registry output's reference (or an OCI layout's tag).
func (o *Output) Name() string { return o.Attrs["name"] }

// Tar reports whether an oci or docker output is a tar archive (tar=false
// asks for a directory).
func (o *Output) Tar() bool { return o.Attrs["tar"] != "false" }

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
		// BuildKit's own directory export can stall on large trees
		// (moby/buildkit#2950); its tar stream does not. kforge asks for
		// the stream and unpacks it itself.
		e.Type = "tar"
		e.Output = func(map[string]string) (io.WriteCloser, error) {
			pr, pw := io.Pipe()
			o.stream = pr
			o.unpacked = make(chan error, 1)
			go func() {
				var err error
				if o.Hash {
					o.Digests, err = helper.ExtractTarHashed(tmp, pr)
				} else {
					err = helper.ExtractTar(tmp, pr)
				}
				if err != nil {
					pr.CloseWithError(err)
				} else {
					io.Copy(io.Discard, pr)
				}
				o.unpacked <- err
			}()
			return pw, nil
		}
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
	if o.unpacked != nil {
		err := <-o.unpacked
		o.unpacked = nil
		if err != nil {
			o.Discard()
			return fmt.Errorf("unpacking the export into %s: %w", o.Dest, err)
		}
	}
	if o.Type == "local" && o.Finish != nil {
		if err := o.Finish(o.tmp, o.Digests); err != nil {
			o.Discard()
			return fmt.Errorf("finishing %s: %w", o.Dest, err)
		}
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
	if o.unpacked != nil {
		// The build failed: whatever BuildKit did with the stream, stop
		// reading it.
		o.stream.CloseWithError(fmt.Errorf("build failed"))
		<-o.unpacked
		o.unpacked = nil
	}
	if o.tmp != "" {
		os.RemoveAll(o.tmp)
		o.tmp = ""
	}
}
