package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.unprotected-read", Title: "Read operation without authentication", Category: "API2", Severity: report.Medium, Scope: ScopeItems,
		Description: "A GET/HEAD operation has no security requirement (or allows {}): its data is public. Fine for a public catalogue, a leak otherwise.",
		Remediation: "Require a security scheme, or mark intentionally public operations with x-apiguard-public: true.",
		Fix:         "security: [{bearer: []}]\n# or, when public on purpose (audit marker, not read by the gateway):\nx-apiguard-public: true",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if (op.Method == "GET" || op.Method == "HEAD") && !op.Secured() && !isPublicByDesign(op) {
					hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template+" needs no credentials"))
				}
			}
			return hits
		},
	})
}
