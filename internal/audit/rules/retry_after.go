package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.retry-after-missing", Title: "429 response without Retry-After or rate-limit headers", Category: "API4", Severity: report.Low, Scope: ScopeItems,
		Description: "A 429 answer documents neither Retry-After nor RateLimit headers: clients retry blindly and amplify the load.",
		Remediation: "Document Retry-After (and RateLimit) headers on 429.",
		Fix:         "'429':\n  headers: {Retry-After: {schema: {type: integer, minimum: 0, maximum: 86400}}}\n# apiguard's ratelimit guard sends Retry-After on its 429s",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.Responses["429"] == nil {
					continue
				}
				ok := false
				for _, h := range headerNames(d, op, "429") {
					if h == "retry-after" || isRateLimitHeader(h) {
						ok = true
					}
				}
				if !ok {
					hits = append(hits, opHit(op, op.Responses["429"], op.Pointer+"/responses/429", "429 without Retry-After"))
				}
			}
			return hits
		},
	})
}
