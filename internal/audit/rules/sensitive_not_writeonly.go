package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// secretNames are properties that hold a secret the server must never
// send back.
var secretNames = set("password", "passwd", "newPassword", "oldPassword", "currentPassword", "pin", "secret", "clientSecret", "client_secret", "apiSecret", "privateKey", "private_key", "cvv", "cvc", "securityAnswer")

func init() {
	register(&Rule{
		ID: "audit.secret-not-writeonly", Title: "Secret property not writeOnly", Category: "API3", Severity: report.Medium, Scope: ScopeItems,
		Description: "A property named like a secret (password, pin, clientSecret, cvv...) is not writeOnly: the same schema may be used in answers and return it.",
		Remediation: "Mark secrets writeOnly: true (and format: password), or use separate request and response schemas.",
		Fix:         "password: {type: string, format: password, writeOnly: true, maxLength: 128}\n# apiguard config: guards.dlp masks secrets that still leak in answers",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, r SchemaRoot) string {
				if prop != "" && nameIn(prop, secretNames) && Str(s, "writeOnly") != "true" {
					return prop + " is not writeOnly"
				}
				return ""
			})
		},
	})
}
