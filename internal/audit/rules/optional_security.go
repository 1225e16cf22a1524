package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.optional-security", Title: "Authentication is optional ({} in security)", Category: "API2", Severity: report.Medium, Scope: ScopeItems,
		Description: "The security list contains an empty requirement {} next to real ones: the operation also accepts anonymous calls, which is easy to miss.",
		Remediation: "Remove {} from the security list unless anonymous access is intended and the answer differs for anonymous callers.",
		Fix:         "security: [{bearer: []}]   # drop the {} alternative",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if len(op.Security) < 2 {
					continue
				}
				for _, r := range op.Security {
					if len(r) == 0 {
						hits = append(hits, opHit(op, nil, "", "security has {} among "+itoa(len(op.Security))+" requirements"))
						break
					}
				}
			}
			return hits
		},
	})
}
