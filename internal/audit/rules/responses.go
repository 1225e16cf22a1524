package rules

import (
	"github.com/apiguard/apiguard/internal/report"
)

// missingResponse builds a rule that fires for operations selected by
// want that document none of codes.
func missingResponse(id, title, cat string, sev report.Severity, desc, rem, fix string, def bool, want func(op *Op) bool, codes ...string) *Rule {
	return &Rule{
		ID: id, Title: title, Category: cat, Severity: sev, Scope: ScopeItems,
		Description: desc, Remediation: rem, Fix: fix,
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.ResponsesNode == nil || !want(op) || op.hasCode(def, codes...) {
					continue
				}
				hits = append(hits, opHit(op, op.ResponsesNode, op.Pointer+"/responses", "no "+codes[0]+" response"))
			}
			return hits
		},
	}
}
