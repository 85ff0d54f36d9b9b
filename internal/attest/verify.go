package attest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Evidence is what a verification compares: the artifact as the registry
// has it, the SBOM and provenance attached to it, and the recipe and lock
// it claims to come from.
type Evidence struct {
	// Subjects are the artifact's files (the layers of a kforge artifact)
	// or, for a container image, its manifest.
	Subjects   []Output
	Provenance []byte
	SBOM       []byte
	// Want are the inputs of the target from the recipe and lock at hand.
	Want         []Input
	RecipeSHA256 string
	LockSHA256   string
}

// Verify checks that the provenance is about the artifact, that its inputs
// are exactly the lock's and that the SBOM lists every one of them and the
// artifact's files. Every problem found is in the error, one per line.
func Verify(e Evidence) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	st, err := ReadProvenance(e.Provenance)
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	got := map[string]bool{}
	for _, s := range st.Subjects {
		got[s.SHA256] = true
	}
	for _, s := range e.Subjects {
		if !got[s.SHA256] {
			add("provenance: its subject does not name %s (sha256:%s) of the artifact", s.Name, s.SHA256)
		}
	}
	if len(st.Subjects) != len(e.Subjects) {
		add("provenance: it names %d subjects, the artifact has %d", len(st.Subjects), len(e.Subjects))
	}
	if st.RecipeSHA256 != e.RecipeSHA256 {
		add("provenance: built from a recipe with sha256:%s, not the one given (sha256:%s)", st.RecipeSHA256, e.RecipeSHA256)
	}
	if st.LockSHA256 != e.LockSHA256 {
		add("provenance: built from a lock with sha256:%s, not the one given (sha256:%s)", st.LockSHA256, e.LockSHA256)
	}
	missing, extra := sameInputs(e.Want, st.Inputs)
	for _, k := range missing {
		add("provenance: lacks the lock's input %s", k)
	}
	for _, k := range extra {
		add("provenance: names an input the lock does not have: %s", k)
	}
	doc, err := ReadSBOM(bytes.NewReader(e.SBOM))
	if err != nil {
		add("SBOM: %v", err)
	} else {
		for _, m := range covers(doc, e.Want) {
			add("SBOM: does not list the input %s", m)
		}
		// An output is known by its digest: an image's name in the SBOM is
		// its target's, the registry knows it by repository.
		listed := checksums(doc)
		for _, s := range e.Subjects {
			if !listed[s.SHA256] {
				add("SBOM: does not list the artifact's %s (sha256:%s)", s.Name, s.SHA256)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}
