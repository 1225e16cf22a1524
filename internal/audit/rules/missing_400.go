package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(missingResponse("audit.missing-400", "Operation with input but no 400/422 response", "API8", report.Low,
		"The operation takes parameters or a body but documents no 400/422: invalid input handling is undefined.",
		"Document 400 (or 422) with a validation error schema.",
		"responses:\n  '400': {$ref: '#/components/responses/BadRequest'}\n# apiguard config: guards.schema (refuses invalid input with 400)",
		false, func(op *Op) bool { return op.Body != nil || len(op.Params) > 0 }, "400", "422"))
}
