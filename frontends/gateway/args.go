package gateway

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	kllb "github.com/kforge/kforge/llb"
)

// Build args kforge reads. Everything else a recipe needs is in the recipe
// and its lock: build args cannot change what is built, only where pinned
// files come from.
const (
	// ArgMirror is the URL of a mirror in `kforge mirror sync`'s layout
	// (sha256/<hex>), tried before the recipe's mirrors for every pinned file.
	ArgMirror = "KFORGE_MIRROR"
	// ArgOffline, when true, fetches pinned files only from KFORGE_MIRROR.
	ArgOffline = "KFORGE_OFFLINE"
)

// BuildArgs documents the build args, for --call outline and --help.
var BuildArgs = []struct{ Name, Description string }{
	{ArgMirror, "mirror URL in `kforge mirror sync` layout (sha256/<hex>), tried first for every pinned file"},
	{ArgOffline, "true: fetch pinned files only from " + ArgMirror + ", never from the recipe's mirrors"},
}

// settings are the build args, checked.
type settings struct {
	mirror  string
	offline bool
}

// proxyArgs are the build args buildx and docker pass on their own from
// the client's environment; a recipe's steps have no network, so they mean
// nothing here.
var proxyArgs = []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"}

// ignoredArg is a build arg that clients add by themselves.
func ignoredArg(name string) bool {
	upper := strings.ToUpper(name)
	for _, p := range proxyArgs {
		if upper == p {
			return true
		}
	}
	// BUILDKIT_SYNTAX, BUILDKIT_INLINE_CACHE, BUILDKIT_MULTI_PLATFORM...;
	// SOURCE_DATE_EPOCH is the recipe's own field.
	return strings.HasPrefix(name, "BUILDKIT_") || name == "SOURCE_DATE_EPOCH"
}

func parseArgs(args map[string]string) (settings, error) {
	var s settings
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := args[k]
		switch {
		case k == ArgMirror:
			if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return s, fmt.Errorf("build arg %s=%q: give the mirror's http:// or https:// URL", k, v)
			}
			if v != "" {
				s.mirror = kllb.DirMirrorPrefix(v)
			}
		case k == ArgOffline:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, fmt.Errorf("build arg %s=%q: give true or false", k, v)
			}
			s.offline = b
		case ignoredArg(k):
		default:
			return s, fmt.Errorf("unknown build arg %q: kforge reads %s and %s; the recipe and its lock say everything else", k, ArgMirror, ArgOffline)
		}
	}
	if s.offline && s.mirror == "" {
		return s, fmt.Errorf("build arg %s=true needs %s: the mirror every pinned file is fetched from", ArgOffline, ArgMirror)
	}
	return s, nil
}
