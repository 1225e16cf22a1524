package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.http-digest", Title: "HTTP Digest authentication", Category: "API2", Severity: report.Medium, Scope: ScopeDocument,
		Description: "HTTP Digest relies on MD5 and shared passwords stored server-side in a recoverable form.",
		Remediation: "Use bearer tokens (OAuth 2.0 / OpenID Connect) instead.",
		Fix:         "components.securitySchemes.<name>: {type: http, scheme: bearer, bearerFormat: JWT}",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if httpScheme(s) == "digest" {
					return name + " is http digest"
				}
				return ""
			})
		},
	})
}
