package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.apikey-in-query", Title: "API key sent in the query string", Category: "API2", Severity: report.High, Scope: ScopeDocument,
		Description: "An apiKey scheme with in: query puts the secret in URLs, which end up in access logs, proxies, browser history and Referer headers.",
		Remediation: "Send API keys in a header (in: header).",
		Fix:         "components.securitySchemes.<name>: {type: apiKey, in: header, name: X-API-Key}\n# apiguard config: guards.authn.apikey.header: X-API-Key",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if Str(s, "type") == "apiKey" && Str(s, "in") == "query" {
					return name + " reads the key from query parameter " + Str(s, "name")
				}
				return ""
			})
		},
	})
}
