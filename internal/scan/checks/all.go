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
		// API8: misconfiguration, then injection (filed under API8)
		newMisconfig(),
		newInjection(),
		// API9: undocumented paths and versions, deprecated operations
		newInventory(),
		// API7, API10: the target calls the scan's canary
		newSSRF(),
		newConsumption(),
		// API6: business flows (quota burst, amounts)
		newFlows(),
		// API4: page size, body size, then the rate-limit burst (it may
		// spend the last user's request budget at the target)
		newResource(),
		// keep last: wrong-password logins may lock the probed user out
		newNoLockout(),
	}
}
