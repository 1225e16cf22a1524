package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.operation-id-missing", Title: "Operation without operationId", Category: "API9", Severity: report.Low, Scope: ScopeItems,
		Description: "Without an operationId the operation cannot be named in inventories, policies (rate limits, authz rules) or logs in a stable way.",
		Remediation: "Give every operation a unique operationId.",
		Fix:         "operationId: getUser   # apiguard rules key on operationIds (ratelimit.rules[].operations, authz.rules.<operationId>)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if Str(op.Operation.Node, "operationId") == "" {
					hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template))
				}
			}
			return hits
		},
	})
}
