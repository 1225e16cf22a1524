package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(missingResponse("audit.missing-401", "Secured operation without a 401 response", "API2", report.Low,
		"The operation requires credentials but does not document 401: clients and tests cannot rely on how missing or bad credentials are refused.",
		"Document 401 (with a WWW-Authenticate header and an error schema).",
		"responses:\n  '401': {$ref: '#/components/responses/Unauthorized'}\n# apiguard answers 401 itself for authn failures (guards.authn)",
		false, func(op *Op) bool { return op.Secured() }, "401"))
}
