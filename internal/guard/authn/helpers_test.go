package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)     { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Since(t time.Time) int64 { return c.ns.Load() - t.UnixNano() }

// sink collects events.
type sink struct {
	mu  sync.Mutex
	evs []events.Event
}

func (s *sink) emit(e events.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, e)
}

func (s *sink) rules() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.evs {
		out = append(out, e.Rule)
	}
	return out
}

func (s *sink) has(rule string) bool {
	for _, r := range s.rules() {
		if r == rule {
			return true
		}
	}
	return false
}

// signer is an ES256 key with its kid.
type signer struct {
	kid  string
	priv jwk.Key
	pub  jwk.Key
}

func newSigner(t testing.TB, kid string) *signer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	// The kid goes on the public key only, so tokens carry the kid the
	// test chooses.
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256())
	return &signer{kid: kid, priv: priv, pub: pub}
}

// sign makes a compact ES256 token with extra protected headers.
func (s *signer) sign(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, s.kid)
	_ = h.Set(jws.TypeKey, "at+jwt")
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), s.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// issuer is a real OIDC issuer: discovery and a JWKS whose keys can rotate.
type issuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []*signer
	jwksHits  atomic.Int64
	discHits  atomic.Int64
	down      atomic.Bool
	issuerURL string
}

func newIssuer(t testing.TB, keys ...*signer) *issuer {
	is := &issuer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discHits.Add(1)
		if is.down.Load() {
			http.Error(w, "down", 500)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.issuerURL, "jwks_uri": is.issuerURL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		if is.down.Load() {
			http.Error(w, "down", 500)
			return
		}
		set := jwk.NewSet()
		is.mu.Lock()
		for _, k := range is.keys {
			_ = set.AddKey(k.pub)
		}
		is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewServer(mux)
	is.issuerURL = is.srv.URL
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) rotate(keys ...*signer) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = keys
}

// claimsFor returns valid claims for the issuer at now.
func claimsFor(iss string, now time.Time) map[string]any {
	return map[string]any{"iss": iss, "sub": "1", "aud": "demobank", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": "jti-" + now.Format("150405.000000000"), "roles": []string{"user"}, "scope": "accounts:read transfers:write"}
}

// env is a guard built from YAML with test services.
type env struct {
	g     *guard
	svc   *pipeline.Services
	clock *clock
	sink  *sink
	spec  *openapi.Spec
}

var demoSpec = func() *openapi.Spec {
	s, err := openapi.Parse(demobank.Spec)
	if err != nil {
		panic(err)
	}
	return s
}()

type envOpts struct {
	svc  *pipeline.Services
	spec *openapi.Spec
}

// build builds the guard from a YAML section.
func build(t testing.TB, section string, o ...envOpts) (*env, error) {
	t.Helper()
	e := &env{clock: newClock(), sink: &sink{}, spec: demoSpec}
	if len(o) > 0 && o[0].spec != nil {
		e.spec = o[0].spec
	}
	if len(o) > 0 && o[0].svc != nil {
		e.svc = o[0].svc
	} else {
		e.svc = pipeline.NewServices(pipeline.Services{Now: e.clock.Now, Emit: e.sink.emit})
		t.Cleanup(func() { _ = e.svc.Close() })
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(section), &node); err != nil {
		t.Fatal(err)
	}
	n := node.Content[0]
	g, err := New(pipeline.Build{API: "demobank", Spec: e.spec, Services: e.svc, Path: "apis[0].guards.authn",
		Logger: e.svc.Logger,
		Decode: func(v any) (bool, error) { return true, config.DecodeSection(n, "apis[0].guards.authn", v) }})
	if err != nil {
		return nil, err
	}
	e.g = g.(*guard)
	t.Cleanup(func() { _ = e.g.Close() })
	return e, nil
}

func mustBuild(t testing.TB, section string, o ...envOpts) *env {
	t.Helper()
	e, err := build(t, section, o...)
	if err != nil {
		t.Fatalf("New(%s) error = %v", section, err)
	}
	return e
}

// op returns the demobank operation with id.
func (e *env) op(id string) *openapi.Operation {
	for _, op := range e.spec.Operations {
		if op.ID == id {
			return op
		}
	}
	panic("no operation " + id)
}

// run sends a request through the guard and returns the verdict.
func (e *env) run(t testing.TB, r *http.Request, opID string) (pipeline.Verdict, *pipeline.Principal, error) {
	t.Helper()
	x := pipeline.NewExchange()
	defer x.Release()
	x.Request = r
	x.Path = r.URL.Path
	if opID != "" {
		x.Operation = e.op(opID)
	}
	v, err := e.g.Request(context.Background(), x)
	return v, x.Principal, err
}

func bearerReq(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/accounts", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func rule(v pipeline.Verdict) string {
	if v.Action == pipeline.Continue {
		return ""
	}
	return v.Rule
}

func jwtSection(is *issuer, extra string) string {
	return `
jwt:
  issuer: "` + is.issuerURL + `"
  discovery: true
  audience: [demobank]
  typ: at+jwt
  refetch_cooldown: 1m
  fetch_timeout: 2s
` + strings.TrimRight(extra, "\n") + "\n"
}
