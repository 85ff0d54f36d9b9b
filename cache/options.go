// Package cache holds what makes builds share work: BuildKit cache import
// and export settings (a registry cache shared across a build farm, or a
// local directory), and the directory mirror of pinned inputs.
package cache

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/client"
)

// cacheTypes are BuildKit's cache backends that need no cloud account.
var cacheTypes = map[string][]string{
	"registry": {"ref"},
	"local":    nil, // dest= to export, src= to import
	"inline":   nil,
}

// ParseOption reads one --cache-to or --cache-from value in BuildKit's
// `type=registry,ref=host/repo:tag,mode=max` form. A bare value is taken as
// a registry reference, as buildx does.
func ParseOption(spec string, export bool) (client.CacheOptionsEntry, error) {
	e := client.CacheOptionsEntry{Attrs: map[string]string{}}
	if !strings.Contains(spec, "=") {
		e.Type = "registry"
		e.Attrs["ref"] = spec
		return e, nil
	}
	for _, field := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok || k == "" {
			return e, fmt.Errorf("cache option %q: %q is not key=value", spec, field)
		}
		if k == "type" {
			e.Type = v
			continue
		}
		e.Attrs[k] = v
	}
	required, known := cacheTypes[e.Type]
	if !known {
		return e, fmt.Errorf("cache option %q: type %q is not one of registry, local, inline", spec, e.Type)
	}
	for _, k := range required {
		if e.Attrs[k] == "" {
			return e, fmt.Errorf("cache option %q: type=%s needs %s=", spec, e.Type, k)
		}
	}
	if e.Type == "local" {
		key := "src"
		if export {
			key = "dest"
		}
		if e.Attrs[key] == "" {
			return e, fmt.Errorf("cache option %q: type=local needs %s=DIR", spec, key)
		}
	}
	if export && e.Type == "registry" && e.Attrs["ignore-error"] == "" {
		// A farm's cache registry being down costs the next node time, not
		// this build: the export's failure is a warning.
		e.Attrs["ignore-error"] = "true"
	}
	if export && e.Attrs["mode"] == "" && e.Type != "inline" {
		// Every step, not only the final one: a farm shares the package
		// downloads and the environment as well as the result.
		e.Attrs["mode"] = "max"
	}
	return e, nil
}
