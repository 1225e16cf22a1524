package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.server-variable-open", Title: "Server variable without enum", Category: "API8", Severity: report.Low, Scope: ScopeDocument,
		Description: "A server URL variable takes any value: generated clients and tools can be pointed at arbitrary hosts.",
		Remediation: "List the allowed values of server variables with enum.",
		Fix:         "servers: [{url: 'https://{region}.api.example.com', variables: {region: {default: eu, enum: [eu, us]}}}]",
		Check: func(d *Doc) []Hit {
			return serverHits(d, func(u string, s *yaml.Node) string {
				vars := Get(s, "variables")
				if vars == nil {
					return ""
				}
				for i := 0; i+1 < len(vars.Content); i += 2 {
					if !Has(vars.Content[i+1], "enum") {
						return "variable " + vars.Content[i].Value + " of " + u + " has no enum"
					}
				}
				return ""
			})
		},
	})
}
