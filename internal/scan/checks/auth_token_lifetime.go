package checks

import (
	"context"
	"fmt"
	"time"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// tokenLifetime asks the login operation for a token with a lifetime the
// client chooses (an undocumented expires_in and similar), and reports
// when the answer's token honours it.
type tokenLifetime struct{ checkMeta }

func newTokenLifetime() scan.Check {
	return tokenLifetime{checkMeta{
		name: "scan.auth.client_token_lifetime", category: "API2", severity: report.High,
		title:       "The client chooses its token's lifetime at login",
		description: "The login operation takes a lifetime from the request (an undocumented member such as expires_in) and issues tokens that live as long as the caller wants, including already expired or never-ending ones.",
		remediation: "Ignore or refuse unknown login members and fix token lifetimes on the server (apiguard: the schema guard refuses undocumented members; authn.jwt.max_lifetime caps what is accepted).",
	}}
}

// lifetimeFields are the login members tried, in order.
var lifetimeFields = []string{"expires_in", "expiresIn"}

// expiredToken is what the lifetime probe minted: a token already past
// its exp, the login that minted it, and who it belongs to.
type expiredToken struct {
	token string
	login *scan.Response
	id    *scan.Identity
}

func (c tokenLifetime) Run(ctx context.Context, s *scan.Session) error {
	res, err := mintExpired(ctx, s)
	if err != nil || res == nil {
		return err
	}
	s.Report(scan.Finding{
		Title:    "Login issues a token with the lifetime the client asked for (" + res.field + ")",
		Evidence: res.evidence,
		Exchange: res.login,
	})
	return nil
}

type lifetimeResult struct {
	expiredToken
	field, evidence string
}

// mintExpired logs the first user with a password in again with a
// negative lifetime member; it returns nil when no member is honoured.
// It runs once per session (the expired-token check reuses it).
func mintExpired(ctx context.Context, s *scan.Session) (*lifetimeResult, error) {
	type memo struct {
		res *lifetimeResult
		err error
	}
	v := s.Memo("checks.expired_token", func() any {
		if s.LoginOp == nil {
			return memo{}
		}
		var id *scan.Identity
		for _, u := range s.Users() {
			if u.Password != "" {
				id = u
				break
			}
		}
		if id == nil {
			return memo{}
		}
		for _, field := range lifetimeFields {
			if s.LoginOp.Body != nil && s.LoginOp.Body.Prop(field) != nil {
				continue // documented: choosing it is intended
			}
			r, err := s.Do(ctx, s.Anonymous(), s.LoginRequest(id.Username, id.Password, map[string]any{field: -3600}))
			if err != nil {
				return memo{err: err}
			}
			if r.Status == 429 {
				return memo{}
			}
			if !r.OK() {
				continue
			}
			tok := s.TokenFrom(r)
			if tok == "" {
				continue
			}
			s.AddSecret(tok, id.TokenVar()+"_EXPIRED")
			_, claims, sig, ok := jwtParts(tok)
			if ok {
				s.AddSecret(sig, id.TokenVar()+"_EXPIRED_SIG")
			}
			exp, hasExp := claimTime(claims, "exp")
			iat, hasIat := claimTime(claims, "iat")
			answered, _ := r.Object()[field].(float64)
			expired := hasExp && exp.Before(time.Now()) || hasExp && hasIat && exp.Before(iat) || answered < 0
			if !expired {
				continue
			}
			ev := fmt.Sprintf("login with %q: -3600 answered %d with a token", field, r.Status)
			if hasExp {
				ev += fmt.Sprintf(" whose exp is %s", exp.UTC().Format(time.RFC3339))
				if hasIat {
					ev += fmt.Sprintf(", %s before its iat", iat.Sub(exp))
				}
			}
			if answered != 0 {
				ev += fmt.Sprintf("; the answer says %s %v", field, answered)
			}
			return memo{res: &lifetimeResult{expiredToken: expiredToken{token: tok, login: r, id: id}, field: field, evidence: ev}}
		}
		return memo{}
	})
	m := v.(memo)
	return m.res, m.err
}

// claimTime reads a NumericDate claim.
func claimTime(claims map[string]any, name string) (time.Time, bool) {
	f, ok := claims[name].(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
