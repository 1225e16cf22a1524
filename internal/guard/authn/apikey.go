package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// APIKeyPrefix starts every key made by NewAPIKey: agk_<id>_<secret>.
const APIKeyPrefix = "agk_"

// APIKeyConfig configures API keys.
type APIKeyConfig struct {
	// Header carries the key. Default X-API-Key.
	Header string `yaml:"header" json:"header,omitempty"`
	// Query, when set, also accepts the key from this query parameter. It
	// leaks keys into logs and history: every use is an observe event.
	Query string `yaml:"query" json:"query,omitempty"`
	// Keys are keys given in the config, by their SHA-256.
	Keys []APIKeyEntry `yaml:"keys" json:"keys,omitempty"`
	// Store also accepts keys made with `apiguard keys create`. Default
	// true when a store is available.
	Store *bool `yaml:"store" json:"store,omitempty"`
	// StoreCacheTTL is how long a key read from the store is reused.
	// Default 10s (a key revoked with `apiguard keys revoke` stops working
	// within it; the revocation admin API is immediate).
	StoreCacheTTL config.Duration `yaml:"store_cache_ttl" json:"store_cache_ttl,omitempty"`
}

// APIKeyEntry is one configured API key.
type APIKeyEntry struct {
	// ID identifies the key (events, revocations). Required.
	ID string `yaml:"id" json:"id"`
	// Name is a label, used as the principal's client id.
	Name string `yaml:"name" json:"name,omitempty"`
	// SHA256 is the hex SHA-256 of the key. Required.
	SHA256 string `yaml:"sha256" json:"sha256"`
	// Subject is the principal's subject. Default: the id.
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Tenant, Roles and Scopes describe the principal.
	Tenant string   `yaml:"tenant" json:"tenant,omitempty"`
	Roles  []string `yaml:"roles" json:"roles,omitempty"`
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// Expires is when the key stops working (RFC 3339). Default never.
	Expires string `yaml:"expires" json:"expires,omitempty"`
	// Disabled refuses the key.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
}

type configKey struct {
	hash     [32]byte
	id       string
	p        pipeline.Principal
	expires  time.Time
	disabled bool
}

type apiKeyMethod struct {
	svc     *pipeline.Services
	header  string
	query   string
	keys    []configKey
	ks      store.KeyStore
	rev     *revocations
	cache   *lru[string, *store.APIKey]
	ttl     time.Duration
	missing *store.APIKey // cached "not found"
}

// queryKeyUsed marks an exchange whose API key came from the query.
type queryKeyUsed struct{}

func newAPIKeys(b pipeline.Build, c *APIKeyConfig, rev *revocations) (*apiKeyMethod, *pipeline.Verdict, error) {
	m := &apiKeyMethod{svc: b.Services, header: c.Header, query: c.Query, rev: rev, ttl: dur(c.StoreCacheTTL, 10*time.Second), missing: &store.APIKey{}}
	if m.header == "" {
		m.header = "X-API-Key"
	}
	m.header = http.CanonicalHeaderKey(m.header)
	seen := map[string]bool{}
	for i, k := range c.Keys {
		h, err := hex.DecodeString(k.SHA256)
		if err != nil || len(h) != 32 {
			return nil, nil, fmt.Errorf("keys[%d].sha256: must be 64 hex digits (the SHA-256 of the key)", i)
		}
		if k.ID == "" || seen[k.ID] {
			return nil, nil, fmt.Errorf("keys[%d].id: required and unique", i)
		}
		seen[k.ID] = true
		ck := configKey{id: k.ID, disabled: k.Disabled}
		copy(ck.hash[:], h)
		if k.Expires != "" {
			t, err := time.Parse(time.RFC3339, k.Expires)
			if err != nil {
				return nil, nil, fmt.Errorf("keys[%d].expires: must be an RFC 3339 time", i)
			}
			ck.expires = t
		}
		sub := k.Subject
		if sub == "" {
			sub = k.ID
		}
		name := k.Name
		if name == "" {
			name = k.ID
		}
		ck.p = pipeline.Principal{Subject: sub, Tenant: k.Tenant, Roles: k.Roles, Scopes: k.Scopes, Method: MethodAPIKey, ClientID: name}
		m.keys = append(m.keys, ck)
	}
	useStore := c.Store == nil || *c.Store
	if ks, ok := b.Services.Store.(store.KeyStore); ok && useStore {
		m.ks = ks
		m.cache = newLRU[string, *store.APIKey](10000)
	}
	if len(m.keys) == 0 && m.ks == nil && c.Store != nil && *c.Store {
		systemEvent(b.Services, b.API, "authn.config_no_keys", "observe", b.Path+".apikey: no keys configured and no store is available")
	}
	var warn *pipeline.Verdict
	if m.query != "" {
		msg := b.Path + ".apikey.query is set: API keys in the query string leak into logs, browser history and Referer headers"
		b.Logger.Warn(msg)
		systemEvent(b.Services, b.API, "authn.config_apikey_in_query", "observe", msg)
		warn = &pipeline.Verdict{Action: pipeline.Observe, Rule: "authn.apikey_in_query", Category: "API2",
			Title: "API keys must be sent in a header.", Detail: "API key sent in the query parameter " + m.query}
	}
	return m, warn, nil
}

func (m *apiKeyMethod) name() string { return MethodAPIKey }

func (m *apiKeyMethod) credential(x *pipeline.Exchange) (string, bool) {
	if v := x.Request.Header[m.header]; len(v) > 0 {
		return v[0], true
	}
	if m.query != "" && x.Request.URL.RawQuery != "" {
		if v := x.Request.URL.Query()[m.query]; len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

func (m *apiKeyMethod) present(x *pipeline.Exchange) bool {
	_, ok := m.credential(x)
	return ok
}

func (m *apiKeyMethod) authenticate(ctx context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error) {
	key, _ := m.credential(x)
	if len(x.Request.Header[m.header]) == 0 {
		x.SetValue(queryKeyUsed{}, true)
	}
	if key == "" || len(key) > 512 {
		return nil, fail("bad_api_key", "empty or oversized key"), nil
	}
	sum := sha256.Sum256([]byte(key))
	now := m.svc.Now()
	// Compare with every configured key, in constant time, without
	// stopping at a match.
	var found *configKey
	for i := range m.keys {
		if subtle.ConstantTimeCompare(sum[:], m.keys[i].hash[:]) == 1 {
			found = &m.keys[i]
		}
	}
	if found != nil {
		switch {
		case found.disabled:
			return nil, fail("bad_api_key", "key "+found.id+" disabled"), nil
		case !found.expires.IsZero() && !now.Before(found.expires):
			return nil, fail("expired", "key "+found.id+" expired"), nil
		case m.rev.revoked("key", found.id):
			return nil, fail("revoked", "key "+found.id+" revoked"), nil
		}
		p := found.p
		return &p, failure{}, nil
	}
	if m.ks == nil {
		return nil, fail("bad_api_key", "unknown key"), nil
	}
	id, _, ok := ParseAPIKey(key)
	if !ok {
		return nil, fail("bad_api_key", "unknown key"), nil
	}
	sk, ok := m.cache.get(id, now)
	if !ok {
		k, err := m.ks.Key(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			sk = m.missing
		case err != nil:
			return nil, failure{}, fmt.Errorf("reading api key: %w", err)
		default:
			sk = &k
		}
		m.cache.add(id, sk, now.Add(m.ttl))
	}
	want, err := hex.DecodeString(sk.Hash)
	if sk == m.missing || err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return nil, fail("bad_api_key", "unknown key"), nil
	}
	switch {
	case sk.Disabled:
		return nil, fail("bad_api_key", "key "+sk.ID+" disabled"), nil
	case !sk.Revoked.IsZero():
		return nil, fail("revoked", "key "+sk.ID+" revoked"), nil
	case !sk.Expires.IsZero() && !now.Before(sk.Expires):
		return nil, fail("expired", "key "+sk.ID+" expired"), nil
	case m.rev.revoked("key", sk.ID):
		return nil, fail("revoked", "key "+sk.ID+" revoked"), nil
	}
	name := sk.Name
	if name == "" {
		name = sk.ID
	}
	return &pipeline.Principal{Subject: sk.ID, Tenant: sk.Tenant, Roles: sk.Roles, Scopes: sk.Scopes, Method: MethodAPIKey, ClientID: name}, failure{}, nil
}

// NewAPIKey returns a new random key agk_<id>_<secret> and its id and hex
// SHA-256 (what is stored).
func NewAPIKey() (key, id, sha string) {
	var idb [6]byte
	var sec [32]byte
	_, _ = rand.Read(idb[:])
	_, _ = rand.Read(sec[:])
	id = hex.EncodeToString(idb[:])
	key = APIKeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	sum := sha256.Sum256([]byte(key))
	return key, id, hex.EncodeToString(sum[:])
}

// ParseAPIKey splits a key made by NewAPIKey into its id and secret.
func ParseAPIKey(key string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, APIKeyPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 12 || secret == "" {
		return "", "", false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "", false
		}
	}
	return id, secret, true
}
