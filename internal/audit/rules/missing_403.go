package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(missingResponse("audit.missing-403", "Secured operation without a 403 response", "API5", report.Low,
		"The operation requires credentials but does not document 403: authorization is probably not considered (who may call it, on which objects).",
		"Document 403 and the rule deciding it (roles, scopes, ownership).",
		"responses:\n  '403': {$ref: '#/components/responses/Forbidden'}\nx-apiguard-roles: [user]",
		false, func(op *Op) bool { return op.Secured() }, "403"))
}
