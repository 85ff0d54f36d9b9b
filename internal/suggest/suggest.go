// Package suggest finds the names closest to a misspelled one, for error
// messages that say what the user probably meant.
package suggest

import "sort"

// Closest returns up to n candidates nearest to word by edit distance, nearest
// first and alphabetical among equals. Candidates further than a third of the
// word's length (at least 2) are not suggestions but noise, and are left out.
func Closest(word string, candidates []string, n int) []string {
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	type scored struct {
		name string
		dist int
	}
	var found []scored
	for _, c := range candidates {
		if c == word {
			continue
		}
		if d := distance(word, c, limit); d <= limit {
			found = append(found, scored{c, d})
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].dist != found[j].dist {
			return found[i].dist < found[j].dist
		}
		return found[i].name < found[j].name
	})
	var out []string
	for i := 0; i < len(found) && i < n; i++ {
		out = append(out, found[i].name)
	}
	return out
}

// distance is the Levenshtein distance of a and b, cut short (returning
// limit+1) once it is certain to exceed limit: the package index has tens of
// thousands of names and most are far from the word.
func distance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
