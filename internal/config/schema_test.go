package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSchemaUpToDate keeps the committed schema (embedded and under docs/)
// equal to what the types generate. Run with -update after changing them.
func TestSchemaUpToDate(t *testing.T) {
	got, err := GenerateSchema(".")
	if err != nil {
		t.Fatalf("GenerateSchema() error = %v", err)
	}
	docs := filepath.Join("..", "..", "docs", "config.schema.json")
	if *update {
		for _, p := range []string{"config.schema.json", docs} {
			if err := os.WriteFile(p, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []string{"config.schema.json", docs} {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("reading %s: %v (run go test ./internal/config -run TestSchemaUpToDate -update)", p, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go test ./internal/config -run TestSchemaUpToDate -update", p)
		}
	}
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatalf("embedded schema is not JSON: %v", err)
	}
	props, _ := s["$defs"].(map[string]any)
	if _, ok := props["API"]; !ok {
		t.Errorf("schema has no API definition: %v", keys(props))
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
