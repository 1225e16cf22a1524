package rules

import "github.com/apiguard/apiguard/internal/report"

func init() {
	register(&Rule{
		ID: "audit.no-security-schemes", Title: "No security schemes defined", Category: "API2", Severity: report.High, Scope: ScopeDocument,
		Description: "components.securitySchemes is empty: the description says nothing about authentication, so every operation looks public and no gateway or client can enforce credentials.",
		Remediation: "Declare how clients authenticate in components.securitySchemes (http bearer, oauth2, apiKey in a header) and require it in a global security list.",
		Fix:         "components:\n  securitySchemes:\n    bearer: {type: http, scheme: bearer, bearerFormat: JWT}\nsecurity: [{bearer: []}]\n# apiguard config: guards.authn.jwt {issuer, jwks_url, audience}",
		Check: func(d *Doc) []Hit {
			if len(d.Schemes) > 0 || len(d.Ops) == 0 {
				return nil
			}
			n := Get(d.Root, "components")
			if n == nil {
				n = d.Root
			}
			return []Hit{{Node: n, Pointer: "/components/securitySchemes", Evidence: "no security scheme"}}
		},
	})
}
