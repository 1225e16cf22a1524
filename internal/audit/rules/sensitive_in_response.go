package rules

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// sensitiveNames are data that answers should not carry.
var sensitiveNames = set("password", "passwd", "passwordHash", "password_hash", "hashedPassword", "pwdHash", "salt", "ssn", "socialSecurityNumber", "taxId", "cardNumber", "card_number", "creditCardNumber", "pan", "cvv", "cvc", "pin", "secret", "clientSecret", "client_secret", "privateKey", "private_key", "mfaSecret", "totpSecret", "securityAnswer", "dateOfBirth", "dob")

func init() {
	register(&Rule{
		ID: "audit.sensitive-data-in-response", Title: "Sensitive field in a response", Category: "API3", Severity: report.High, Scope: ScopeItems,
		Description: "A success response schema contains a field that looks sensitive (password hash, SSN, card number, secret...) and is not writeOnly: excessive data exposure.",
		Remediation: "Remove the field from answers, or mark it writeOnly; return masked values where needed.",
		Fix:         "x-apiguard-read-roles: [admin]   # on the property: removed from answers for everyone else (guards.authz)\n# apiguard config: guards.dlp {fields: {ssn: mask, password_hash: mask}}",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				codes := make([]string, 0, len(op.Responses))
				for c := range op.Responses {
					if strings.HasPrefix(c, "2") {
						codes = append(codes, c)
					}
				}
				sort.Strings(codes)
				for _, c := range codes {
					schemas, ptrs := ResponseSchemas(op.Responses[c], op.Pointer+"/responses/"+c)
					for i, s := range schemas {
						d.WalkResolved(s, ptrs[i], func(n *yaml.Node, ptr Ptr, prop string) {
							if prop != "" && nameIn(prop, sensitiveNames) && Str(n, "writeOnly") != "true" && !Has(n, "x-apiguard-read-roles") {
								hits = append(hits, Hit{Node: n, Pointer: ptr.String(), Operation: op.ID, Evidence: prop + " in the " + c + " answer of " + op.ID})
							}
						})
					}
				}
			}
			return dedupe(hits)
		},
	})
}
