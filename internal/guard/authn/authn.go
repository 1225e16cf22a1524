// Package authn is the authentication guard (OWASP API2): it finds out who
// is calling — JWT (with JWKS or OIDC discovery), OAuth 2.0 token
// introspection, API keys, mTLS client certificates, HMAC request
// signatures — and puts the caller on the exchange as a pipeline.Principal.
// It also protects login operations against brute force, verifies or
// decrypts JOSE request bodies, and applies revocations made through the
// admin API.
//
// The step is "authn", its config section "authn". Which operations need a
// caller comes from the spec's security requirements.
package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Method names, as used in Config.Methods and Principal.Method.
const (
	MethodJWT           = "jwt"
	MethodIntrospection = "introspection"
	MethodAPIKey        = "apikey"
	MethodMTLS          = "mtls"
	MethodHMAC          = "hmac"
)

// Config is the authn section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Methods are the ways a caller may authenticate, tried in this order;
	// the first whose credentials are present decides. Default: every
	// configured method in the order jwt, introspection, apikey, hmac, mtls.
	Methods []string `yaml:"methods" json:"methods,omitempty"`
	// Realm is the realm in WWW-Authenticate challenges. Default: the API name.
	Realm string `yaml:"realm" json:"realm,omitempty"`
	// UnknownOperations says whether requests that match no spec operation
	// need a caller: require (default) or allow.
	UnknownOperations string `yaml:"unknown_operations" json:"unknown_operations,omitempty" jsonschema:"enum=require,enum=allow"`
	// Public lists operation ids that need no caller, in addition to those
	// whose spec security is [] (empty).
	Public []string `yaml:"public" json:"public,omitempty"`
	// Protected lists operation ids that need a caller even when the spec
	// says security: [].
	Protected []string `yaml:"protected" json:"protected,omitempty"`
	// Claims says which token claims fill the principal.
	Claims ClaimsConfig `yaml:"claims" json:"claims,omitzero"`
	// JWT verifies bearer JSON Web Tokens.
	JWT *JWTConfig `yaml:"jwt" json:"jwt,omitempty"`
	// Introspection checks opaque bearer tokens with an RFC 7662 endpoint.
	Introspection *IntrospectionConfig `yaml:"introspection" json:"introspection,omitempty"`
	// APIKey accepts API keys.
	APIKey *APIKeyConfig `yaml:"apikey" json:"apikey,omitempty"`
	// MTLS maps verified client certificates to principals.
	MTLS *MTLSConfig `yaml:"mtls" json:"mtls,omitempty"`
	// HMAC accepts HMAC-signed requests.
	HMAC *HMACConfig `yaml:"hmac" json:"hmac,omitempty"`
	// JOSE requires signed (JWS) or encrypted (JWE) request bodies on some
	// operations.
	JOSE []JOSEConfig `yaml:"jose" json:"jose,omitempty"`
	// Login protects login operations against brute force. On by default
	// for operations marked x-apiguard-login in the spec.
	Login LoginConfig `yaml:"login" json:"login,omitzero"`
}

// ClaimsConfig names the claims that fill the principal.
type ClaimsConfig struct {
	// Roles is the roles claim (array or space-separated string). Default roles.
	Roles string `yaml:"roles" json:"roles,omitempty"`
	// Scope is the scope claim (space-separated string, or array). Default
	// scope, then scp.
	Scope string `yaml:"scope" json:"scope,omitempty"`
	// Tenant is the tenant claim. Default tenant.
	Tenant string `yaml:"tenant" json:"tenant,omitempty"`
	// ClientID is the client id claim. Default client_id, then azp.
	ClientID string `yaml:"client_id" json:"client_id,omitempty"`
}

// dur is a config duration, or def when unset.
func dur(d config.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}

// method is one configured way of authenticating.
type method interface {
	// name is the method's name.
	name() string
	// present reports whether the request carries this method's credentials.
	present(x *pipeline.Exchange) bool
	// authenticate checks them. A failure is a non-empty reason; err is a
	// failure of the guard itself (a dependency down).
	authenticate(ctx context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error)
}

// failure is why credentials were refused: a rule suffix and an operator
// detail. The zero failure means success.
type failure struct {
	reason string
	detail string
}

func fail(reason, detail string) failure { return failure{reason: reason, detail: detail} }

// guard is the authn guard of one API.
type guard struct {
	api        string
	svc        *pipeline.Services
	methods    []method
	public     map[*openapi.Operation]bool
	unknownReq bool
	challenge  string // the scheme and realm of WWW-Authenticate
	headers    map[string]http.Header
	revoked    *revocations
	login      *loginGuard
	jose       map[*openapi.Operation]*joseOp
	warn       *pipeline.Verdict // observe verdict for API keys sent in the query
	closers    []func()
}

// New builds the authn guard of one API from its section.
func New(b pipeline.Build) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	return newGuard(b, &cfg)
}

func newGuard(b pipeline.Build, cfg *Config) (*guard, error) {
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	g := &guard{api: b.API, svc: b.Services, unknownReq: true}
	switch cfg.UnknownOperations {
	case "", "require":
	case "allow":
		g.unknownReq = false
	default:
		return nil, fmt.Errorf("unknown_operations: must be require or allow, not %q", cfg.UnknownOperations)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = b.API
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, errors.New("realm: must not contain quotes, backslashes or line breaks")
	}
	cl := claimNames(cfg.Claims)
	// Relative file names resolve against the config file's directory.
	if cfg.JWT != nil {
		cfg.JWT.JWKSFile = resolveFile(b.Dir, cfg.JWT.JWKSFile)
	}
	for i := range cfg.JOSE {
		cfg.JOSE[i].JWKSFile = resolveFile(b.Dir, cfg.JOSE[i].JWKSFile)
	}

	rev, err := sharedRevocations(b.Services)
	if err != nil {
		return nil, err
	}
	g.revoked = rev

	built := map[string]method{}
	if cfg.JWT != nil {
		m, err := newJWTMethod(b, cfg.JWT, cl, rev)
		if err != nil {
			return nil, fmt.Errorf("jwt.%w", err)
		}
		built[MethodJWT] = m
		g.closers = append(g.closers, m.close)
	}
	if cfg.Introspection != nil {
		m, err := newIntrospection(b, cfg.Introspection, cl, rev, cfg.JWT != nil)
		if err != nil {
			return nil, fmt.Errorf("introspection.%w", err)
		}
		built[MethodIntrospection] = m
	}
	if cfg.APIKey != nil {
		m, warn, err := newAPIKeys(b, cfg.APIKey, rev)
		if err != nil {
			return nil, fmt.Errorf("apikey.%w", err)
		}
		built[MethodAPIKey] = m
		g.warn = warn
	}
	if cfg.HMAC != nil {
		m, err := newHMAC(b, cfg.HMAC, rev)
		if err != nil {
			return nil, fmt.Errorf("hmac.%w", err)
		}
		built[MethodHMAC] = m
	}
	if cfg.MTLS != nil {
		m, err := newMTLS(cfg.MTLS, rev)
		if err != nil {
			return nil, fmt.Errorf("mtls.%w", err)
		}
		built[MethodMTLS] = m
	}
	if j, ok := built[MethodJWT].(*jwtMethod); ok && built[MethodIntrospection] != nil {
		j.jwsOnly = true // opaque tokens go to introspection
	}
	order := cfg.Methods
	if len(order) == 0 {
		for _, n := range []string{MethodJWT, MethodIntrospection, MethodAPIKey, MethodHMAC, MethodMTLS} {
			if built[n] != nil {
				order = append(order, n)
			}
		}
	}
	for i, n := range order {
		m, ok := built[n]
		if !ok {
			return nil, fmt.Errorf("methods[%d]: %q is not configured (configure its section: jwt, introspection, apikey, hmac or mtls)", i, n)
		}
		if slices.Contains(order[:i], n) {
			return nil, fmt.Errorf("methods[%d]: %q is listed twice", i, n)
		}
		g.methods = append(g.methods, m)
	}
	if len(g.methods) == 0 {
		return nil, errors.New("configure at least one of jwt, introspection, apikey, hmac or mtls")
	}
	for n := range built {
		if !slices.Contains(order, n) {
			return nil, fmt.Errorf("methods: %q is configured but not listed", n)
		}
	}

	g.public, err = publicOperations(b.Spec, cfg.Public, cfg.Protected)
	if err != nil {
		return nil, err
	}
	g.challenge = challengeFor(g.methods, realm)
	g.headers = map[string]http.Header{}
	for reason := range reasons {
		g.headers[reason] = g.wwwAuthenticate(reason)
	}

	g.login, err = newLoginGuard(b, &cfg.Login)
	if err != nil {
		return nil, fmt.Errorf("login.%w", err)
	}
	g.jose, err = newJOSE(b.Spec, cfg.JOSE)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Close stops the guard's background work that is not shared.
func (g *guard) Close() error {
	for _, c := range g.closers {
		c()
	}
	return nil
}

// publicOperations returns the operations that need no caller: those
// whose effective security is [] plus public, minus protected.
func publicOperations(spec *openapi.Spec, public, protected []string) (map[*openapi.Operation]bool, error) {
	out := map[*openapi.Operation]bool{}
	ids := map[string]*openapi.Operation{}
	if spec == nil {
		if len(public) > 0 || len(protected) > 0 {
			return nil, errors.New("public: the API has no spec, so operations cannot be named")
		}
		return out, nil
	}
	docSec := openapi.MapGet(spec.Root, "security")
	for _, op := range spec.Operations {
		ids[op.ID] = op
		sec := openapi.MapGet(op.Node, "security")
		if sec == nil {
			sec = docSec
		}
		if sec == nil || len(sec.Content) == 0 {
			out[op] = true
			continue
		}
		// A requirement list containing {} (an empty object) makes
		// authentication optional.
		for _, req := range sec.Content {
			if len(req.Content) == 0 {
				out[op] = true
			}
		}
	}
	for i, id := range public {
		op, ok := ids[id]
		if !ok {
			return nil, fmt.Errorf("public[%d]: no operation %q in the spec", i, id)
		}
		out[op] = true
	}
	for i, id := range protected {
		op, ok := ids[id]
		if !ok {
			return nil, fmt.Errorf("protected[%d]: no operation %q in the spec", i, id)
		}
		delete(out, op)
	}
	return out, nil
}

// requires reports whether the exchange needs an authenticated caller.
func (g *guard) requires(x *pipeline.Exchange) bool {
	if x.Operation == nil {
		return g.unknownReq
	}
	return !g.public[x.Operation]
}

// Request authenticates the caller.
func (g *guard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if g.login != nil {
		if lop := g.login.ops[x.Operation]; lop != nil && x.Operation != nil {
			if v, err := g.login.check(ctx, x, lop); err != nil || v.Action != pipeline.Continue {
				return v, err
			}
		}
	}
	need := g.requires(x)
	var (
		p    *pipeline.Principal
		f    failure
		err  error
		used method
	)
	for _, m := range g.methods {
		if !m.present(x) {
			continue
		}
		used = m
		p, f, err = m.authenticate(ctx, x)
		break
	}
	if err != nil {
		if !need {
			return pipeline.Verdict{}, nil
		}
		return pipeline.Verdict{}, err
	}
	if f.reason != "" {
		if !need {
			// A public operation: bad credentials make an anonymous caller.
			return pipeline.Verdict{}, nil
		}
		return g.refuse(f, used), nil
	}
	if p == nil {
		if need {
			return g.refuse(fail("missing", "no credentials"), nil), nil
		}
		return pipeline.Verdict{}, nil
	}
	if g.revoked.revoked("sub", p.Subject) {
		if !need {
			return pipeline.Verdict{}, nil
		}
		return g.refuse(fail("revoked", "subject revoked"), used), nil
	}
	x.Principal = p
	if jop := g.jose[x.Operation]; jop != nil && x.Operation != nil {
		if v := jop.apply(x); v.Action != pipeline.Continue {
			return v, nil
		}
	}
	if g.warn != nil && p.Method == MethodAPIKey && x.Value(queryKeyUsed{}) != nil {
		return *g.warn, nil
	}
	return pipeline.Verdict{}, nil
}

// reasons are the refusal reasons: client-safe title and the
// error_description of the challenge.
var reasons = map[string]struct{ title, desc string }{
	"missing":              {"Authentication is required.", ""},
	"malformed":            {"The credentials are malformed.", "The access token is malformed"},
	"too_large":            {"The credentials are too large.", "The access token is too large"},
	"expired":              {"The credentials have expired.", "The access token expired"},
	"not_yet_valid":        {"The credentials are not valid yet.", "The access token is not valid yet"},
	"bad_signature":        {"The credentials are not valid.", "The access token signature is invalid"},
	"alg_not_allowed":      {"The credentials are not valid.", "The access token algorithm is not accepted"},
	"unknown_key":          {"The credentials are not valid.", "The access token is signed with an unknown key"},
	"untrusted_key_header": {"The credentials are not valid.", "The access token names keys that are not trusted"},
	"crit_unsupported":     {"The credentials are not valid.", "The access token has unsupported critical headers"},
	"wrong_issuer":         {"The credentials are not valid.", "The access token issuer is not accepted"},
	"wrong_audience":       {"The credentials are not valid.", "The access token audience is not accepted"},
	"wrong_type":           {"The credentials are not valid.", "The access token type is not accepted"},
	"lifetime_too_long":    {"The credentials are not valid.", "The access token lifetime is too long"},
	"missing_claim":        {"The credentials are not valid.", "The access token lacks a required claim"},
	"revoked":              {"The credentials have been revoked.", "The access token has been revoked"},
	"inactive":             {"The credentials are not valid.", "The access token is not active"},
	"bad_api_key":          {"The credentials are not valid.", "The API key is not valid"},
	"bad_client_cert":      {"The client certificate is not accepted.", "The client certificate is not accepted"},
	"hmac_bad_signature":   {"The request signature is not valid.", "The request signature is invalid"},
	"hmac_stale":           {"The request signature is outside the accepted time window.", "The request timestamp is outside the accepted window"},
	"hmac_replay":          {"The request signature has already been used.", "The request nonce was already used"},
}

// challengeFor returns the scheme and realm of the challenge: Bearer when
// a bearer method is configured, else the first method's scheme.
func challengeFor(ms []method, realm string) string {
	scheme := ""
	for _, m := range ms {
		switch m.name() {
		case MethodJWT, MethodIntrospection:
			return `Bearer realm="` + realm + `"`
		case MethodAPIKey:
			if scheme == "" {
				scheme = "APIKey"
			}
		case MethodHMAC:
			if scheme == "" {
				scheme = hmacScheme
			}
		case MethodMTLS:
			if scheme == "" {
				scheme = "Mutual"
			}
		}
	}
	return scheme + ` realm="` + realm + `"`
}

// wwwAuthenticate returns the header of a refusal (RFC 6750 §3: no error
// code when credentials are missing).
func (g *guard) wwwAuthenticate(reason string) http.Header {
	v := g.challenge
	if reason != "missing" {
		v += `, error="invalid_token"`
		if d := reasons[reason].desc; d != "" {
			v += `, error_description="` + d + `"`
		}
	}
	return http.Header{"Www-Authenticate": {v}, "Cache-Control": {"no-store"}}
}

// refuse returns the 401 verdict for a failure.
func (g *guard) refuse(f failure, m method) pipeline.Verdict {
	r, ok := reasons[f.reason]
	if !ok {
		r = reasons["malformed"]
	}
	detail := f.detail
	if m != nil {
		detail = m.name() + ": " + detail
	}
	return pipeline.Verdict{
		Action:   pipeline.Block,
		Status:   http.StatusUnauthorized,
		Rule:     "authn." + f.reason,
		Category: "API2",
		Title:    r.title,
		Detail:   events.RedactText(detail, 256),
		Header:   g.headers[f.reason],
	}
}

// systemEvent emits an event about apiguard's own state (a key set that
// cannot be fetched, a risky setting).
func systemEvent(svc *pipeline.Services, api, rule, verdict, detail string) {
	svc.Emit(events.Event{Time: svc.Now(), Kind: events.KindSystem, API: api, Guard: "authn", Rule: rule,
		Category: "API2", Verdict: verdict, Detail: events.RedactText(detail, 512)})
}

// resolveFile makes a config-relative file name absolute.
func resolveFile(dir, name string) string {
	if name == "" || dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}
