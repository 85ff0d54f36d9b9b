package gateway

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// contextFS is a solved build context as an io/fs file system, so that the
// planner reads fragments and patches through the gateway exactly as it
// reads a recipe directory on the host.
type contextFS struct {
	ctx context.Context
	ref client.Reference
}

var (
	_ fs.ReadFileFS = contextFS{}
	_ fs.ReadDirFS  = contextFS{}
	_ fs.StatFS     = contextFS{}
)

// pathError turns the gateway's errors into io/fs errors: a missing file
// becomes ENOENT (fs.ErrNotExist), as on the host, which the planner reports
// with the recipe field in the same words as the CLI's.
func pathError(op, name string, err error) error {
	if strings.Contains(err.Error(), "no such file or directory") || strings.Contains(err.Error(), "not found") {
		err = syscall.ENOENT
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (c contextFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	st, err := c.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	data, err := c.ref.ReadFile(c.ctx, client.ReadRequest{Filename: name})
	if err != nil {
		return nil, pathError("read", name, err)
	}
	return data, nil
}

func (c contextFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	st, err := c.ref.StatFile(c.ctx, client.StatRequest{Path: name})
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	return statInfo{st: st, name: path.Base(name)}, nil
}

func (c contextFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	if _, err := c.Stat(name); err != nil {
		return nil, err
	}
	list, err := c.ref.ReadDir(c.ctx, client.ReadDirRequest{Path: name})
	if err != nil {
		return nil, pathError("readdir", name, err)
	}
	entries := make([]fs.DirEntry, 0, len(list))
	for _, st := range list {
		entries = append(entries, fs.FileInfoToDirEntry(statInfo{st: st, name: path.Base(st.Path)}))
	}
	return entries, nil
}

// Open serves what io/fs helpers need beyond the three methods above: a
// directory lists itself, a file reads its whole content.
func (c contextFS) Open(name string) (fs.File, error) {
	info, err := c.Stat(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		entries, err := c.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, entries: entries}, nil
	}
	data, err := c.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &plainFile{info: info, Reader: bytes.NewReader(data)}, nil
}

// statInfo is fsutil's Stat as an fs.FileInfo.
type statInfo struct {
	st   *fstypes.Stat
	name string
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) Mode() fs.FileMode  { return fs.FileMode(s.st.Mode) }
func (s statInfo) ModTime() time.Time { return time.Unix(0, s.st.ModTime) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return s.st }

type plainFile struct {
	info fs.FileInfo
	*bytes.Reader
}

func (f *plainFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *plainFile) Close() error               { return nil }

type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error)   { return 0, io.EOF }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		all := d.entries
		d.entries = nil
		return all, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

// Short names of the io/fs types, for the overlay's method sets.
type (
	fsDirEntry = fs.DirEntry
	fsFileInfo = fs.FileInfo
	fsFile     = fs.File
)

// renamed reports a path error under the recipe's name for the path, not
// the stand-in's.
func renamed(err error, name string) error {
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}
