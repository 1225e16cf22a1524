package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// boundedFormats have an inherent maximum length.
var boundedFormats = set("date", "date-time", "time", "uuid", "ipv4", "ipv6", "int32", "int64", "duration")

func init() {
	register(&Rule{
		ID: "audit.string-unbounded", Title: "String without maxLength", Category: "API4", Severity: report.Medium, Scope: ScopeItems,
		Description: "A string schema has no maxLength (nor enum, const or a fixed-size format): the server must accept strings of any size, a resource-consumption and injection risk.",
		Remediation: "Set maxLength (and a pattern where the shape is known) on every string.",
		Fix:         "{type: string, maxLength: 256}\n# apiguard config: guards.schema.json.max_string caps strings the spec leaves open",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				if !IsType(s, "string") || Has(s, "maxLength") || bounded(s) || boundedFormats[norm(Str(s, "format"))] {
					return ""
				}
				if Str(s, "format") == "binary" {
					return ""
				}
				return "string " + prop + " has no maxLength"
			})
		},
	})
}
