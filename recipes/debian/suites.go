package debian

import (
	"fmt"
	"sort"
	"time"

	"pault.ag/go/debian/version"
)

// Pins as apt gives them: a suite's versions are candidates at 500, a
// NotAutomatic suite's at 1, or at 100 with ButAutomaticUpgrades (Debian's
// backports). The highest pin wins, then the highest version.
const (
	pinDefault           = 500
	pinAutomaticUpgrades = 100
	pinNotAutomatic      = 1
)

// suitePin is the pin of a suite's packages, from its signed Release.
func suitePin(rel *release) int {
	switch {
	case !rel.NotAutomatic:
		return pinDefault
	case rel.ButAutomaticUpgrades:
		return pinAutomaticUpgrades
	default:
		return pinNotAutomatic
	}
}

// setSuite marks every package of a suite's index with the suite, under
// the name the recipe gives it, and the suite's pin.
func (idx *index) setSuite(name string, rel *release) {
	pin := suitePin(rel)
	for _, list := range idx.byName {
		for _, p := range list {
			p.Suite, p.pin, p.suiteNames = name, pin, []string{name, rel.Suite, rel.Codename}
		}
	}
}

// inSuite reports whether NAME/SUITE names this package's suite: the name
// the recipe gives it, or its Release's Suite or Codename, as apt takes
// either.
func (p *pkg) inSuite(suite string) bool {
	for _, n := range p.suiteNames {
		if n != "" && n == suite {
			return true
		}
	}
	return false
}

// mergeIndexes is the union of several suites' indexes: each name's
// versions ordered by pin, then newest first, so that a name's first entry
// is apt's candidate and a versioned dependency falls back to the next
// version that satisfies it (a backports version only where needed). Equal
// versions keep the recipe's suite order.
func mergeIndexes(loaded []*loadedIndex) *index {
	merged := newIndex()
	for _, li := range loaded {
		for name, list := range li.idx.byName {
			merged.byName[name] = append(merged.byName[name], list...)
		}
		for name, provs := range li.idx.providers {
			merged.providers[name] = append(merged.providers[name], provs...)
		}
	}
	merged.finish()
	return merged
}

// byCandidate orders versions of one name: pin, then Debian version order.
func byCandidate(list []*pkg) {
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].pin != list[j].pin {
			return list[i].pin > list[j].pin
		}
		return version.Compare(list[i].Version, list[j].Version) > 0
	})
}

// checkValidUntil refuses a release past its Valid-Until, as apt does: a
// mirror could otherwise keep serving an old, validly signed index that
// hides newer security updates (a freeze attack).
func checkValidUntil(url, suite string, rel *release, now time.Time, allow bool) error {
	if rel.ValidUntil == "" || allow {
		return nil
	}
	until, err := parseReleaseDate(rel.ValidUntil)
	if err != nil {
		return fmt.Errorf("%s: Valid-Until %q: %v", url, rel.ValidUntil, err)
	}
	if now.After(until) {
		return fmt.Errorf("%s: the index of %s expired on %s (its Valid-Until): the mirror serves a stale index, which may hide security updates; use a mirror that is current, or pass --allow-expired %s to accept it",
			url, suite, until.UTC().Format(time.RFC1123), suite)
	}
	return nil
}

// parseReleaseDate reads a Release date (RFC 2822 style, as Debian writes
// it: "Sat, 05 Dec 2026 08:12:41 UTC").
func parseReleaseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date in RFC 2822 form")
}
