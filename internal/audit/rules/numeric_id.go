package rules

import (
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

// isIDName reports names like id, userId, user_id, accountID.
func isIDName(name string) bool {
	n := strings.ToLower(name)
	return n == "id" || strings.HasSuffix(n, "id") && (strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "ID") || strings.HasSuffix(n, "_id") || strings.HasSuffix(n, "-id"))
}

func init() {
	register(&Rule{
		ID: "audit.numeric-id", Title: "Sequential numeric id in a path", Category: "API1", Severity: report.Medium, Scope: ScopeItems,
		Description: "A path parameter naming an object is an integer: ids are guessable, which makes broken object-level authorization (BOLA) trivial to exploit.",
		Remediation: "Use random, unguessable ids (UUIDs, format: uuid) and check ownership on every access.",
		Fix:         "{name: id, in: path, schema: {type: string, format: uuid}}\nx-apiguard-authz: {request: 'path.id in principal.accounts'}   # object-level rule (guards.authz)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				for _, p := range op.Params {
					if p.In == "path" && isIDName(p.Name) && IsType(p.Schema, "integer") {
						hits = append(hits, opHit(op, p.Node, p.Pointer, "path parameter "+p.Name+" is an integer"))
					}
				}
			}
			return hits
		},
	})
}
