package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.integer-format", Title: "Integer without int32/int64 format", Category: "API4", Severity: report.Info, Scope: ScopeItems,
		Description: "An integer schema has no format: implementations disagree on its range (53-bit JSON numbers, 32-bit ints), which leads to overflows.",
		Remediation: "Set format: int32 or int64.",
		Fix:         "{type: integer, format: int64}",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				if IsType(s, "integer") && Str(s, "format") == "" && !bounded(s) {
					return "integer " + prop + " has no format"
				}
				return ""
			})
		},
	})
}
