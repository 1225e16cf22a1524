package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/apiguard/apiguard/internal/report"
)

// TestAuditSARIFIsValid validates real audit reports (every rule, real
// locations) against the vendored SARIF 2.1.0 schema.
func TestAuditSARIFIsValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "report", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"../../examples/demobank/openapi.yaml", filepath.Join(sharedSpecs, "crapi-openapi-spec.json")} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := Load(f, Options{})
			if err != nil {
				t.Skipf("Load(%s) = %v", f, err)
			}
			var buf bytes.Buffer
			if err := report.WriteSARIF(&buf, r); err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("WriteSARIF(audit of %s) is not valid SARIF 2.1.0: %v", f, err)
			}
		})
	}
}
