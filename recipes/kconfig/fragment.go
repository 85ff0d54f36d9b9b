// Package kconfig reads kernel configuration fragments, selects them from a
// tree in Kata's layout, and merges them the way the kernel's
// scripts/kconfig/merge_config.sh does, keeping track of who asked for what.
package kconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Assignment is one line of a fragment: CONFIG_<Symbol>=<Value>, or
// "# CONFIG_<Symbol> is not set" (Value "n").
type Assignment struct {
	Symbol string `json:"symbol"`
	Value  string `json:"value"`
	File   string `json:"file"`
	Line   int    `json:"line"`
}

var (
	setLine   = regexp.MustCompile(`^CONFIG_([A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# CONFIG_([A-Za-z0-9_]+) is not set$`)
)

// Parse reads a fragment. Comments and blank lines are skipped; anything
// else that is not an assignment is an error naming the file and line, as
// it would silently do nothing in merge_config.sh.
func Parse(file string, data []byte) ([]Assignment, error) {
	var out []Assignment
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := setLine.FindStringSubmatch(line); m != nil {
			out = append(out, Assignment{Symbol: m[1], Value: m[2], File: file, Line: n})
			continue
		}
		if m := unsetLine.FindStringSubmatch(line); m != nil {
			out = append(out, Assignment{Symbol: m[1], Value: "n", File: file, Line: n})
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return nil, fmt.Errorf("%s:%d: %q is neither CONFIG_X=value nor a comment", file, n, line)
	}
	return out, sc.Err()
}

// Request is what the merged fragments ask of one symbol: the value of the
// last fragment that sets it, and the earlier assignments it overrode.
type Request struct {
	Assignment
	Overrides []Assignment `json:"overrides,omitempty"`
}

// Merge combines fragments in order: a later assignment of a symbol
// replaces an earlier one, as in merge_config.sh. Requests come back in
// the order their symbols first appeared.
func Merge(fragments [][]Assignment) []Request {
	index := map[string]int{}
	var out []Request
	for _, frag := range fragments {
		for _, a := range frag {
			i, seen := index[a.Symbol]
			if !seen {
				index[a.Symbol] = len(out)
				out = append(out, Request{Assignment: a})
				continue
			}
			prev := out[i].Assignment
			if prev.Value != a.Value {
				out[i].Overrides = append(out[i].Overrides, prev)
			}
			out[i].Assignment = a
		}
	}
	return out
}

// ParseAllowList reads a file in the format of Kata's whitelist.conf: one
// CONFIG_ name a line, # comments.
func ParseAllowList(data []byte) map[string]bool {
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		allowed[strings.TrimPrefix(strings.Fields(line)[0], "CONFIG_")] = true
	}
	return allowed
}

// sortedBytewise sorts names as the C locale does, so that the order of
// fragments does not depend on the machine's locale.
func sortedBytewise(names []string) []string {
	sort.Strings(names)
	return names
}
