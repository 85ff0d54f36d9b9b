package recipes

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The committed schema must be what the Go types give: editors complete
// recipes from it.
func TestSchemaIsInSyncWithTypes(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("recipes/schema.json is out of date with the recipe types: run `make schema`")
	}
}

// The schema accepts the recipes kforge accepts and rejects an unknown field,
// as the parser does.
func TestSchemaValidatesRecipes(t *testing.T) {
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(mustRead(t, "schema.json")))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{mustRead(t, "builder.yaml"), goodRecipe} {
		if err := sch.Validate(asJSON(t, src)); err != nil {
			t.Errorf("schema rejects a valid recipe: %v", err)
		}
	}
	bad := strings.Replace(goodRecipe, "    packages:", "    pakages:", 1)
	if err := sch.Validate(asJSON(t, bad)); err == nil {
		t.Error("schema accepts an unknown field")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func asJSON(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
