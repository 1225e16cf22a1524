package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(missingResponse("audit.missing-500", "Operation without a 5XX/default error response", "API8", report.Low,
		"No 500, 5XX or default response is documented: the error format is unknown, and servers tend to leak stack traces in undocumented errors.",
		"Document a generic error response (500 or default) with a minimal error schema.",
		"responses:\n  default: {$ref: '#/components/responses/Error'}\n# apiguard config: guards.errors (scrubs 5xx bodies and stack traces)",
		true, func(op *Op) bool { return true }, "500"))
}
