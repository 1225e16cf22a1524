package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.unprotected-write", Title: "State-changing operation without authentication", Category: "API2", Severity: report.High, Scope: ScopeItems,
		Description: "A POST, PUT, PATCH or DELETE operation has no security requirement (or allows {}, anonymous): anyone can change data.",
		Remediation: "Require a security scheme on the operation (or globally); keep security: [] only for login and signup.",
		Fix:         "security: [{bearer: []}]\nx-apiguard-roles: [user]      # who may call it (guards.authz)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if IsWrite(op.Method) && !op.Secured() && !isPublicByDesign(op) {
					hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template+" needs no credentials"))
				}
			}
			return hits
		},
	})
}
