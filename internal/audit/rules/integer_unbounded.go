package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.integer-unbounded", Title: "Integer without minimum and maximum", Category: "API4", Severity: report.Low, Scope: ScopeItems,
		Description: "An integer schema lacks minimum or maximum: negative amounts, huge page sizes and overflows are valid input.",
		Remediation: "Set minimum and maximum (or exclusiveMinimum/exclusiveMaximum) on integers.",
		Fix:         "{type: integer, minimum: 0, maximum: 1000}\n# enforced by guards.schema",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				if !IsType(s, "integer") || bounded(s) {
					return ""
				}
				lo := Has(s, "minimum") || Has(s, "exclusiveMinimum")
				hi := Has(s, "maximum") || Has(s, "exclusiveMaximum")
				if lo && hi {
					return ""
				}
				return "integer " + prop + " is not bounded on both sides"
			})
		},
	})
}
