package rules

import (
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.cors-undefined", Title: "No CORS policy described", Category: "API8", Severity: report.Low, Scope: ScopeDocument,
		Description: "No response documents Access-Control-Allow-Origin and no OPTIONS operation exists: the cross-origin policy is unspecified, and servers then often reflect any origin.",
		Remediation: "Decide the allowed origins; document Access-Control-Allow-Origin on responses (or state that no cross-origin access is allowed).",
		Fix:         "# apiguard config: guards.headers.cors {origins: [https://app.example.com], credentials: false}\nx-apiguard-cors: none   # top level audit marker: no browser origin may call the API (apiguard's default)",
		Check: func(d *Doc) []Hit {
			if len(d.Ops) == 0 || Has(d.Root, "x-apiguard-cors") {
				return nil
			}
			for _, op := range d.Ops {
				if op.Method == "OPTIONS" {
					return nil
				}
				for _, r := range op.Responses {
					h := Get(r, "headers")
					if h == nil {
						continue
					}
					for i := 0; i < len(h.Content); i += 2 {
						if strings.EqualFold(h.Content[i].Value, "Access-Control-Allow-Origin") {
							return nil
						}
					}
				}
			}
			return []Hit{{Node: d.Root, Pointer: "", Evidence: "no Access-Control-Allow-Origin header documented"}}
		},
	})
}
