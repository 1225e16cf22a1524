package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.oauth2-password-flow", Title: "OAuth 2.0 resource owner password flow", Category: "API2", Severity: report.Medium, Scope: ScopeDocument,
		Description: "The password flow hands the user's password to the client; RFC 9700 forbids it, and it defeats MFA and phishing protection.",
		Remediation: "Use the authorization code flow with PKCE (users) or client credentials (machines).",
		Fix:         "flows:\n  authorizationCode: {...}   # or clientCredentials for machine clients",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if Str(s, "type") == "oauth2" && Has(Get(s, "flows"), "password") {
					return name + " allows the password flow"
				}
				return ""
			})
		},
	})
}
