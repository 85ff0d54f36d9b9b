package solve

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// StepsRun reads BuildKit's rawjson progress (--progress rawjson) and lists
// the steps that ran rather than came from a cache: what a farm node that
// reuses another's cache should not do. Sources and transfers are left out:
// sending a local context moves data, and a pinned fetch whose digest is in
// the cache makes no request.
func StepsRun(rawjson string) ([]string, error) {
	type vertex struct {
		name      string
		cached    bool
		completed bool
	}
	state := map[string]vertex{}
	for _, line := range strings.Split(rawjson, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var s struct {
			Vertexes []struct {
				Digest    string
				Name      string
				Cached    bool
				Completed *string
			}
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, fmt.Errorf("bad rawjson line %q: %w", line, err)
		}
		for _, v := range s.Vertexes {
			// A vertex found in a cache is reported cached once; the
			// updates of its layer's download that follow say no more.
			state[v.Digest] = vertex{v.Name, v.Cached || state[v.Digest].cached, v.Completed != nil}
		}
	}
	if len(state) == 0 {
		return nil, errors.New("no progress in rawjson output")
	}
	var ran []string
	for _, v := range state {
		if v.completed && !v.cached && !isSourceOrTransfer(v.name) {
			ran = append(ran, v.name)
		}
	}
	slices.Sort(ran)
	return ran, nil
}

// isSourceOrTransfer tells the steps that move data rather than build:
// local contexts (the recipe, its files), pinned fetches, cache imports.
func isSourceOrTransfer(name string) bool {
	for _, prefix := range []string{"local://", "fetch ", "importing cache manifest", "[internal] load "} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// HeavySteps are the steps among names that compile or install packages.
func HeavySteps(names []string) []string {
	var heavy []string
	for _, name := range names {
		if strings.Contains(name, "] compile ") || strings.Contains(name, "] dpkg: ") || strings.Contains(name, "cargo build") {
			heavy = append(heavy, name)
		}
	}
	return heavy
}
