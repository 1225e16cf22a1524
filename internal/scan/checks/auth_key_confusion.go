package checks

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// keyConfusion signs an identity's claims with HS256, using the API's
// published public key (from its JWKS) as the HMAC secret.
type keyConfusion struct{ checkMeta }

func newKeyConfusion() scan.Check {
	return keyConfusion{checkMeta{
		name: "scan.auth.key_confusion", category: "API2", severity: report.Critical,
		title:       "Algorithm confusion: HS256 tokens keyed with the public key are accepted",
		description: "A token signed with HS256 using the API's published RSA/EC public key as the HMAC secret is accepted: the verifier takes the algorithm from the token, so anyone can mint tokens.",
		remediation: "Pin the algorithms per key (never take alg from the token) and keep HMAC and public keys apart (apiguard: authn.jwt.algorithms).",
	}}
}

func (c keyConfusion) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	header, claims, _, ok := p.jwt()
	if !ok {
		return nil
	}
	keys, jwksResp, err := publishedKeys(ctx, s)
	if err != nil || len(keys) == 0 {
		return err
	}
	for _, k := range keys {
		h := copyMap(header)
		if k.kid != "" {
			h["kid"] = k.kid
		}
		for _, secret := range [][]byte{k.pem, []byte(strings.TrimRight(string(k.pem), "\n"))} {
			tok := signHS256(h, claims, secret)
			r, err := p.try(ctx, s, tok)
			if err != nil {
				return err
			}
			if p.accepted(r) {
				s.Report(scan.Finding{
					Title:    "An HS256 token keyed with the published public key is accepted",
					Evidence: fmt.Sprintf("%s's claims signed with HS256 and the PEM of key %q from the JWKS as secret: %d, the same answer as the real token", p.ID.Name, k.kid, r.Status),
					Exchange: r,
					Steps:    []*scan.Response{jwksResp},
				})
				return nil
			}
			if r.Status == 429 {
				return nil
			}
		}
	}
	return nil
}

type publicKey struct {
	kid string
	pem []byte
}

// publishedKeys fetches the API's JWKS: the spec's key-set operations (a
// GET without parameters whose id or path says jwk, keys or certs), else
// the jwks_uri of its OpenID configuration, else /.well-known/jwks.json;
// only URLs on the target are fetched. It returns the RSA and EC keys as
// PEM (PKIX).
func publishedKeys(ctx context.Context, s *scan.Session) ([]publicKey, *scan.Response, error) {
	v := s.Memo("checks.jwks", func() any {
		var paths []string
		for _, op := range s.Ops {
			text := strings.ToLower(op.ID + " " + op.Path)
			if op.Method == http.MethodGet && len(op.PathParams()) == 0 &&
				(strings.Contains(text, "jwk") || strings.Contains(text, "keys") || strings.Contains(text, "certs")) {
				paths = append(paths, op.Path)
			}
		}
		if len(paths) == 0 {
			conf, err := s.Do(ctx, s.Anonymous(), &scan.Request{Method: http.MethodGet, Path: "/.well-known/openid-configuration"})
			if err == nil && conf.OK() {
				if u, ok := conf.Object()["jwks_uri"].(string); ok {
					if pu, err := url.Parse(u); err == nil && strings.EqualFold(pu.Host, s.Target.Host) {
						paths = append(paths, pu.Path)
					}
				}
			}
			paths = append(paths, "/.well-known/jwks.json")
		}
		for _, p := range paths {
			r, err := s.Do(ctx, s.Anonymous(), &scan.Request{Op: s.OpFor(http.MethodGet, p), Method: http.MethodGet, Path: p})
			if err != nil || !r.OK() {
				continue
			}
			keys := parseJWKS(r.Body)
			if len(keys) > 0 {
				return jwksResult{keys: keys, resp: r}
			}
		}
		return jwksResult{}
	})
	res := v.(jwksResult)
	return res.keys, res.resp, nil
}

type jwksResult struct {
	keys []publicKey
	resp *scan.Response
}

// parseJWKS returns the RSA and EC public keys of a JWK set as PEM.
func parseJWKS(body []byte) []publicKey {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil
	}
	var out []publicKey
	for i, raw := range doc.Keys {
		if i >= 5 {
			break
		}
		k, err := jwk.ParseKey(raw)
		if err != nil {
			continue
		}
		var pub any
		if err := jwk.Export(k, &pub); err != nil {
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			continue
		}
		kid, _ := k.KeyID()
		out = append(out, publicKey{kid: kid, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	}
	return out
}
