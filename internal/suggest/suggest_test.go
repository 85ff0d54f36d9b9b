package suggest

import (
	"reflect"
	"testing"
)

func TestClosest(t *testing.T) {
	names := []string{"flex", "flexc++", "bison", "bisonc++", "fex", "libfl-dev", "byacc"}
	if got, want := Closest("flexx", names, 3), []string{"flex", "fex"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Closest(flexx) = %v, want %v", got, want)
	}
	if got := Closest("zzzzzzzz", names, 3); len(got) != 0 {
		t.Errorf("Closest(zzzzzzzz) = %v, want nothing", got)
	}
	if got := Closest("flex", names, 3); got[0] == "flex" {
		t.Errorf("Closest must not suggest the word itself: %v", got)
	}
}
