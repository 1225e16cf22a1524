package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

var privilegedNames = set("role", "roles", "isAdmin", "admin", "is_admin", "isSuperuser", "superuser", "is_staff", "isStaff", "permissions", "permission", "scopes", "groups", "balance", "credit", "credits", "verified", "isVerified", "emailVerified", "approved", "ownerId", "owner_id", "owner", "userId", "accountType", "plan", "tier", "privileges", "status")

func init() {
	register(&Rule{
		ID: "audit.privileged-property-writable", Title: "Privilege-looking property accepted on writes", Category: "API3", Severity: report.High, Scope: ScopeItems,
		Description: "A request body accepts a property that looks privileged (role, isAdmin, balance, permissions, ownerId...) and is not readOnly: a client may grant itself rights (mass assignment).",
		Remediation: "Mark such properties readOnly: true, or remove them from request schemas and set them server-side.",
		Fix:         "role: {type: string, readOnly: true}\nx-apiguard-write-roles: [admin]   # on the property: only admins may write it (guards.authz property filter)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.Body == nil {
					continue
				}
				schemas, ptrs := BodySchemas(op)
				for i, s := range schemas {
					d.WalkResolved(s, ptrs[i], func(n *yaml.Node, ptr Ptr, prop string) {
						if prop != "" && nameIn(prop, privilegedNames) && Str(n, "readOnly") != "true" && !Has(n, "x-apiguard-write-roles") {
							hits = append(hits, Hit{Node: n, Pointer: ptr.String(), Operation: op.ID, Evidence: "writable " + prop + " in " + op.ID})
						}
					})
				}
			}
			return dedupe(hits)
		},
	})
}
