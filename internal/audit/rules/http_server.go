package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.http-server", Title: "Server URL over plain HTTP", Category: "API8", Severity: report.High, Scope: ScopeDocument,
		Description: "A server URL uses http:// (not loopback): credentials and data travel in clear text and can be changed in transit.",
		Remediation: "Serve the API over HTTPS only and list https:// servers.",
		Fix:         "servers: [{url: https://api.example.com}]\n# apiguard config: listeners[].tls (and guards.headers.hsts)",
		Check: func(d *Doc) []Hit {
			return serverHits(d, func(u string, _ *yaml.Node) string {
				if insecureURL(u) {
					return u
				}
				return ""
			})
		},
	})
}
