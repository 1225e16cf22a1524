package config

import (
	_ "embed"
	"encoding/json"
	"reflect"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the config's JSON Schema.
const SchemaID = "https://apiguard.dev/schemas/config.json"

//go:embed config.schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the config file, for
// editor completion and validation. It is generated from the Go types and
// their doc comments by GenerateSchema and committed (a test keeps it
// current), since the binary has no source to read comments from.
func Schema() []byte { return schemaJSON }

// GenerateSchema reflects the config types into a JSON Schema. srcDir is
// this package's source directory, for field descriptions.
func GenerateSchema(srcDir string) ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		AllowAdditionalProperties:  false,
		RequiredFromJSONSchemaTags: true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == nodeType {
				return &jsonschema.Schema{Type: "object", Description: "a guard's section: see the guard's doc page"}
			}
			return nil
		},
	}
	if err := r.AddGoComments("github.com/apiguard/apiguard/internal/config", srcDir); err != nil {
		return nil, err
	}
	s := r.Reflect(&Config{})
	s.ID = SchemaID
	s.Title = "apiguard configuration"
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
