package rules

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// expectedFormat returns the format a property name suggests, or "".
func expectedFormat(prop string) string {
	n := norm(prop)
	switch {
	case n == "email" || strings.HasSuffix(n, "email") || strings.HasSuffix(n, "emailaddress"):
		return "email"
	case strings.HasSuffix(n, "url") || strings.HasSuffix(n, "uri") || n == "website" || n == "homepage":
		return "uri"
	case n == "date" || strings.HasSuffix(n, "date") || n == "birthday":
		return "date"
	case strings.HasSuffix(n, "at") && (strings.HasSuffix(n, "createdat") || strings.HasSuffix(n, "updatedat") || strings.HasSuffix(n, "deletedat") || strings.HasSuffix(n, "expiresat")), n == "timestamp":
		return "date-time"
	case n == "uuid" || strings.HasSuffix(n, "uuid"):
		return "uuid"
	}
	return ""
}

func init() {
	register(&Rule{
		ID: "audit.string-format-missing", Title: "String named like an email, URL or date without format", Category: "API8", Severity: report.Info, Scope: ScopeItems,
		Description: "A string property is named like an email, URL, date or UUID but declares no format (nor pattern/enum): any text is valid input, which widens injection and SSRF surfaces.",
		Remediation: "Declare the format (email, uri, date, date-time, uuid) or a pattern.",
		Fix:         "email: {type: string, format: email, maxLength: 254}\n# validated by guards.schema",
		Check: func(d *Doc) []Hit {
			return schemaHits(d, func(s *yaml.Node, prop string, _ SchemaRoot) string {
				if prop == "" || !IsType(s, "string") || Has(s, "format") || Has(s, "pattern") || bounded(s) {
					return ""
				}
				if f := expectedFormat(prop); f != "" {
					return prop + " has no format (" + f + ")"
				}
				return ""
			})
		},
	})
}
