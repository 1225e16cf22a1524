package checks

import (
	"context"
	"fmt"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// unauthenticated calls, without credentials, every safe operation that
// the spec says needs them, and reports those that answer an anonymous
// caller with the data they give an identity.
type unauthenticated struct{ checkMeta }

func newUnauthenticated() scan.Check {
	return unauthenticated{checkMeta{
		name: "scan.auth.unauthenticated", category: "API2", severity: report.High,
		title:       "Operation answers without credentials although the spec requires them",
		description: "The operation declares a security requirement, yet an anonymous request gets the same 2xx answer as an authenticated identity: anyone can call it.",
		remediation: "Authenticate every operation that declares security (apiguard: authn guard on the API; the spec's security is enforced per operation).",
	}}
}

func (c unauthenticated) Run(ctx context.Context, s *scan.Session) error {
	for _, op := range s.Ops {
		if op.Unsafe() || !op.Secured() || op == s.LoginOp {
			continue
		}
		for _, id := range s.Identities() {
			req, err := s.Build(op, id)
			if err != nil {
				continue
			}
			base, err := s.Do(ctx, id, req)
			if err != nil {
				return err
			}
			if !base.OK() {
				continue
			}
			anon, err := s.Do(ctx, s.Anonymous(), req)
			if err != nil {
				return err
			}
			if scan.SameData(base, anon) {
				s.Report(scan.Finding{
					Title:    fmt.Sprintf("%s %s answers anonymous callers", op.Method, op.Path),
					Evidence: fmt.Sprintf("without credentials: %d with %d bytes, the same data as %s's answer (%d); the spec requires %v", anon.Status, len(anon.Body), id.Name, base.Status, op.Security),
					Exchange: anon,
				})
			}
			break
		}
	}
	return nil
}
