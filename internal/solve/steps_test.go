package solve

import (
	"slices"
	"testing"
)

// A vertex reported cached stays cached through the updates of its
// layer's download; fetches and local transfers are not steps that ran.
func TestStepsRun(t *testing.T) {
	progress := `{"vertexes":[{"digest":"sha256:a","name":"[kernel] compile bzImage for x86_64","started":"t","completed":"t","cached":true}]}
{"vertexes":[{"digest":"sha256:a","name":"[kernel] compile bzImage for x86_64","started":"t","completed":"t"}]}
{"vertexes":[{"digest":"sha256:b","name":"[guest] dpkg: install and configure 9 packages","started":"t","completed":"t"}]}
{"vertexes":[{"digest":"sha256:c","name":"fetch http://deb.debian.org/x.deb","started":"t","completed":"t"}]}
{"vertexes":[{"digest":"sha256:d","name":"exporting to client tarball","started":"t"}]}
plain text is ignored`
	ran, err := StepsRun(progress)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"[guest] dpkg: install and configure 9 packages"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if heavy := HeavySteps(ran); len(heavy) != 1 {
		t.Errorf("heavy %v", heavy)
	}
	if _, err := StepsRun("no json here"); err == nil {
		t.Error("progress without vertexes was accepted")
	}
}
