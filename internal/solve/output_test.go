package solve

import (
	"strings"
	"testing"
)

func TestParseOutput(t *testing.T) {
	for spec, want := range map[string]string{
		"out/k":                             "local out/k  true",
		"type=oci,dest=k.tar":               "oci k.tar  true",
		"type=oci,dest=k,tar=false,name=v1": "oci k v1 false",
		"type=registry,name=h:5000/k/t:v1":  "registry  h:5000/k/t:v1 true",
		"type=image,name=h/k:v1,push=true":  "registry  h/k:v1 true",
	} {
		o, err := ParseOutput(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		got := strings.Join([]string{o.Type, o.Dest, o.Name(), map[bool]string{true: "true", false: "false"}[o.Tar()]}, " ")
		if got != want {
			t.Errorf("%s: %q, want %q", spec, got, want)
		}
	}
	for spec, want := range map[string]string{
		"type=registry,dest=x":        "has no name=",
		"type=registry,name=a,dest=b": "takes name=, not dest=",
		"type=image,name=h/k:v1":      "needs push=true",
		"type=oci,dest=x,tar=maybe":   "tar=maybe is not true or false",
		"type=s3,dest=x":              "is not one of",
	} {
		if _, err := ParseOutput(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}
