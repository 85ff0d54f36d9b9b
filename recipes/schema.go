package recipes

import (
	"bytes"
	"encoding/json"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the recipe format's JSON Schema.
const SchemaID = "https://kforge.dev/schema/recipe-v1.json"

// Schema renders the JSON Schema of the recipe format from the Go types and
// their doc comments. It must run in this package's source directory (the
// comments are read from the .go files there); recipes/schema.json is its
// output, kept in sync by a test.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: false}
	if err := r.AddGoComments("github.com/kforge/kforge/recipes", "."); err != nil {
		return nil, err
	}
	s := r.Reflect(&Recipe{})
	s.ID = SchemaID
	s.Title = "kforge recipe"
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(data)
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
