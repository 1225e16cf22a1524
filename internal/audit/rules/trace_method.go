package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.trace-method", Title: "TRACE operation documented", Category: "API8", Severity: report.Medium, Scope: ScopeItems,
		Description: "TRACE echoes requests, including cookies and Authorization headers, back to the caller (cross-site tracing).",
		Remediation: "Remove TRACE operations; disable TRACE on the server.",
		Fix:         "# apiguard refuses methods the spec omits (guards.headers.method_not_allowed: true): delete the trace operation",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.Method == "TRACE" {
					hits = append(hits, opHit(op, nil, "", "TRACE "+op.Template))
				}
			}
			return hits
		},
	})
}
