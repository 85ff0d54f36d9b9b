// Package llb builds BuildKit LLB graphs from a recipe and its lock. The
// builders are pure: they read neither the host nor the network, and take
// everything from outside as named-context states, so that the CLI and the
// gateway frontend build the same graph.
package llb

import (
	"path"
	"strings"
	"time"

	bk "github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
)

// Contexts are the named contexts a graph takes its host-side inputs from.
type Contexts struct {
	// Helper is a state holding the static kforge binary at HelperPath.
	Helper bk.State
	// Recipe holds the files of the recipe's directory that the build reads
	// (fragments, patches), at their paths relative to the recipe.
	Recipe bk.State
	// Locate, when set, gives the source-map location of a recipe node
	// ("$.kernels.tiny"); every op carries the location of what it builds,
	// so that a failing step is reported at its recipe line. Locations are
	// metadata: they change no op and no cache key.
	Locate func(yamlPath string) bk.ConstraintsOpt
}

// at is the location of a recipe node, or no location.
func (c Contexts) at(yamlPath string) bk.ConstraintsOpt {
	if c.Locate == nil {
		var none *bk.SourceMap
		return none.Location(nil)
	}
	return c.Locate(yamlPath)
}

// HelperContextName is the name of the context carrying the kforge binary.
const HelperContextName = "kforge-helper"

// HelperPath is where the kforge binary sits in the helper context.
const HelperPath = "/kforge"

// Helper is the helper as steps mount it: the binary alone, copied out of
// where it came from (the CLI's local context, or the frontend image) into
// a directory of its own, with a fixed mode and owner and time. The steps
// that mount it are keyed by its content, so that the CLI and the frontend
// share them; the copy makes that content the same whichever source sent
// the binary (the source's own root directory differs between a local
// context and an image).
func Helper(src bk.State) bk.State {
	epoch := time.Unix(0, 0)
	return bk.Scratch().File(bk.Copy(src, HelperPath, HelperPath, &bk.CopyInfo{
		Mode:        &bk.ChmodOpt{Mode: 0o755},
		ChownOpt:    &bk.ChownOpt{User: &bk.UserOpt{UID: 0}, Group: &bk.UserOpt{UID: 0}},
		CreatedTime: &epoch,
	}), bk.WithCustomName("[internal] the kforge helper"))
}

// helperMount is where steps mount the helper context, read-only. A
// read-only mount is cached by content, so an unchanged kforge binary keeps
// every step that uses it cached, whichever session sent it.
const helperMount = "/.kforge"

// helperCommand is the path of the kforge binary inside a step.
var helperCommand = helperMount + HelperPath

// Fetch is one pinned file fetched from a mirror.
type Fetch struct {
	Path    string   // path below the mirror root
	SHA256  string   // lower-case hex
	Name    string   // the file's name in the step, the same from every mirror
	Mirrors []string // mirror roots, in the order they are tried
	Choice  int      // index into Mirrors of the mirror this graph uses
	// Local is set when the first mirror is a directory mirror served by
	// kforge, which keeps files by digest rather than by path.
	Local bool
}

// URL is where this graph fetches the file from.
func (f Fetch) URL() string { return f.MirrorURL(f.Choice) }

// Display names the file in messages: its path below the mirrors, or its
// name when each mirror is the file's own URL.
func (f Fetch) Display() string {
	if f.Path == "" {
		return f.Name
	}
	return f.Path
}

// MirrorURL is the file's URL at the i-th mirror.
func (f Fetch) MirrorURL(i int) string {
	if f.Local && i == 0 {
		return LocalMirrorURL(f.Mirrors[0], f.SHA256)
	}
	return MirrorURL(f.Mirrors[i], f.Path)
}

// LocalMirrorURL is where a mirror of pinned files has a file: the mirror's
// prefix and the file's sha256 hex. A directory mirror, as `kforge mirror
// sync` lays it out and any static HTTP server serves it, has the prefix
// ROOT/sha256/ (DirMirrorPrefix); a registry mirror has
// https://HOST/v2/REPO/blobs/sha256:, the blob of the file's own digest.
// The step names the file itself (bk.Filename).
func LocalMirrorURL(prefix, sha string) string { return prefix + sha }

// DirMirrorPrefix is the prefix of a directory mirror served at root.
func DirMirrorPrefix(root string) string { return strings.TrimSuffix(root, "/") + "/sha256/" }

// MirrorURL joins a mirror root and a path below it; with no path the
// "mirror" is the file's own URL.
func MirrorURL(mirror, p string) string {
	if p == "" {
		return mirror
	}
	return strings.TrimSuffix(mirror, "/") + "/" + p
}

// Fetches records the fetch steps of a graph and which mirror each uses, so
// that a solve that fails at one mirror can be retried at the next.
type Fetches struct {
	// Skip maps a sha256 to the number of mirrors to pass over for it: the
	// file was wrong or missing there.
	Skip map[string]int
	// Down holds mirrors that could not be reached at all; no file is
	// fetched from them while another mirror is left.
	Down map[string]bool
	// All lists the fetches of the last graph built, in order.
	All []Fetch
	// LocalMirror is the prefix (LocalMirrorURL) of a mirror of pinned
	// files, tried before the recipe's mirrors: a directory mirror that
	// kforge serves, or a registry mirror. Offline drops the recipe's
	// mirrors.
	LocalMirror string
	Offline     bool
}

// choose picks the mirror for a file: the first one not skipped for it and
// not down, or the last one when every other failed.
func (fs *Fetches) choose(mirrors []string, sha string) int {
	i := fs.Skip[sha]
	for i < len(mirrors)-1 && fs.Down[mirrors[i]] {
		i++
	}
	return min(i, len(mirrors)-1)
}

// file returns a state holding the pinned file under its base name,
// fetched by checksum: BuildKit verifies the sha256, and a cached copy with
// that digest is used without asking any mirror.
//
// The file's name comes from the recipe's first mirror whichever mirror
// serves it: BuildKit keys a pinned download by digest and name, so the
// same file from a directory mirror, a recipe mirror or an imported cache is
// the same layer.
func (fs *Fetches) file(mirrors []string, p, sha string) bk.State {
	f := Fetch{Path: p, SHA256: sha, Name: path.Base(MirrorURL(mirrors[0], p)), Mirrors: mirrors}
	if fs != nil {
		if fs.LocalMirror != "" {
			f.Local = true
			f.Mirrors = []string{fs.LocalMirror}
			if !fs.Offline {
				f.Mirrors = append(f.Mirrors, mirrors...)
			}
		}
		f.Choice = fs.choose(f.Mirrors, sha)
		fs.All = append(fs.All, f)
	}
	return bk.HTTP(f.URL(),
		bk.Checksum(digest.NewDigestFromEncoded(digest.SHA256, sha)),
		bk.Filename(f.Name),
		bk.WithCustomName(FetchStepName(f)),
	)
}

// FetchStepName is the progress name of a fetch step; it names the URL so
// that a failure can be traced to its mirror.
func FetchStepName(f Fetch) string { return "fetch " + f.URL() }
