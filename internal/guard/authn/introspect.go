package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// IntrospectionConfig checks opaque bearer tokens with an OAuth 2.0 token
// introspection endpoint (RFC 7662). When the endpoint is down the guard
// fails: fail: closed (the default) answers 503, fail: open lets the
// request go on without a principal.
type IntrospectionConfig struct {
	// URL is the introspection endpoint (https; http only to loopback).
	URL string `yaml:"url" json:"url"`
	// ClientID and ClientSecret authenticate apiguard to the endpoint
	// (HTTP Basic, RFC 7662 §2.1). Required.
	ClientID     string        `yaml:"client_id" json:"client_id"`
	ClientSecret config.Secret `yaml:"client_secret" json:"client_secret"`
	// Issuer and Audience, when set, are checked on the answer.
	Issuer   string   `yaml:"issuer" json:"issuer,omitempty"`
	Audience []string `yaml:"audience" json:"audience,omitempty"`
	// CacheTTL bounds how long an active answer is reused (never past the
	// token's exp). Default 60s; 0 keeps the default.
	CacheTTL config.Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty"`
	// NegativeTTL is how long an inactive answer is reused. Default 5s.
	NegativeTTL config.Duration `yaml:"negative_ttl" json:"negative_ttl,omitempty"`
	// Timeout bounds a call. Default 3s.
	Timeout config.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxResponseBytes bounds an answer. Default 64KiB.
	MaxResponseBytes config.ByteSize `yaml:"max_response_bytes" json:"max_response_bytes,omitempty"`
	// AllowPrivate lets the endpoint be on a private network (RFC 1918,
	// CGNAT, IPv6 ULA). Default false: only public addresses, and
	// loopback when the URL names a loopback host. Link-local addresses
	// (cloud metadata) are never dialed.
	AllowPrivate bool `yaml:"allow_private" json:"allow_private,omitempty"`
}

type introspection struct {
	svc      *pipeline.Services
	url      string
	clientID string
	secret   string
	issuer   string
	audience []string
	ttl, neg time.Duration
	f        *fetcher
	cache    *lru[[32]byte, *introspected]
	claims   claimSet
	rev      *revocations
}

type introspected struct {
	active bool
	p      pipeline.Principal
	jti    string
}

func newIntrospection(b pipeline.Build, c *IntrospectionConfig, cl claimSet, rev *revocations, _ bool) (*introspection, error) {
	if err := checkFetchURL(c.URL); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, errors.New("client_id: client_id and client_secret are required")
	}
	maxBytes := int64(c.MaxResponseBytes)
	if maxBytes == 0 {
		maxBytes = 64 << 10
	}
	return &introspection{
		svc: b.Services, url: c.URL, clientID: c.ClientID, secret: c.ClientSecret.Value(), issuer: c.Issuer, audience: c.Audience,
		ttl: dur(c.CacheTTL, 60*time.Second), neg: dur(c.NegativeTTL, 5*time.Second),
		f: newFetcher(dur(c.Timeout, 3*time.Second), maxBytes, c.URL, c.AllowPrivate), cache: newLRU[[32]byte, *introspected](10000),
		claims: cl, rev: rev,
	}, nil
}

func (m *introspection) name() string { return MethodIntrospection }

func (m *introspection) present(x *pipeline.Exchange) bool {
	_, ok := bearer(x)
	return ok
}

func (m *introspection) authenticate(ctx context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error) {
	tok, _ := bearer(x)
	if len(tok) > MaxTokenBytes {
		return nil, fail("too_large", "token too large"), nil
	}
	if tok == "" {
		return nil, fail("malformed", "empty bearer token"), nil
	}
	key := sha256.Sum256([]byte(tok))
	now := m.svc.Now()
	e, ok := m.cache.get(key, now)
	if !ok {
		var until time.Time
		var err error
		e, until, err = m.call(ctx, tok, now)
		if err != nil {
			return nil, failure{}, err
		}
		m.cache.add(key, e, until)
	}
	if !e.active {
		return nil, fail("inactive", "introspection: not active"), nil
	}
	if e.jti != "" && m.rev.revoked("jti", e.jti) {
		return nil, fail("revoked", "jti revoked"), nil
	}
	p := e.p
	return &p, failure{}, nil
}

// call asks the endpoint; it returns the answer and until when it may be
// reused.
func (m *introspection) call(ctx context.Context, tok string, now time.Time) (*introspected, time.Time, error) {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, now, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(m.clientID), url.QueryEscape(m.secret))
	body, err := m.f.do(req)
	if err != nil {
		return nil, now, fmt.Errorf("introspection: %w", err)
	}
	claims, ok := decodeClaims(body)
	if !ok {
		return nil, now, errors.New("introspection: answer is not a JSON object")
	}
	inactive := &introspected{}
	if active, _ := claims["active"].(bool); !active {
		return inactive, now.Add(m.neg), nil
	}
	exp, hasExp, bad := numericClaim(claims, "exp")
	t := float64(now.Unix())
	if bad || hasExp && exp <= t {
		return inactive, now.Add(m.neg), nil
	}
	if nbf, has, _ := numericClaim(claims, "nbf"); has && nbf > t+30 {
		return inactive, now.Add(m.neg), nil
	}
	if m.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != m.issuer {
			return inactive, now.Add(m.neg), nil
		}
	}
	if len(m.audience) > 0 && !audienceMatches(claims["aud"], m.audience) {
		return inactive, now.Add(m.neg), nil
	}
	delete(claims, "active")
	e := &introspected{active: true, p: *m.claims.principal(claims, MethodIntrospection)}
	if e.p.Subject == "" {
		e.p.Subject, _ = claims["username"].(string)
	}
	e.jti, _ = claims["jti"].(string)
	until := now.Add(m.ttl)
	if hasExp {
		if ex := time.Unix(int64(exp), 0); ex.Before(until) {
			until = ex
		}
	}
	return e, until, nil
}
