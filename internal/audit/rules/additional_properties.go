package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// isObject reports a schema describing an object.
func isObject(s *yaml.Node) bool {
	return IsType(s, "object") || (Types(s) == nil && Has(s, "properties"))
}

// closed reports an object schema that refuses unknown properties.
func closed(s *yaml.Node) bool {
	ap := Get(s, "additionalProperties")
	up := Get(s, "unevaluatedProperties")
	return (ap != nil && ap.Value == "false") || (up != nil && up.Value == "false")
}

func init() {
	register(&Rule{
		ID: "audit.additional-properties", Title: "Request body accepts undeclared properties", Category: "API3", Severity: report.Medium, Scope: ScopeItems,
		Description: "An object in a request body does not set additionalProperties: false: clients may send fields the schema does not list, the classic mass-assignment path (role, isAdmin, ownerId).",
		Remediation: "Set additionalProperties: false (or unevaluatedProperties: false in 3.1) on request objects.",
		Fix:         "additionalProperties: false\n# apiguard config: guards.schema.strict: true (missing additionalProperties = false)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.Body == nil {
					continue
				}
				schemas, ptrs := BodySchemas(op)
				for i, s := range schemas {
					d.WalkResolved(s, ptrs[i], func(n *yaml.Node, ptr Ptr, prop string) {
						if isObject(n) && Has(n, "properties") && !closed(n) && !Has(n, "allOf") {
							hits = append(hits, Hit{Node: n, Pointer: ptr.String(), Operation: op.ID, Evidence: "object " + prop + " is open"})
						}
					})
				}
			}
			return dedupe(hits)
		},
	})
}

// dedupe keeps the first hit per pointer.
func dedupe(hits []Hit) []Hit {
	seen := map[string]bool{}
	out := hits[:0]
	for _, h := range hits {
		if !seen[h.Pointer] {
			seen[h.Pointer] = true
			out = append(out, h)
		}
	}
	return out
}
