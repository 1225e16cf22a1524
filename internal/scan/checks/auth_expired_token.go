package checks

import (
	"context"
	"fmt"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// expiredTokenCheck uses a token past its exp (minted through a
// client-chosen lifetime, see scan.auth.client_token_lifetime) on the
// token probe operation.
type expiredTokenCheck struct{ checkMeta }

func newExpiredToken() scan.Check {
	return expiredTokenCheck{checkMeta{
		name: "scan.auth.expired_token", category: "API2", severity: report.High,
		title:       "Expired tokens are accepted",
		description: "A token whose exp lies in the past is accepted: stolen or leaked tokens never stop working. The scan needs an expired token; it gets one when the login lets the client choose the lifetime, and otherwise cannot test this within a short run.",
		remediation: "Validate exp (and nbf, iss, aud) on every request (apiguard: authn.jwt checks them, with a small clock skew).",
	}}
}

func (c expiredTokenCheck) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	res, err := mintExpired(ctx, s)
	if err != nil || res == nil {
		return err
	}
	// the probe's request built for its own identity; the expired token
	// belongs to res.id, so ask as that identity if it differs
	probe := p
	if res.id != p.ID {
		return nil
	}
	r, err := probe.try(ctx, s, res.token)
	if err != nil {
		return err
	}
	if probe.accepted(r) {
		s.Report(scan.Finding{
			Title:    "A token past its expiry is accepted",
			Evidence: fmt.Sprintf("%s's token that expired before it was issued (%s): %d, the same answer as a valid token", res.id.Name, res.evidence, r.Status),
			Exchange: r,
			Steps:    []*scan.Response{res.login},
		})
	}
	return nil
}
