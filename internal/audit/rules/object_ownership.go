package rules

import (
	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.object-authz-undeclared", Title: "Object operation without an ownership rule", Category: "API1", Severity: report.Info, Scope: ScopeItems,
		Description: "The operation addresses an object by an id in its path but the spec states no object-level rule (x-apiguard-authz, x-apiguard-roles or scopes): nothing documents who may access which object.",
		Remediation: "Document and enforce who owns the object; state it in the spec so gateways and scanners can check it.",
		Fix:         "x-apiguard-authz:\n  request: 'path.userId == principal.sub || \"admin\" in principal.roles'",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if !op.Secured() || op.Extensions["x-apiguard-authz"] != nil || op.Extensions["x-apiguard-roles"] != nil {
					continue
				}
				scoped := false
				for _, r := range op.Security {
					for _, u := range r {
						if len(u.Scopes) > 0 {
							scoped = true
						}
					}
				}
				if scoped {
					continue
				}
				for _, p := range op.Params {
					if p.In == "path" && isIDName(p.Name) {
						hits = append(hits, opHit(op, nil, "", "object id "+p.Name+" without an ownership rule"))
						break
					}
				}
			}
			return hits
		},
	})
}
