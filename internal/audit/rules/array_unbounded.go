package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.array-unbounded", Title: "Array without maxItems", Category: "API4", Severity: report.Medium, Scope: ScopeItems,
		Description: "An array schema has no maxItems: requests and answers of any length are valid, a resource-consumption risk (and unbounded pages).",
		Remediation: "Set maxItems on every array.",
		Fix:         "{type: array, maxItems: 100, items: {...}}\n# apiguard config: guards.schema.json.max_array caps arrays the spec leaves open",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				if IsType(s, "array") && !Has(s, "maxItems") {
					return "array " + prop + " has no maxItems"
				}
				return ""
			})
		},
	})
}
