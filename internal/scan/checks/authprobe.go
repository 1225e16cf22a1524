package checks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/scan"
)

// authProbe is an operation that answers a user's token with that user's
// data and refuses anonymous callers: tokens forged by the API2 checks are
// tried on it, and "accepted" means the same answer as the real token.
type authProbe struct {
	// ID is the identity whose token is forged; Req the probe request
	// (without credentials); Base the answer to ID's real token.
	ID   *scan.Identity
	Req  *scan.Request
	Base *scan.Response
	// Header is the header that carries the token; Prefix what precedes
	// the token in it ("Bearer ").
	Header, Prefix string
}

// findAuthProbe returns the session's token probe, computing it once: the
// first secured, non-admin GET that a user with a JWT can call with its
// own objects, that answers 2xx JSON to the user and refuses anonymous
// callers. nil when there is none (no JWT identity, or every secured
// operation answers anonymous callers).
func findAuthProbe(ctx context.Context, s *scan.Session) *authProbe {
	v := s.Memo("checks.authprobe", func() any {
		for _, id := range s.Users() {
			if id.Token == "" {
				continue
			}
			header, prefix := tokenPlacement(id)
			if header == "" {
				continue
			}
			for _, op := range s.Ops {
				if op.Method != http.MethodGet || !op.Secured() || scan.AdminLooking(op) || op.Deprecated {
					continue
				}
				req, err := s.Build(op, id)
				if err != nil {
					continue
				}
				base, err := s.Do(ctx, id, req)
				if err != nil {
					return (*authProbe)(nil)
				}
				if !base.OK() || base.JSON() == nil || !scan.SameData(base, base) {
					continue
				}
				anon, err := s.Do(ctx, s.Anonymous(), req)
				if err != nil {
					return (*authProbe)(nil)
				}
				if anon.OK() {
					continue
				}
				return &authProbe{ID: id, Req: req, Base: base, Header: header, Prefix: prefix}
			}
		}
		return (*authProbe)(nil)
	})
	p, _ := v.(*authProbe)
	return p
}

// tokenPlacement returns the header that carries id's token and the text
// before the token in it.
func tokenPlacement(id *scan.Identity) (header, prefix string) {
	for k, vs := range id.Header {
		for _, v := range vs {
			if i := strings.Index(v, id.Token); i >= 0 {
				return k, v[:i]
			}
		}
	}
	return "", ""
}

// try sends the probe with token in place of the real one.
func (p *authProbe) try(ctx context.Context, s *scan.Session, token string) (*scan.Response, error) {
	req := p.Req.Clone()
	req.NoAuth = true
	req.Header.Set(p.Header, p.Prefix+token)
	return s.Do(ctx, s.Anonymous(), req)
}

// accepted reports whether r is the probe's answer to the real token.
func (p *authProbe) accepted(r *scan.Response) bool {
	return r != nil && r.OK() && scan.SameData(p.Base, r)
}

// jwtParts splits a compact JWS; ok is false for anything else.
func jwtParts(tok string) (header, claims map[string]any, sig string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, "", false
	}
	h, err := scan.DecodeJWTPart(parts[0])
	if err != nil {
		return nil, nil, "", false
	}
	c, err := scan.DecodeJWTPart(parts[1])
	if err != nil {
		return nil, nil, "", false
	}
	return h, c, parts[2], true
}

// signHS256 returns a compact HS256 JWS of header and claims with key.
func signHS256(header, claims map[string]any, key []byte) string {
	h := copyMap(header)
	h["alg"] = "HS256"
	in := scan.EncodeJWTPart(h) + "." + scan.EncodeJWTPart(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// claimsOf returns the probe identity's token header and claims, or ok
// false when the token is not a JWT.
func (p *authProbe) jwt() (header, claims map[string]any, sig string, ok bool) {
	return jwtParts(p.ID.Token)
}
