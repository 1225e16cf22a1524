package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// MaxTokenBytes is the largest bearer token accepted.
const MaxTokenBytes = 8 << 10

// JWTConfig configures JWT bearer tokens.
type JWTConfig struct {
	// Issuer is the required iss claim. With Discovery, the issuer's
	// /.well-known/openid-configuration gives the JWKS URL.
	Issuer string `yaml:"issuer" json:"issuer,omitempty"`
	// Discovery fetches the key set URL from the issuer's OpenID Provider
	// metadata. Default false.
	Discovery bool `yaml:"discovery" json:"discovery,omitempty"`
	// JWKSURL is the key set URL (https; http only to loopback).
	JWKSURL string `yaml:"jwks_url" json:"jwks_url,omitempty"`
	// JWKS is an inline key set (JSON), and JWKSFile a key set, JWK or PEM
	// public key file.
	JWKS     string `yaml:"jwks" json:"jwks,omitempty"`
	JWKSFile string `yaml:"jwks_file" json:"jwks_file,omitempty"`
	// HMACSecret enables HS256/384/512 with this secret (at least 32
	// bytes). It cannot be combined with public keys.
	HMACSecret config.Secret `yaml:"hmac_secret" json:"hmac_secret,omitempty"`
	// Algorithms restricts the accepted algorithms. Default: what each
	// key implies (RS256 for RSA keys without alg; HS256 with hmac_secret).
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// Audience lists accepted aud values; one must match. Default: not checked.
	Audience []string `yaml:"audience" json:"audience,omitempty"`
	// Type is the required typ header (RFC 8725), such as at+jwt; the
	// application/ prefix is optional. Default: not checked.
	Type string `yaml:"typ" json:"typ,omitempty"`
	// RequiredClaims must be present besides exp. Default [sub].
	RequiredClaims []string `yaml:"required_claims" json:"required_claims,omitempty"`
	// ClockSkew is allowed on exp, nbf and iat. Default 30s.
	ClockSkew config.Duration `yaml:"clock_skew" json:"clock_skew,omitempty"`
	// MaxLifetime bounds exp - iat (or exp - now without iat). Default 24h.
	MaxLifetime config.Duration `yaml:"max_lifetime" json:"max_lifetime,omitempty"`
	// AllowKeyHeaders accepts tokens carrying jku, x5u, jwk or x5c
	// headers (they are never used to find keys). Default false: refused.
	AllowKeyHeaders bool `yaml:"allow_key_headers" json:"allow_key_headers,omitempty"`
	// CacheSize bounds the verified-token cache. Default 10000; 0 keeps
	// the default, -1 turns the cache off.
	CacheSize int `yaml:"cache_size" json:"cache_size,omitempty"`
	// Refresh is how often the key set is fetched again. Default 5m.
	Refresh config.Duration `yaml:"refresh" json:"refresh,omitempty"`
	// RefetchCooldown is the least time between two fetches caused by
	// unknown kids. Default 30s.
	RefetchCooldown config.Duration `yaml:"refetch_cooldown" json:"refetch_cooldown,omitempty"`
	// MaxStale is how long the last good key set keeps serving while the
	// endpoint fails. Default 24h.
	MaxStale config.Duration `yaml:"max_stale" json:"max_stale,omitempty"`
	// FetchTimeout bounds each key set or discovery fetch. Default 5s.
	FetchTimeout config.Duration `yaml:"fetch_timeout" json:"fetch_timeout,omitempty"`
	// MaxKeySetBytes bounds a fetched key set or discovery document. Default 256KiB.
	MaxKeySetBytes config.ByteSize `yaml:"max_key_set_bytes" json:"max_key_set_bytes,omitempty"`
	// AllowPrivate lets the key set and discovery URLs be on a private
	// network (RFC 1918, CGNAT, IPv6 ULA). Default false: only public
	// addresses, and loopback when the configured URL names a loopback
	// host. Link-local addresses (cloud metadata) are never dialed.
	AllowPrivate bool `yaml:"allow_private" json:"allow_private,omitempty"`
}

// fetchTarget is the configured URL the key set comes from: the JWKS URL,
// or with discovery the issuer.
func fetchTarget(c *JWTConfig) string {
	if c.JWKSURL != "" {
		return c.JWKSURL
	}
	return c.Issuer
}

// jwtMethod verifies JWT bearer tokens.
type jwtMethod struct {
	svc       *pipeline.Services
	src       keySource
	remote    *remoteKeys
	issuer    string
	audience  []string
	typ       string
	required  []string
	skew      time.Duration
	maxLife   time.Duration
	keyHdrs   bool
	cache     *lru[[32]byte, *cachedToken]
	claims    claimSet
	rev       *revocations
	jwsOnly   bool // introspection handles the other bearer tokens
	allowAlgs map[string]bool
}

// cachedToken is a verified token's principal.
type cachedToken struct {
	p   pipeline.Principal
	jti string
	gen uint64
}

func newJWTMethod(b pipeline.Build, c *JWTConfig, cl claimSet, rev *revocations) (*jwtMethod, error) {
	m := &jwtMethod{
		svc: b.Services, issuer: c.Issuer, audience: c.Audience, claims: cl, rev: rev,
		skew: dur(c.ClockSkew, 30*time.Second), maxLife: dur(c.MaxLifetime, 24*time.Hour),
		keyHdrs: c.AllowKeyHeaders, required: c.RequiredClaims,
	}
	if m.required == nil {
		m.required = []string{"sub"}
	}
	m.typ = strings.ToLower(strings.TrimPrefix(strings.ToLower(c.Type), "application/"))
	m.allowAlgs = map[string]bool{}
	for i, a := range c.Algorithms {
		switch {
		case strings.EqualFold(a, "none"):
			return nil, fmt.Errorf("algorithms[%d]: none is never accepted", i)
		case !asymmetric[a] && !symmetric[a]:
			return nil, fmt.Errorf("algorithms[%d]: %q is not one of RS256..512, PS256..512, ES256..512, EdDSA, HS256..512", i, a)
		}
		m.allowAlgs[a] = true
	}
	secret := c.HMACSecret.Value()
	sources := 0
	for _, set := range []bool{c.JWKSURL != "", c.Discovery, c.JWKS != "", c.JWKSFile != "", secret != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return nil, errors.New("jwks_url: set one of jwks_url, discovery (with issuer), jwks, jwks_file or hmac_secret")
	case sources > 1:
		return nil, errors.New("jwks_url: set only one of jwks_url, discovery, jwks, jwks_file and hmac_secret")
	}
	if c.Discovery && c.Issuer == "" {
		return nil, errors.New("issuer: required with discovery")
	}
	if c.Issuer != "" && c.Discovery {
		if err := checkFetchURL(c.Issuer); err != nil {
			return nil, fmt.Errorf("issuer: %w", err)
		}
	}
	for a := range m.allowAlgs {
		if secret != "" && asymmetric[a] || secret == "" && symmetric[a] {
			return nil, fmt.Errorf("algorithms: %s cannot be used with this key source (HS* only with hmac_secret, and never together with public keys)", a)
		}
	}
	if m.issuer == "" {
		systemEvent(b.Services, b.API, "authn.config_no_issuer", "observe", b.Path+".jwt.issuer is not set: tokens of any issuer trusted by the keys are accepted")
	}
	switch {
	case secret != "":
		if len(secret) < 32 {
			return nil, errors.New("hmac_secret: must be at least 32 bytes")
		}
		algs := []jwa.SignatureAlgorithm{}
		names := c.Algorithms
		if len(names) == 0 {
			names = []string{"HS256"}
		}
		for _, n := range names {
			a, _ := jwa.LookupSignatureAlgorithm(n)
			algs = append(algs, a)
		}
		m.src = staticKeys{set: newKeySet([]*verifyKey{{algs: algs, key: []byte(secret)}})}
	case c.JWKS != "" || c.JWKSFile != "":
		data := []byte(c.JWKS)
		field := "jwks"
		if c.JWKSFile != "" {
			field = "jwks_file"
			var err error
			if data, err = os.ReadFile(c.JWKSFile); err != nil {
				return nil, fmt.Errorf("jwks_file: %w", err)
			}
		}
		set, _, err := parseKeySet(data, m.allowAlgs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		m.src = staticKeys{set: set}
	default:
		if c.JWKSURL != "" {
			if err := checkFetchURL(c.JWKSURL); err != nil {
				return nil, fmt.Errorf("jwks_url: %w", err)
			}
		}
		maxBytes := int64(c.MaxKeySetBytes)
		if maxBytes == 0 {
			maxBytes = 256 << 10
		}
		r := &remoteKeys{
			svc: b.Services, api: b.API, issuer: c.Issuer, discovery: c.Discovery, jwksURL: c.JWKSURL,
			f:       newFetcher(dur(c.FetchTimeout, 5*time.Second), maxBytes, fetchTarget(c), c.AllowPrivate),
			refresh: dur(c.Refresh, 5*time.Minute), cooldown: dur(c.RefetchCooldown, 30*time.Second),
			maxStale: dur(c.MaxStale, 24*time.Hour), allowed: m.allowAlgs,
		}
		r.start()
		m.src, m.remote = r, r
	}
	size := c.CacheSize
	if size == 0 {
		size = 10000
	}
	if size > 0 {
		m.cache = newLRU[[32]byte, *cachedToken](size)
	}
	return m, nil
}

func (m *jwtMethod) close() {
	if m.remote != nil {
		_ = m.remote.Close()
	}
}

func (m *jwtMethod) name() string { return MethodJWT }

// bearer returns the bearer token of the Authorization header.
func bearer(x *pipeline.Exchange) (string, bool) {
	h := x.Request.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

func (m *jwtMethod) present(x *pipeline.Exchange) bool {
	tok, ok := bearer(x)
	if !ok {
		return false
	}
	return !m.jwsOnly || strings.Count(tok, ".") == 2
}

func (m *jwtMethod) authenticate(ctx context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error) {
	tok, _ := bearer(x)
	return m.check(ctx, tok)
}

// check verifies a token, through the cache.
func (m *jwtMethod) check(ctx context.Context, tok string) (*pipeline.Principal, failure, error) {
	if len(tok) > MaxTokenBytes {
		return nil, fail("too_large", fmt.Sprintf("token of %d bytes", len(tok))), nil
	}
	if tok == "" {
		return nil, fail("malformed", "empty bearer token"), nil
	}
	now := m.svc.Now()
	var key [32]byte
	if m.cache != nil {
		key = sha256.Sum256([]byte(tok))
		if e, ok := m.cache.get(key, now); ok && e.gen == m.src.generation() {
			if e.jti != "" && m.rev.revoked("jti", e.jti) {
				return nil, fail("revoked", "jti revoked"), nil
			}
			p := e.p
			return &p, failure{}, nil
		}
	}
	gen := m.src.generation()
	claims, exp, f, err := m.verify(ctx, tok, now)
	if err != nil || f.reason != "" {
		return nil, f, err
	}
	jti, _ := claims["jti"].(string)
	if jti != "" && m.rev.revoked("jti", jti) {
		return nil, fail("revoked", "jti revoked"), nil
	}
	p := m.claims.principal(claims, MethodJWT)
	if m.cache != nil {
		m.cache.add(key, &cachedToken{p: *p, jti: jti, gen: gen}, exp.Add(m.skew))
	}
	return p, failure{}, nil
}

var b64 = base64.RawURLEncoding.Strict()

// verify checks a compact JWS token and its claims. It returns the
// claims and the expiry.
func (m *jwtMethod) verify(ctx context.Context, tok string, now time.Time) (map[string]any, time.Time, failure, error) {
	var zero time.Time
	h, rest, ok := strings.Cut(tok, ".")
	payloadPart, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") || h == "" || payloadPart == "" {
		return nil, zero, fail("malformed", "not a compact JWS (three parts)"), nil
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, zero, fail("malformed", "header is not base64url"), nil
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr == nil {
		return nil, zero, fail("malformed", "header is not a JSON object"), nil
	}
	var alg string
	if err := json.Unmarshal(hdr["alg"], &alg); err != nil || alg == "" {
		return nil, zero, fail("malformed", "header has no alg"), nil
	}
	if strings.EqualFold(alg, "none") {
		return nil, zero, fail("alg_not_allowed", "alg none"), nil
	}
	if _, ok := hdr["crit"]; ok {
		return nil, zero, fail("crit_unsupported", "crit header present"), nil
	}
	if _, ok := hdr["b64"]; ok {
		return nil, zero, fail("malformed", "b64 header present"), nil
	}
	if !m.keyHdrs {
		for _, k := range []string{"jku", "x5u", "jwk", "x5c"} {
			if _, ok := hdr[k]; ok {
				return nil, zero, fail("untrusted_key_header", k+" header present"), nil
			}
		}
	}
	if m.typ != "" {
		var typ string
		_ = json.Unmarshal(hdr["typ"], &typ)
		if strings.TrimPrefix(strings.ToLower(typ), "application/") != m.typ {
			return nil, zero, fail("wrong_type", "typ is not "+m.typ), nil
		}
	}
	var kid string
	if raw, ok := hdr["kid"]; ok {
		if err := json.Unmarshal(raw, &kid); err != nil || len(kid) > 256 {
			return nil, zero, fail("malformed", "kid is not a short string"), nil
		}
	}
	ks, err := m.src.current(ctx)
	if err != nil {
		return nil, zero, failure{}, err
	}
	a, ok := ks.algs[alg]
	if !ok {
		return nil, zero, fail("alg_not_allowed", "alg "+clip(alg)+" is not accepted by the configured keys"), nil
	}
	cands := ks.candidates(kid, a)
	if len(cands) == 0 && kid != "" {
		if ks, err = m.src.refetch(ctx); err != nil {
			return nil, zero, failure{}, err
		}
		cands = ks.candidates(kid, a)
	}
	if len(cands) == 0 {
		return nil, zero, fail("unknown_key", "no configured key for this kid and alg"), nil
	}
	if sig == "" {
		return nil, zero, fail("bad_signature", "signature is empty"), nil
	}
	var payload []byte
	for i, k := range cands {
		if i == 4 {
			break
		}
		if payload, err = jws.VerifyCompactFast(k.key, []byte(tok), a); err == nil {
			break
		}
	}
	if err != nil {
		return nil, zero, fail("bad_signature", "signature does not verify"), nil
	}
	claims, f := m.checkClaims(payload, now)
	if f.reason != "" {
		return nil, zero, f, nil
	}
	e, _, _ := numericClaim(claims, "exp")
	return claims, time.Unix(int64(e), 0), failure{}, nil
}

// decodeClaims parses a JSON claims object, numbers kept as json.Number.
func decodeClaims(payload []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, false
	}
	return claims, true
}

// checkClaims applies the time, issuer, audience and presence checks.
func (m *jwtMethod) checkClaims(payload []byte, now time.Time) (map[string]any, failure) {
	claims, ok := decodeClaims(payload)
	if !ok {
		return nil, fail("malformed", "claims are not a JSON object")
	}
	t := float64(now.Unix())
	skew := m.skew.Seconds()
	exp, has, bad := numericClaim(claims, "exp")
	switch {
	case bad:
		return nil, fail("malformed", "exp is not a number")
	case !has:
		return nil, fail("missing_claim", "exp missing")
	case t > exp+skew:
		return nil, fail("expired", fmt.Sprintf("expired %ds ago", int64(t-exp)))
	}
	if nbf, has, bad := numericClaim(claims, "nbf"); bad {
		return nil, fail("malformed", "nbf is not a number")
	} else if has && t+skew < nbf {
		return nil, fail("not_yet_valid", "nbf in the future")
	}
	iat, hasIat, bad := numericClaim(claims, "iat")
	if bad {
		return nil, fail("malformed", "iat is not a number")
	}
	if hasIat && iat > t+skew {
		return nil, fail("not_yet_valid", "iat in the future")
	}
	life := exp - t
	if hasIat {
		life = exp - iat
	}
	if life > m.maxLife.Seconds() || math.IsInf(life, 0) {
		return nil, fail("lifetime_too_long", fmt.Sprintf("lifetime %ds exceeds %s", int64(life), m.maxLife))
	}
	if m.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != m.issuer {
			return nil, fail("wrong_issuer", "iss "+clip(iss))
		}
	}
	if len(m.audience) > 0 && !audienceMatches(claims["aud"], m.audience) {
		return nil, fail("wrong_audience", "aud not accepted")
	}
	if v, ok := claims["sub"]; ok {
		if _, isStr := v.(string); !isStr {
			return nil, fail("malformed", "sub is not a string")
		}
	}
	for _, c := range m.required {
		if _, ok := claims[c]; !ok {
			return nil, fail("missing_claim", c+" missing")
		}
	}
	return claims, failure{}
}

func audienceMatches(aud any, want []string) bool {
	switch v := aud.(type) {
	case string:
		return slices.Contains(want, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// clip bounds attacker text put in an operator detail.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
