package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// hmacScheme is the Authorization scheme of signed requests.
const hmacScheme = "APIGUARD-HMAC-SHA256"

// HMACConfig accepts requests signed with a shared secret:
//
//	Authorization: APIGUARD-HMAC-SHA256 keyId="k1", ts="1700000000", nonce="n-1", sig="<base64url>"
//
// sig is HMAC-SHA256 over StringToSign (method, canonical path, sorted
// query, SHA-256 of the body, timestamp, nonce). SignRequest makes one.
type HMACConfig struct {
	// Keys are the shared secrets.
	Keys []HMACKey `yaml:"keys" json:"keys"`
	// Window is how far the timestamp may be from apiguard's clock.
	// Default 5m. Nonces are remembered for twice the window.
	Window config.Duration `yaml:"window" json:"window,omitempty"`
	// MaxNonces bounds the in-memory nonce cache (without Redis). Default
	// 100000; when full of live nonces, signed requests fail closed.
	MaxNonces int `yaml:"max_nonces" json:"max_nonces,omitempty"`
}

// HMACKey is one signing secret.
type HMACKey struct {
	// ID is the keyId clients send. Required.
	ID string `yaml:"id" json:"id"`
	// Secret is the shared secret, at least 32 bytes. Use ${ENV}.
	Secret config.Secret `yaml:"secret" json:"secret"`
	// Name is the principal's client id. Default: the id.
	Name string `yaml:"name" json:"name,omitempty"`
	// Subject is the principal's subject. Default: the id.
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Tenant, Roles and Scopes describe the principal.
	Tenant string   `yaml:"tenant" json:"tenant,omitempty"`
	Roles  []string `yaml:"roles" json:"roles,omitempty"`
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
}

type hmacKey struct {
	secret []byte
	p      pipeline.Principal
}

type hmacMethod struct {
	svc    *pipeline.Services
	keys   map[string]*hmacKey
	window time.Duration
	nonces nonceStore
	rev    *revocations
}

// nonceStore remembers nonces; seen reports whether one was already used
// (and records it when not).
type nonceStore interface {
	seen(ctx context.Context, nonce string, ttl time.Duration) (bool, error)
}

func newHMAC(b pipeline.Build, c *HMACConfig, rev *revocations) (*hmacMethod, error) {
	m := &hmacMethod{svc: b.Services, keys: map[string]*hmacKey{}, window: dur(c.Window, 5*time.Minute), rev: rev}
	if len(c.Keys) == 0 {
		return nil, errors.New("keys: at least one key is needed")
	}
	for i, k := range c.Keys {
		if k.ID == "" || m.keys[k.ID] != nil || len(k.ID) > 128 {
			return nil, fmt.Errorf("keys[%d].id: required, unique, at most 128 characters", i)
		}
		if len(k.Secret.Value()) < 32 {
			return nil, fmt.Errorf("keys[%d].secret: must be at least 32 bytes", i)
		}
		sub, name := k.Subject, k.Name
		if sub == "" {
			sub = k.ID
		}
		if name == "" {
			name = k.ID
		}
		m.keys[k.ID] = &hmacKey{secret: []byte(k.Secret.Value()),
			p: pipeline.Principal{Subject: sub, Tenant: k.Tenant, Roles: k.Roles, Scopes: k.Scopes, Method: MethodHMAC, ClientID: name}}
	}
	if b.Services.Redis != nil {
		m.nonces = redisNonces{rdb: b.Services.Redis, prefix: "apiguard:authn:nonce:" + b.API + ":"}
	} else {
		limit := c.MaxNonces
		if limit <= 0 {
			limit = 100000
		}
		v, err := b.Services.Shared("authn/nonces/"+b.API, func() (any, error) {
			return &memNonces{now: b.Services.Now, max: limit, m: map[string]time.Time{}}, nil
		})
		if err != nil {
			return nil, err
		}
		m.nonces = v.(*memNonces)
	}
	return m, nil
}

func (m *hmacMethod) name() string { return MethodHMAC }

func (m *hmacMethod) present(x *pipeline.Exchange) bool {
	h := x.Request.Header.Get("Authorization")
	return len(h) > len(hmacScheme) && strings.EqualFold(h[:len(hmacScheme)], hmacScheme) && h[len(hmacScheme)] == ' '
}

// hmacAuth is a parsed signature header.
type hmacAuth struct {
	keyID, nonce string
	ts           int64
	sig          []byte
}

// parseHMACAuth parses the parameters after the scheme.
func parseHMACAuth(h string) (hmacAuth, error) {
	var a hmacAuth
	if len(h) > 1024 {
		return a, errors.New("header too long")
	}
	rest, ok := strings.CutPrefix(h, hmacScheme+" ")
	if !ok {
		if len(h) <= len(hmacScheme) || !strings.EqualFold(h[:len(hmacScheme)], hmacScheme) || h[len(hmacScheme)] != ' ' {
			return a, errors.New("not the signature scheme")
		}
		rest = h[len(hmacScheme)+1:]
	}
	seen := map[string]bool{}
	var ts, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errors.New("parameter without =")
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if seen[k] {
			return a, errors.New("duplicate parameter")
		}
		seen[k] = true
		switch k {
		case "keyId":
			a.keyID = v
		case "ts":
			ts = v
		case "nonce":
			a.nonce = v
		case "sig":
			sig = v
		default:
			return a, errors.New("unknown parameter")
		}
	}
	if a.keyID == "" || ts == "" || a.nonce == "" || sig == "" {
		return a, errors.New("keyId, ts, nonce and sig are required")
	}
	if len(a.nonce) > 128 || strings.IndexFunc(a.nonce, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return a, errors.New("nonce must be 1..128 of [A-Za-z0-9._-]")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 || len(ts) > 12 {
		return a, errors.New("ts must be Unix seconds")
	}
	a.ts = n
	if a.sig, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "=")); err != nil || len(a.sig) != sha256.Size {
		return a, errors.New("sig must be a base64url HMAC-SHA256")
	}
	return a, nil
}

// StringToSign is what a signed request's signature covers: the scheme,
// the upper-case method, the path with each segment percent-encoded, the
// query with keys and values percent-encoded and sorted, the hex SHA-256
// of the body, the timestamp and the nonce, one per line.
func StringToSign(method, path string, query url.Values, body []byte, ts int64, nonce string) string {
	var b strings.Builder
	b.WriteString(hmacScheme)
	b.WriteByte('\n')
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(seg))
	}
	b.WriteByte('\n')
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	first := true
	for _, k := range keys {
		vs := append([]string(nil), query[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	b.WriteByte('\n')
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte('\n')
	b.WriteString(nonce)
	return b.String()
}

// SignRequest signs r (whose body is body) with a key, for clients and
// tests: it sets the Authorization header.
func SignRequest(r *http.Request, body []byte, keyID string, secret []byte, ts time.Time, nonce string) {
	s := StringToSign(r.Method, r.URL.Path, r.URL.Query(), body, ts.Unix(), nonce)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(s))
	r.Header.Set("Authorization", fmt.Sprintf(`%s keyId="%s", ts="%d", nonce="%s", sig="%s"`, hmacScheme, keyID, ts.Unix(), nonce,
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil))))
}

func (m *hmacMethod) authenticate(ctx context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error) {
	a, err := parseHMACAuth(x.Request.Header.Get("Authorization"))
	if err != nil {
		return nil, fail("malformed", "signature header: "+err.Error()), nil
	}
	k := m.keys[a.keyID]
	if k == nil {
		return nil, fail("hmac_bad_signature", "unknown keyId"), nil
	}
	now := m.svc.Now()
	if d := now.Sub(time.Unix(a.ts, 0)); d > m.window || d < -m.window {
		return nil, fail("hmac_stale", fmt.Sprintf("timestamp %s from now", d.Round(time.Second))), nil
	}
	query, err := url.ParseQuery(x.Request.URL.RawQuery)
	if err != nil {
		return nil, fail("malformed", "query cannot be parsed"), nil
	}
	body, err := x.Body()
	if err != nil {
		return nil, fail("malformed", "body cannot be read"), nil
	}
	mac := hmac.New(sha256.New, k.secret)
	mac.Write([]byte(StringToSign(x.Request.Method, x.Path, query, body, a.ts, a.nonce)))
	if !hmac.Equal(mac.Sum(nil), a.sig) {
		return nil, fail("hmac_bad_signature", "signature does not verify"), nil
	}
	used, err := m.nonces.seen(ctx, a.keyID+"\x00"+a.nonce, 2*m.window)
	if err != nil {
		return nil, failure{}, fmt.Errorf("nonce cache: %w", err)
	}
	if used {
		return nil, fail("hmac_replay", "nonce already used"), nil
	}
	if m.rev.revoked("key", a.keyID) {
		return nil, fail("revoked", "key "+a.keyID+" revoked"), nil
	}
	p := k.p
	return &p, failure{}, nil
}

// memNonces is the in-memory nonce cache.
type memNonces struct {
	now func() time.Time
	max int
	mu  sync.Mutex
	m   map[string]time.Time
}

var errNoncesFull = errors.New("nonce cache full")

func (n *memNonces) seen(_ context.Context, nonce string, ttl time.Duration) (bool, error) {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if exp, ok := n.m[nonce]; ok && now.Before(exp) {
		return true, nil
	}
	if len(n.m) >= n.max {
		for k, exp := range n.m {
			if !now.Before(exp) {
				delete(n.m, k)
			}
		}
		if len(n.m) >= n.max {
			return false, errNoncesFull
		}
	}
	n.m[nonce] = now.Add(ttl)
	return false, nil
}

// redisNonces shares nonces between instances: SET NX with expiry.
type redisNonces struct {
	rdb    redis.UniversalClient
	prefix string
}

func (n redisNonces) seen(ctx context.Context, nonce string, ttl time.Duration) (bool, error) {
	sum := sha256.Sum256([]byte(nonce))
	ok, err := n.rdb.SetNX(ctx, n.prefix+hex.EncodeToString(sum[:16]), 1, ttl).Result()
	if err != nil {
		return false, err
	}
	return !ok, nil
}
