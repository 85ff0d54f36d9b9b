package cache

import "testing"

func TestParseOption(t *testing.T) {
	e, err := ParseOption("type=registry,ref=127.0.0.1:5000/kforge/cache:builder", true)
	if err != nil || e.Type != "registry" || e.Attrs["ref"] != "127.0.0.1:5000/kforge/cache:builder" || e.Attrs["mode"] != "max" {
		t.Errorf("registry export: %+v %v", e, err)
	}
	e, err = ParseOption("registry.example/cache:x", false)
	if err != nil || e.Type != "registry" || e.Attrs["ref"] != "registry.example/cache:x" || e.Attrs["mode"] != "" {
		t.Errorf("bare import: %+v %v", e, err)
	}
	e, err = ParseOption("type=local,dest=/tmp/c,mode=min", true)
	if err != nil || e.Attrs["dest"] != "/tmp/c" || e.Attrs["mode"] != "min" {
		t.Errorf("local export: %+v %v", e, err)
	}
	for _, bad := range []struct {
		spec   string
		export bool
	}{
		{"type=s3,bucket=x", true},
		{"type=registry", false},
		{"type=local,src=/x", true},
		{"type=local,dest=/x", false},
		{"type=registry,ref", false},
	} {
		if _, err := ParseOption(bad.spec, bad.export); err == nil {
			t.Errorf("ParseOption(%q, export=%v) accepted a bad option", bad.spec, bad.export)
		}
	}
}
