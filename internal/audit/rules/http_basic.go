package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.http-basic", Title: "HTTP Basic authentication", Category: "API2", Severity: report.Medium, Scope: ScopeDocument,
		Description: "HTTP Basic sends a long-lived password with every request, base64-encoded; it cannot expire, be scoped or be revoked per client.",
		Remediation: "Use tokens (OAuth 2.0, OpenID Connect, signed JWTs) or at least per-client API keys in a header.",
		Fix:         "components.securitySchemes.<name>: {type: http, scheme: bearer, bearerFormat: JWT}\n# apiguard config: guards.authn.jwt, or guards.authn.apikey with hashed keys",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if httpScheme(s) == "basic" {
					return name + " is http basic"
				}
				return ""
			})
		},
	})
}
