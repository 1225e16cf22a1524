package checks

import (
	"context"
	"fmt"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// tamperedToken changes an identity's token claims and keeps the
// original signature.
type tamperedToken struct{ checkMeta }

func newTamperedToken() scan.Check {
	return tamperedToken{checkMeta{
		name: "scan.auth.tampered_token", category: "API2", severity: report.Critical,
		title:       "Tokens with altered claims are accepted",
		description: "A JWT whose claims were changed after signing (the signature no longer matches) is accepted: anyone holding one token can rewrite its subject, roles or expiry.",
		remediation: "Verify the signature over the header and claims as received (apiguard: authn.jwt).",
	}}
}

func (c tamperedToken) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	header, claims, sig, ok := p.jwt()
	if !ok || sig == "" {
		return nil
	}
	changed := copyMap(claims)
	changed["apiguard_scan"] = "tampered"
	if jti, ok := changed["jti"].(string); ok {
		changed["jti"] = jti + "-tampered"
	}
	tok := scan.EncodeJWTPart(header) + "." + scan.EncodeJWTPart(changed) + "." + sig
	r, err := p.try(ctx, s, tok)
	if err != nil {
		return err
	}
	if p.accepted(r) {
		s.Report(scan.Finding{
			Title:    "A token with altered claims and the original signature is accepted",
			Evidence: fmt.Sprintf("%s's token with a claim added after signing: %d, the same answer as the real token", p.ID.Name, r.Status),
			Exchange: r,
		})
	}
	return nil
}
