package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.undefined-security-scheme", Title: "Security requirement names an undefined scheme", Category: "API2", Severity: report.High, Scope: ScopeItems,
		Description: "A security requirement refers to a scheme that components.securitySchemes does not define; tools disagree on what it means and may let requests through.",
		Remediation: "Define the scheme in components.securitySchemes or fix the name.",
		Fix:         "components:\n  securitySchemes:\n    <name>: {type: http, scheme: bearer, bearerFormat: JWT}",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			seen := map[string]bool{}
			for _, op := range d.Ops {
				for _, r := range op.Security {
					for _, u := range r {
						if d.Schemes[u.Name] == nil && !seen[op.ID+u.Name] {
							seen[op.ID+u.Name] = true
							hits = append(hits, opHit(op, nil, "", "scheme "+u.Name+" is not defined"))
						}
					}
				}
			}
			return hits
		},
	})
}
