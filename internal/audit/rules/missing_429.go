package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(missingResponse("audit.missing-429", "Operation without a 429 response", "API4", report.Medium,
		"The operation does not document 429 Too Many Requests: nothing says it is rate limited, so it probably is not (brute force, scraping, resource exhaustion).",
		"Rate limit the operation and document 429 with Retry-After and RateLimit headers.",
		"x-apiguard-ratelimit: default   # names a ratelimit rule with from_spec: true\n# apiguard config: guards.ratelimit.rules: [{name: default, key: principal, limits: [100/1m], from_spec: true}]",
		false, func(op *Op) bool { return true }, "429"))
}
