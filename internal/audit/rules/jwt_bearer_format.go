package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.bearer-format-missing", Title: "Bearer scheme without bearerFormat", Category: "API2", Severity: report.Low, Scope: ScopeDocument,
		Description: "An http bearer scheme does not say what the token is (bearerFormat: JWT or opaque), so clients, scanners and the gateway cannot validate it properly.",
		Remediation: "Set bearerFormat (e.g. JWT) and document the issuer and audience.",
		Fix:         "components.securitySchemes.<name>: {type: http, scheme: bearer, bearerFormat: JWT}\n# apiguard config: guards.authn.jwt {issuer, audience, jwks_url, algorithms: [RS256]}",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if httpScheme(s) == "bearer" && Str(s, "bearerFormat") == "" {
					return name + " has no bearerFormat"
				}
				return ""
			})
		},
	})
}
