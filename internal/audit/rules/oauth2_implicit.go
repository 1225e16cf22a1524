package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.oauth2-implicit-flow", Title: "OAuth 2.0 implicit flow", Category: "API2", Severity: report.High, Scope: ScopeDocument,
		Description: "The implicit flow returns access tokens in the URL fragment; OAuth 2.0 Security BCP (RFC 9700) forbids it.",
		Remediation: "Use the authorization code flow with PKCE.",
		Fix:         "flows:\n  authorizationCode: {authorizationUrl: https://..., tokenUrl: https://..., scopes: {...}}",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if Str(s, "type") == "oauth2" && Has(Get(s, "flows"), "implicit") {
					return name + " allows the implicit flow"
				}
				return ""
			})
		},
	})
}
