package rules

import (
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.deprecated-without-sunset", Title: "Deprecated operation without a sunset", Category: "API9", Severity: report.Medium, Scope: ScopeItems,
		Description: "A deprecated operation gives no removal date (x-sunset, a Sunset header): zombie endpoints stay live and unmaintained indefinitely.",
		Remediation: "State when the operation goes away (x-sunset date, Sunset response header) and remove it then.",
		Fix:         "x-sunset: 2027-06-30   # audit marker; or document a Sunset response header\n# apiguard config: guards.authz.deprecated_operation: deny (410) or monitor",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if !op.Deprecated || op.Extensions["x-sunset"] != nil || op.Extensions["x-apiguard-sunset"] != nil {
					continue
				}
				sunset := false
				for _, r := range op.Responses {
					h := Get(r, "headers")
					for i := 0; h != nil && i < len(h.Content); i += 2 {
						if strings.EqualFold(h.Content[i].Value, "Sunset") {
							sunset = true
						}
					}
				}
				if !sunset {
					hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template+" is deprecated with no sunset"))
				}
			}
			return hits
		},
	})
}
