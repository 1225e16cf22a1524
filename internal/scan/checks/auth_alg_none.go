package checks

import (
	"context"
	"fmt"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// algNone sends an identity's claims in an unsigned token (alg "none",
// empty signature) and reports it when the API answers as it answers the
// real token.
type algNone struct{ checkMeta }

func newAlgNone() scan.Check {
	return algNone{checkMeta{
		name: "scan.auth.alg_none", category: "API2", severity: report.Critical,
		title:       "Unsigned tokens (alg none) are accepted",
		description: "A JWT with alg \"none\" and no signature is accepted: anyone can write their own claims (subject, roles) and act as any user or admin.",
		remediation: "Verify every token's signature with an allow-list of algorithms that never contains none (apiguard: authn.jwt.algorithms).",
	}}
}

func (c algNone) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	header, claims, _, ok := p.jwt()
	if !ok {
		return nil
	}
	for _, alg := range []string{"none", "None", "NONE"} {
		h := copyMap(header)
		h["alg"] = alg
		delete(h, "kid")
		tok := scan.EncodeJWTPart(h) + "." + scan.EncodeJWTPart(claims) + "."
		r, err := p.try(ctx, s, tok)
		if err != nil {
			return err
		}
		if p.accepted(r) {
			s.Report(scan.Finding{
				Title:    "An unsigned token (alg " + alg + ") is accepted",
				Evidence: fmt.Sprintf("%s's claims in a token with alg %q and no signature: %d, the same answer as %s's real token", p.ID.Name, alg, r.Status, p.ID.Name),
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
