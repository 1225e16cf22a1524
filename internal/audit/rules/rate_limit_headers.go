package rules

import (
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

func headerNames(d *Doc, op *Op, code string) []string {
	h := Get(op.Responses[code], "headers")
	if h == nil {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(h.Content); i += 2 {
		out = append(out, strings.ToLower(h.Content[i].Value))
	}
	return out
}

func isRateLimitHeader(name string) bool {
	return strings.HasPrefix(name, "ratelimit") || strings.HasPrefix(name, "x-ratelimit") || strings.HasPrefix(name, "x-rate-limit")
}

func init() {
	register(&Rule{
		ID: "audit.rate-limit-headers", Title: "Successful responses without rate-limit headers", Category: "API4", Severity: report.Low, Scope: ScopeItems,
		Description: "The 2xx responses document no RateLimit / X-RateLimit-* headers: clients cannot see their quota, and the limit is likely undefined.",
		Remediation: "Document RateLimit (IETF draft) or X-RateLimit-Limit/Remaining/Reset headers on 2xx and 429 answers.",
		Fix:         "x-apiguard-ratelimit: default\n# apiguard adds RateLimit-Policy/RateLimit headers to answers of rate-limited operations",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				var codes []string
				for c := range op.Responses {
					if strings.HasPrefix(c, "2") {
						codes = append(codes, c)
					}
				}
				if len(codes) == 0 {
					continue
				}
				sort.Strings(codes)
				found := false
				for _, c := range codes {
					for _, h := range headerNames(d, op, c) {
						if isRateLimitHeader(h) {
							found = true
						}
					}
				}
				if !found {
					hits = append(hits, opHit(op, op.ResponsesNode, op.Pointer+"/responses/"+codes[0], "no rate-limit header on "+strings.Join(codes, ", ")))
				}
			}
			return hits
		},
	})
}
