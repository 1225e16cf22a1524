package rules

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.auth-url-insecure", Title: "OAuth / OpenID Connect URL over plain HTTP", Category: "API2", Severity: report.High, Scope: ScopeDocument,
		Description: "An authorizationUrl, tokenUrl, refreshUrl or openIdConnectUrl uses http://: codes, tokens and client secrets travel in clear text.",
		Remediation: "Use https:// for every authorization server URL.",
		Fix:         "tokenUrl: https://auth.example.com/oauth/token\n# apiguard config: guards.authn.jwt.jwks_url must be https",
		Check: func(d *Doc) []Hit {
			return schemeHits(d, func(name string, s *yaml.Node) string {
				if u := Str(s, "openIdConnectUrl"); insecureURL(u) {
					return name + " openIdConnectUrl " + u
				}
				flows := Get(s, "flows")
				if flows == nil || flows.Kind != yaml.MappingNode {
					return ""
				}
				for i := 0; i+1 < len(flows.Content); i += 2 {
					for _, k := range []string{"authorizationUrl", "tokenUrl", "refreshUrl"} {
						if u := Str(flows.Content[i+1], k); insecureURL(u) {
							return name + " " + flows.Content[i].Value + "." + k + " " + u
						}
					}
				}
				return ""
			})
		},
	})
}

// insecureURL reports an http:// URL whose host is not loopback.
func insecureURL(u string) bool {
	l := strings.ToLower(u)
	if !strings.HasPrefix(l, "http://") {
		return false
	}
	host := strings.TrimPrefix(l, "http://")
	for _, lo := range []string{"localhost", "127.", "[::1]"} {
		if strings.HasPrefix(host, lo) {
			return false
		}
	}
	return true
}
