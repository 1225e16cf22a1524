package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// weakSecret signs an identity's claims with HS256 and common weak
// secrets.
type weakSecret struct{ checkMeta }

func newWeakSecret() scan.Check {
	return weakSecret{checkMeta{
		name: "scan.auth.weak_jwt_secret", category: "API2", severity: report.Critical,
		title:       "HS256 tokens signed with a common weak secret are accepted",
		description: "A token signed with HS256 and a well-known weak secret is accepted: anyone can mint tokens for any subject.",
		remediation: "Use asymmetric signatures (ES256, RS256) or a random HMAC secret of at least 256 bits; rotate the secret.",
	}}
}

// weakSecrets are tried in order (a bounded list).
var weakSecrets = []string{"secret", "password", "changeme", "your-256-bit-secret", "secretkey", "jwt_secret", "jwt-secret", "key", "test", "admin", "123456", "default"}

func (c weakSecret) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	header, claims, _, ok := p.jwt()
	if !ok {
		return nil
	}
	h := copyMap(header)
	delete(h, "kid")
	secrets := append([]string(nil), weakSecrets...)
	if t := strings.ToLower(strings.Fields(s.Spec.Title + " x")[0]); t != "x" {
		secrets = append(secrets, t)
	}
	for _, sec := range secrets {
		r, err := p.try(ctx, s, signHS256(h, claims, []byte(sec)))
		if err != nil {
			return err
		}
		if p.accepted(r) {
			s.Report(scan.Finding{
				Title:    fmt.Sprintf("HS256 tokens signed with the secret %q are accepted", sec),
				Evidence: fmt.Sprintf("%s's claims signed with HS256 and %q: %d, the same answer as the real token", p.ID.Name, sec, r.Status),
				Exchange: r,
			})
			return nil
		}
		if r.Status == 429 {
			return nil
		}
	}
	return nil
}
