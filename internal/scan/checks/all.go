// Package checks holds the checks of `apiguard scan`, one file per check,
// each tagged with its OWASP API Security Top 10 (2023) category.
package checks

import "github.com/apiguard/apiguard/internal/scan"

// All returns every check in the order the scan runs them. Keep one entry
// per line. Checks that log in with wrong passwords (the lockout probe)
// stay last: they may lock the probed user out of later logins.
func All() []scan.Check {
	return []scan.Check{
		// S1 (engine) checks: API1, API2, API3, API5.
		// S2 checks: API4, API6, API7, API8, API9, API10, injection.
		// keep last:
	}
}
