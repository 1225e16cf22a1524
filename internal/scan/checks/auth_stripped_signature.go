package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// strippedSignature sends an identity's token without its signature.
type strippedSignature struct{ checkMeta }

func newStrippedSignature() scan.Check {
	return strippedSignature{checkMeta{
		name: "scan.auth.stripped_signature", category: "API2", severity: report.Critical,
		title:       "Tokens without a signature are accepted",
		description: "A JWT whose signature was removed (header and claims unchanged) is accepted: the API does not verify signatures.",
		remediation: "Verify the signature of every token before reading its claims (apiguard: authn.jwt).",
	}}
}

func (c strippedSignature) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	if _, _, _, ok := p.jwt(); !ok {
		return nil
	}
	tok := p.ID.Token[:strings.LastIndexByte(p.ID.Token, '.')+1]
	r, err := p.try(ctx, s, tok)
	if err != nil {
		return err
	}
	if p.accepted(r) {
		s.Report(scan.Finding{
			Title:    "A token with its signature removed is accepted",
			Evidence: fmt.Sprintf("%s's token without its signature: %d, the same answer as with it", p.ID.Name, r.Status),
			Exchange: r,
		})
	}
	return nil
}
