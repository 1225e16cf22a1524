package rules

import (
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

// isAdminPath reports a path with an admin-looking segment.
func isAdminPath(p string) bool {
	for _, seg := range strings.Split(strings.ToLower(p), "/") {
		switch seg {
		case "admin", "admins", "administration", "administrator", "manage", "management", "internal-admin", "superuser", "sudo":
			return true
		}
	}
	return false
}

// reqKey is a requirement list written canonically, scopes included.
func reqKey(rs []Requirement) string {
	var parts []string
	for _, r := range rs {
		var us []string
		for _, u := range r {
			sc := append([]string(nil), u.Scopes...)
			sort.Strings(sc)
			us = append(us, u.Name+"["+strings.Join(sc, ",")+"]")
		}
		sort.Strings(us)
		parts = append(parts, strings.Join(us, "+"))
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}

func init() {
	register(&Rule{
		ID: "audit.admin-shared-scheme", Title: "Admin operation uses the same security as user operations", Category: "API5", Severity: report.High, Scope: ScopeItems,
		Description: "An admin-looking path (/admin/...) requires exactly the same scheme and scopes as ordinary operations and states no role: any user token probably works on it (broken function-level authorization).",
		Remediation: "Protect admin operations with a distinct scheme, admin scopes or an explicit role check.",
		Fix:         "x-apiguard-roles: [admin]   # guards.authz function-level check",
		Check: func(d *Doc) []Hit {
			user := map[string]bool{}
			for _, op := range d.Ops {
				if !isAdminPath(op.Template) && op.Secured() {
					user[reqKey(op.Security)] = true
				}
			}
			var hits []Hit
			for _, op := range d.Ops {
				if !isAdminPath(op.Template) || op.Extensions["x-apiguard-roles"] != nil {
					continue
				}
				if !op.Secured() || user[reqKey(op.Security)] {
					hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template+" shares the user security ("+reqKey(op.Security)+")"))
				}
			}
			return hits
		},
	})
}
