package recipes

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"

	"github.com/kforge/kforge/internal/suggest"
)

var (
	// Debian policy 5.6.1: lower case letters, digits, + - and ., at least two
	// characters, starting with an alphanumeric.
	debianPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	targetName        = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	debianArches      = []string{"amd64", "arm64"}
)

func validate(r *Recipe, loc *locator) error {
	if r.APIVersion != APIVersion {
		return loc.errorf("$.apiVersion", "apiVersion is %q; this kforge reads %q", r.APIVersion, APIVersion)
	}
	if !targetName.MatchString(r.Name) {
		return loc.errorf("$.name", "name %q must be lower case letters, digits, '.', '_' or '-'", r.Name)
	}
	if r.SourceDateEpoch < 0 {
		return loc.errorf("$.sourceDateEpoch", "sourceDateEpoch must not be negative")
	}
	if err := validateDebian(r.Debian, loc); err != nil {
		return err
	}
	if len(r.Environments) == 0 {
		return loc.errorf("$.environments", "the recipe has no environments: add one under environments:")
	}
	for _, name := range sortedKeys(r.Environments) {
		if err := validateEnvironment(name, r.Environments[name], loc); err != nil {
			return err
		}
	}
	return nil
}

func validateDebian(d Debian, loc *locator) error {
	if len(d.Mirrors) == 0 {
		return loc.errorf("$.debian.mirrors", "debian.mirrors is empty: name at least one Debian archive, e.g. http://deb.debian.org/debian")
	}
	for i, m := range d.Mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return loc.errorf(fmt.Sprintf("$.debian.mirrors[%d]", i), "mirror %q is not an http:// or https:// URL", m)
		}
	}
	if d.Suite == "" {
		return loc.errorf("$.debian.suite", "debian.suite is missing: name a suite such as bookworm")
	}
	return nil
}

func validateEnvironment(name string, e Environment, loc *locator) error {
	path := "$.environments." + name
	if !targetName.MatchString(name) {
		return loc.errorf(path, "environment name %q must be lower case letters, digits, '.', '_' or '-'", name)
	}
	if e.Architecture != "" && !contains(debianArches, e.Architecture) {
		return loc.errorf(path+".architecture", "architecture %q is not one of %v", e.Architecture, debianArches)
	}
	if len(e.Packages) == 0 {
		return loc.errorf(path+".packages", "environment %q lists no packages", name)
	}
	seen := map[string]bool{}
	for i, p := range e.Packages {
		at := fmt.Sprintf("%s.packages[%d]", path, i)
		if !debianPackageName.MatchString(p) {
			return loc.errorf(at, "%q is not a Debian package name", p)
		}
		if seen[p] {
			return loc.errorf(at, "package %q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// closest names the most likely intended spelling of word, or "".
func closest(word string, candidates []string) string {
	if s := suggest.Closest(word, candidates, 1); len(s) > 0 {
		return s[0]
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
