// Package checks holds the checks of `apiguard scan`, one file per check,
// each tagged with its OWASP API Security Top 10 (2023) category.
package checks

import "github.com/apiguard/apiguard/internal/scan"

// All returns every check in the order the scan runs them. Keep one entry
// per line. Checks that log in with wrong passwords (the lockout probe)
// stay last: they may lock the probed user out of later logins.
func All() []scan.Check {
	return []scan.Check{
		// API2: authentication (the token checks share one probe operation)
		newUnauthenticated(),
		newAlgNone(),
		newStrippedSignature(),
		newTamperedToken(),
		newKeyConfusion(),
		newWeakSecret(),
		newCredentialsInURL(),
		newTokenLifetime(),
		newExpiredToken(),
		// API1, API5: authorization across identities
		newBOLA(),
		newBFLA(),
		newMethodSwitch(),
		// API3: mass assignment (restores what it changed), then the
		// passive exposure check over every answer so far
		newMassAssignment(),
		newDataExposure(),
		// S2 checks: API4, API6, API7, API8, API9, API10, injection.
		// keep last: wrong-password logins may lock the probed user out
		newNoLockout(),
	}
}
