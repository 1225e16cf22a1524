package rules

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

var debugNames = set("stack", "stackTrace", "stack_trace", "trace", "traceback", "exception", "exceptionType", "debug", "debugInfo", "sql", "query", "file", "line")

func init() {
	register(&Rule{
		ID: "audit.verbose-errors", Title: "Error response exposes debug details", Category: "API8", Severity: report.Medium, Scope: ScopeItems,
		Description: "A 4xx/5xx response schema has fields such as stackTrace, exception or sql: internals leak to clients and help attackers.",
		Remediation: "Return a minimal error (code, message, request id) and log details server-side.",
		Fix:         "# apiguard config: guards.errors {server_errors: always, client_errors: signatures}   # replaces 5xx bodies, scrubs stack traces",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				var codes []string
				for c := range op.Responses {
					if strings.HasPrefix(c, "4") || strings.HasPrefix(c, "5") || c == "DEFAULT" {
						codes = append(codes, c)
					}
				}
				sort.Strings(codes)
				for _, c := range codes {
					schemas, ptrs := ResponseSchemas(op.Responses[c], op.Pointer+"/responses/"+c)
					for i, s := range schemas {
						d.WalkResolved(s, ptrs[i], func(n *yaml.Node, ptr Ptr, prop string) {
							if prop != "" && nameIn(prop, debugNames) {
								hits = append(hits, Hit{Node: n, Pointer: ptr.String(), Operation: op.ID, Evidence: prop + " in the " + strings.ToLower(c) + " answer"})
							}
						})
					}
				}
			}
			return dedupe(hits)
		},
	})
}
