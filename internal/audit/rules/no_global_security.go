package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.no-global-security", Title: "No global security requirement", Category: "API2", Severity: report.Low, Scope: ScopeDocument,
		Description: "The document has no top-level security list, so an operation that forgets its own security is public by default (fail open).",
		Remediation: "Add a top-level security requirement and opt public operations out explicitly with security: [].",
		Fix:         "security: [{bearer: []}]   # top level; public operations: security: [] plus x-apiguard-public: true",
		Check: func(d *Doc) []Hit {
			if len(d.Ops) == 0 || len(d.Schemes) == 0 {
				return nil
			}
			if sec := Get(d.Root, "security"); sec != nil && len(sec.Content) > 0 {
				return nil
			}
			return []Hit{{Node: d.Root, Pointer: "/security", Evidence: "no top-level security"}}
		},
	})
}
