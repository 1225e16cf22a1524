package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// maxKeys bounds the keys taken from one key set.
const maxKeys = 64

// verifyKey is one key tokens may be verified with, and the algorithms it
// may be used with. The algorithms come from the key (JWK alg, else its
// type and curve) and the config, never from a token.
type verifyKey struct {
	kid  string
	algs []jwa.SignatureAlgorithm
	key  any // *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey or []byte (HS)
}

// keySet is an immutable set of verification keys.
type keySet struct {
	byKid map[string][]*verifyKey
	all   []*verifyKey
	algs  map[string]jwa.SignatureAlgorithm
}

func newKeySet(keys []*verifyKey) *keySet {
	ks := &keySet{byKid: map[string][]*verifyKey{}, all: keys, algs: map[string]jwa.SignatureAlgorithm{}}
	for _, k := range keys {
		if k.kid != "" {
			ks.byKid[k.kid] = append(ks.byKid[k.kid], k)
		}
		for _, a := range k.algs {
			ks.algs[a.String()] = a
		}
	}
	return ks
}

// candidates returns the keys that may verify a token with kid and alg.
// Without a kid every key accepting alg is a candidate.
func (ks *keySet) candidates(kid string, alg jwa.SignatureAlgorithm) []*verifyKey {
	var out []*verifyKey
	pool := ks.all
	if kid != "" {
		pool = ks.byKid[kid]
	}
	for _, k := range pool {
		for _, a := range k.algs {
			if a == alg {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// asymmetric are the algorithms accepted with public keys.
var asymmetric = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true, "EdDSA": true,
}

// symmetric are the HMAC algorithms, accepted only with a configured secret.
var symmetric = map[string]bool{"HS256": true, "HS384": true, "HS512": true}

// keyAlgs returns the algorithms a public key may be used with: the JWK's
// alg when set, else the one its curve implies (EC, Ed25519) or the
// configured RSA algorithms (RS256 by default). allowed, when not empty,
// restricts the result.
func keyAlgs(raw any, jwkAlg string, allowed map[string]bool) ([]jwa.SignatureAlgorithm, error) {
	var implied []string
	switch k := raw.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			implied = []string{"ES256"}
		case elliptic.P384():
			implied = []string{"ES384"}
		case elliptic.P521():
			implied = []string{"ES512"}
		default:
			return nil, errors.New("unsupported curve")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small (2048 minimum)", k.N.BitLen())
		}
		implied = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		if len(allowed) == 0 && jwkAlg == "" {
			implied = []string{"RS256"}
		}
	case ed25519.PublicKey:
		implied = []string{"EdDSA"}
	default:
		return nil, fmt.Errorf("unsupported key type %T", raw)
	}
	var out []jwa.SignatureAlgorithm
	for _, name := range implied {
		if jwkAlg != "" && name != jwkAlg {
			continue
		}
		if len(allowed) > 0 && !allowed[name] {
			continue
		}
		a, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		if jwkAlg != "" {
			return nil, fmt.Errorf("key alg %q does not fit the key or is not allowed", jwkAlg)
		}
		return nil, errors.New("no allowed algorithm fits the key")
	}
	return out, nil
}

// parseKeySet turns a JWKS (or one JWK, or a PEM public key) into keys.
// Symmetric keys, encryption keys and unusable keys are skipped with a
// note; no key at all is an error.
func parseKeySet(data []byte, allowed map[string]bool) (*keySet, []string, error) {
	var (
		set jwk.Set
		err error
	)
	trimmed := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(trimmed, "-----BEGIN"):
		set, err = jwk.Parse(data, jwk.WithPEM(true))
	case strings.Contains(trimmed, `"keys"`):
		set, err = jwk.Parse(data)
	default:
		var k jwk.Key
		k, err = jwk.ParseKey(data)
		if err == nil {
			set = jwk.NewSet()
			err = set.AddKey(k)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing key set: %w", err)
	}
	var (
		keys  []*verifyKey
		notes []string
	)
	for i := 0; i < set.Len() && len(keys) < maxKeys; i++ {
		key, _ := set.Key(i)
		kid, _ := key.KeyID()
		if use, ok := key.KeyUsage(); ok && use != "sig" {
			notes = append(notes, fmt.Sprintf("key %q skipped: use is %q", kid, use))
			continue
		}
		if key.KeyType() == jwa.OctetSeq() {
			notes = append(notes, fmt.Sprintf("key %q skipped: symmetric keys are never taken from a key set", kid))
			continue
		}
		pub, err := jwk.PublicKeyOf(key)
		if err != nil {
			notes = append(notes, fmt.Sprintf("key %q skipped: %v", kid, err))
			continue
		}
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			notes = append(notes, fmt.Sprintf("key %q skipped: %v", kid, err))
			continue
		}
		jwkAlg := ""
		if a, ok := key.Algorithm(); ok {
			jwkAlg = a.String()
		}
		algs, err := keyAlgs(raw, jwkAlg, allowed)
		if err != nil {
			notes = append(notes, fmt.Sprintf("key %q skipped: %v", kid, err))
			continue
		}
		keys = append(keys, &verifyKey{kid: kid, algs: algs, key: raw})
	}
	if len(keys) == 0 {
		return nil, notes, fmt.Errorf("key set has no usable signing key (%s)", strings.Join(notes, "; "))
	}
	return newKeySet(keys), notes, nil
}

// keySource supplies the keys tokens are verified with.
type keySource interface {
	// current returns the key set to use now; an error when there is none
	// that may be used (never fetched, or stale beyond the limit).
	current(ctx context.Context) (*keySet, error)
	// refetch fetches the key set again for an unknown kid, at most one
	// fetch at a time and one per cooldown; it returns the newest set.
	refetch(ctx context.Context) (*keySet, error)
	// generation changes whenever the key set changes.
	generation() uint64
}

// staticKeys is a key set from the config.
type staticKeys struct{ set *keySet }

func (s staticKeys) current(context.Context) (*keySet, error) { return s.set, nil }
func (s staticKeys) refetch(context.Context) (*keySet, error) { return s.set, nil }
func (s staticKeys) generation() uint64                       { return 0 }

// remoteKeys is a key set fetched from a JWKS URL, found directly or by
// OIDC discovery, cached, refreshed in the background, refetched for
// unknown kids with singleflight and a cooldown, and kept while the
// endpoint is down up to a staleness limit.
type remoteKeys struct {
	svc       *pipeline.Services
	api       string
	issuer    string // for discovery
	discovery bool
	f         *fetcher
	refresh   time.Duration
	cooldown  time.Duration
	maxStale  time.Duration
	allowed   map[string]bool

	mu          sync.Mutex
	jwksURL     string
	set         *keySet
	fetchedAt   time.Time // of the last good fetch
	lastAttempt time.Time
	flight      *flight
	failing     bool

	gen     atomic.Uint64
	fetches atomic.Int64 // attempts, for tests and metrics
	stop    chan struct{}
	once    sync.Once
}

// flight is one key set fetch that concurrent callers wait for together.
type flight struct {
	done chan struct{}
	err  error
}

var errCooldown = errors.New("key set fetched too recently")

// start begins the first fetch and the refresh loop.
func (r *remoteKeys) start() {
	r.stop = make(chan struct{})
	go r.loop()
}

// Close stops the refresh loop.
func (r *remoteKeys) Close() error {
	r.once.Do(func() {
		if r.stop != nil {
			close(r.stop)
		}
	})
	return nil
}

func (r *remoteKeys) loop() {
	_ = r.load(context.Background())
	for {
		r.mu.Lock()
		wait := r.refresh
		if r.failing || r.set == nil {
			wait = max(r.cooldown, time.Second)
		}
		r.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		_ = r.load(context.Background())
	}
}

func (r *remoteKeys) generation() uint64 { return r.gen.Load() }

func (r *remoteKeys) current(ctx context.Context) (*keySet, error) {
	r.mu.Lock()
	set, at := r.set, r.fetchedAt
	r.mu.Unlock()
	if set != nil && r.svc.Now().Sub(at) <= r.maxStale {
		return set, nil
	}
	err := r.load(ctx)
	r.mu.Lock()
	set, at = r.set, r.fetchedAt
	r.mu.Unlock()
	if set != nil && r.svc.Now().Sub(at) <= r.maxStale {
		return set, nil
	}
	if set != nil {
		return nil, fmt.Errorf("jwks: the last good key set is older than max_stale (%s): %w", r.maxStale, err)
	}
	return nil, fmt.Errorf("jwks: no key set yet: %w", err)
}

func (r *remoteKeys) refetch(ctx context.Context) (*keySet, error) {
	err := r.load(ctx)
	if errors.Is(err, errCooldown) {
		err = nil
	}
	r.mu.Lock()
	set := r.set
	r.mu.Unlock()
	if set == nil {
		return nil, fmt.Errorf("jwks: no key set yet: %w", err)
	}
	return set, nil
}

// load fetches the key set unless a fetch is running (then it waits for
// that one) or the last attempt is younger than the cooldown.
func (r *remoteKeys) load(ctx context.Context) error {
	r.mu.Lock()
	if f := r.flight; f != nil {
		r.mu.Unlock()
		return wait(ctx, f)
	}
	now := r.svc.Now()
	if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.cooldown {
		r.mu.Unlock()
		return errCooldown
	}
	f := &flight{done: make(chan struct{})}
	r.flight, r.lastAttempt = f, now
	r.mu.Unlock()
	go r.run(f)
	return wait(ctx, f)
}

func wait(ctx context.Context, f *flight) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run does one fetch, detached from any request.
func (r *remoteKeys) run(f *flight) {
	r.fetches.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.f.client.Timeout)
	defer cancel()
	set, notes, err := r.fetch(ctx)
	r.mu.Lock()
	r.flight = nil
	wasFailing := r.failing
	if err == nil {
		r.set, r.fetchedAt, r.failing = set, r.svc.Now(), false
		r.gen.Add(1)
	} else {
		r.failing = true
	}
	hadSet, at := r.set != nil, r.fetchedAt
	r.mu.Unlock()
	f.err = err
	// Events go out before waiters resume, so what they observe is reported.
	defer close(f.done)
	switch {
	case err == nil && wasFailing:
		systemEvent(r.svc, r.api, "authn.jwks_recovered", events.VerdictAllow, "key set fetched again")
	case err != nil && !wasFailing && hadSet:
		systemEvent(r.svc, r.api, "authn.jwks_stale", events.VerdictObserve,
			fmt.Sprintf("key set fetch failed; serving the last good set from %s (max_stale %s): %v", at.UTC().Format(time.RFC3339), r.maxStale, err))
	case err != nil && !wasFailing:
		systemEvent(r.svc, r.api, "authn.jwks_unavailable", events.VerdictError, "key set fetch failed and no key set is known: "+err.Error())
	}
	if err == nil && len(notes) > 0 {
		systemEvent(r.svc, r.api, "authn.jwks_key_skipped", events.VerdictObserve, strings.Join(notes, "; "))
	}
}

// fetch discovers (when configured) and fetches the key set.
func (r *remoteKeys) fetch(ctx context.Context) (*keySet, []string, error) {
	r.mu.Lock()
	u := r.jwksURL
	failing := r.failing
	r.mu.Unlock()
	if r.discovery && (u == "" || failing) {
		var err error
		if u, err = r.discover(ctx); err != nil {
			return nil, nil, err
		}
		r.mu.Lock()
		r.jwksURL = u
		r.mu.Unlock()
	}
	body, err := r.f.get(ctx, u)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching jwks %s: %w", u, err)
	}
	set, notes, err := parseKeySet(body, r.allowed)
	if err != nil {
		return nil, notes, fmt.Errorf("jwks %s: %w", u, err)
	}
	return set, notes, nil
}

// discover reads the OpenID Provider metadata and returns its jwks_uri,
// after checking that its issuer is the configured one.
func (r *remoteKeys) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(r.issuer, "/") + "/.well-known/openid-configuration"
	body, err := r.f.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("discovery %s: %w", u, err)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return "", fmt.Errorf("discovery %s: %w", u, err)
	}
	if meta.Issuer != r.issuer {
		return "", fmt.Errorf("discovery %s: issuer %q is not the configured %q", u, meta.Issuer, r.issuer)
	}
	if err := checkFetchURL(meta.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri %w", u, err)
	}
	return meta.JWKSURI, nil
}
