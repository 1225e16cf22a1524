package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.map-unbounded", Title: "Free-form map without maxProperties", Category: "API4", Severity: report.Low, Scope: ScopeItems,
		Description: "An object allows arbitrary keys (additionalProperties: true or a schema) but has no maxProperties: a client can send millions of keys.",
		Remediation: "Set maxProperties on maps.",
		Fix:         "{type: object, additionalProperties: {type: string, maxLength: 256}, maxProperties: 50}\n# apiguard config: guards.schema.json.max_keys",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				ap := Get(s, "additionalProperties")
				if ap == nil || ap.Value == "false" || Has(s, "maxProperties") {
					return ""
				}
				if ap.Kind == yaml.ScalarNode && ap.Value != "true" {
					return ""
				}
				return "map " + prop + " has no maxProperties"
			})
		},
	})
}
