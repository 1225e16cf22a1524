// Package headers is the security-misconfiguration guard for answers
// (OWASP API8): it adds security headers to every upstream answer, strips
// version banners, and handles CORS itself — preflights are answered from
// config before the upstream is reached (request step "cors"), and the
// upstream's own CORS headers are replaced by apiguard's (response step
// "headers"). The request step also answers 405 with Allow for methods
// the spec does not describe on a documented path.
//
// The guard also decides the security headers of apiguard's own answers
// for its API (problems, allowed preflights): the gateway takes them from
// the pipeline, which asks this guard (pipeline.SecurityHeaderer).
//
// The guard is on for every API, even without a headers section; the
// section tunes it, and `enabled: false` turns it off.
package headers

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// Default header values (shared with apiguard's own answers, see
// pipeline.SecurityHeaders).
const (
	DefaultHSTS                  = pipeline.DefaultHSTS
	DefaultContentSecurityPolicy = pipeline.DefaultContentSecurityPolicy
	DefaultFrameOptions          = pipeline.DefaultFrameOptions
	DefaultReferrerPolicy        = pipeline.DefaultReferrerPolicy
	DefaultCacheControl          = "no-store"
)

// DefaultStrip are the response headers that reveal the upstream's
// software and version, removed by default.
var DefaultStrip = []string{
	"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version",
	"X-Runtime", "X-Version", "X-Generator", "X-Drupal-Cache",
	"X-Drupal-Dynamic-Cache", "X-Backend-Server", "X-Application-Context",
	"X-Debug-Token", "X-Debug-Token-Link", "X-Turbo-Charged-By",
	"X-Powered-CMS", "X-Mod-Pagespeed", "X-Page-Speed", "X-Envoy-Upstream-Service-Time",
}

// corsResponseHeaders are the CORS headers an upstream may send; they are
// always removed and replaced by apiguard's own.
var corsResponseHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Expose-Headers", "Access-Control-Max-Age",
	"Access-Control-Allow-Private-Network",
}

// Config is the headers section of an API. Every header field is a
// pointer: absent means the secure default, "" turns that header off.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Enabled turns the guard on. Default true (also without a section).
	Enabled *bool `yaml:"enabled"`
	// HSTS is the Strict-Transport-Security value, sent only on answers
	// to requests that came in over TLS, upstream answers and apiguard's
	// own (refusals, preflights) alike. Default
	// "max-age=31536000; includeSubDomains".
	HSTS *string `yaml:"hsts"`
	// ContentSecurityPolicy is set on JSON answers (and on others that
	// have none). Default "default-src 'none'; frame-ancestors 'none'".
	ContentSecurityPolicy *string `yaml:"content_security_policy"`
	// FrameOptions is X-Frame-Options, set like the CSP. Default DENY.
	FrameOptions *string `yaml:"frame_options"`
	// ReferrerPolicy is Referrer-Policy. Default no-referrer.
	ReferrerPolicy *string `yaml:"referrer_policy"`
	// NoSniff sets X-Content-Type-Options: nosniff. Default true.
	NoSniff *bool `yaml:"nosniff"`
	// CacheControl is set on authenticated answers (a principal, or an
	// Authorization header), replacing the upstream's. Default no-store.
	CacheControl *string `yaml:"cache_control"`
	// Strip replaces the list of banner headers removed. Default
	// DefaultStrip (Server, X-Powered-By, X-AspNet-Version, ...).
	Strip []string `yaml:"strip"`
	// StripExtra adds headers to remove to the Strip list.
	StripExtra []string `yaml:"strip_extra"`
	// Set adds or replaces fixed headers on every answer.
	Set map[string]string `yaml:"set"`
	// CORS is the cross-origin policy. Default: no origin is allowed.
	CORS CORSConfig `yaml:"cors"`
	// MethodNotAllowed answers 405 with Allow when the path is in the spec
	// but the method is not. Default true.
	MethodNotAllowed *bool `yaml:"method_not_allowed"`
}

// policy is a compiled Config, shared by the request and response steps.
type policy struct {
	hsts, csp, frame, referrer, cache string
	nosniff                           bool
	strip                             []string
	set                               [][2]string
	cors                              *cors
	methodNotAllowed                  bool
	// own are the security headers of apiguard's own answers (refusals,
	// preflights) for the API.
	own pipeline.SecurityHeaders
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return strings.TrimSpace(*p)
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// compile applies defaults and validates. It returns nil when the guard is
// disabled.
func compile(c Config) (*policy, error) {
	if err := c.Common.Validate(); err != nil {
		return nil, err
	}
	if !boolOr(c.Enabled, true) {
		return nil, nil
	}
	p := &policy{
		hsts:             strOr(c.HSTS, DefaultHSTS),
		csp:              strOr(c.ContentSecurityPolicy, DefaultContentSecurityPolicy),
		frame:            strOr(c.FrameOptions, DefaultFrameOptions),
		referrer:         strOr(c.ReferrerPolicy, DefaultReferrerPolicy),
		cache:            strOr(c.CacheControl, DefaultCacheControl),
		nosniff:          boolOr(c.NoSniff, true),
		methodNotAllowed: boolOr(c.MethodNotAllowed, true),
	}
	for name, v := range map[string]string{"hsts": p.hsts, "content_security_policy": p.csp, "frame_options": p.frame, "referrer_policy": p.referrer, "cache_control": p.cache} {
		if !validValue(v) {
			return nil, fmt.Errorf("%s: must be a header value without control characters", name)
		}
	}
	if p.hsts != "" && !strings.HasPrefix(strings.ToLower(p.hsts), "max-age=") {
		return nil, fmt.Errorf("hsts: must start with max-age=")
	}
	strip := c.Strip
	if strip == nil {
		strip = DefaultStrip
	}
	for i, h := range append(append([]string{}, strip...), c.StripExtra...) {
		if !validName(h) {
			return nil, fmt.Errorf("strip[%d]: %q is not a header name", i, h)
		}
		p.strip = append(p.strip, http.CanonicalHeaderKey(h))
	}
	for k, v := range c.Set {
		if !validName(k) || !validValue(v) {
			return nil, fmt.Errorf("set.%s: not a valid header", k)
		}
		p.set = append(p.set, [2]string{http.CanonicalHeaderKey(k), v})
	}
	cr, err := compileCORS(c.CORS)
	if err != nil {
		return nil, err
	}
	p.cors = cr
	p.own = p.securityHeaders()
	return p, nil
}

// securityHeaders derives the security headers of apiguard's own answers
// from the policy. The configured hsts wins, "" included (no HSTS: a host
// the operator does not want pinned to HTTPS is not pinned by a refusal
// either). A configured CSP, X-Frame-Options or Referrer-Policy replaces
// the default; turning one off ("") only affects upstream answers: apiguard's
// own answers are its fixed problem JSON or no body at all, which those
// headers cannot break. nosniff and no-store are always set on them.
func (p *policy) securityHeaders() pipeline.SecurityHeaders {
	s := pipeline.DefaultSecurityHeaders
	s.HSTS = p.hsts
	if p.csp != "" {
		s.ContentSecurityPolicy = p.csp
	}
	if p.frame != "" {
		s.FrameOptions = p.frame
	}
	if p.referrer != "" {
		s.ReferrerPolicy = p.referrer
	}
	return s
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// responseGuard is the "headers" response step.
type responseGuard struct{ p *policy }

// SecurityHeaders are the headers of apiguard's own answers for the API.
func (g *responseGuard) SecurityHeaders() pipeline.SecurityHeaders { return g.p.own }

// Response rewrites the answer's headers. It never blocks.
func (g *responseGuard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	g.p.apply(resp.Header, x)
	return pipeline.Verdict{}, nil
}

// apply sets the security headers of p on h for the exchange x.
func (p *policy) apply(h http.Header, x *pipeline.Exchange) {
	for _, k := range p.strip {
		delete(h, k)
	}
	for _, k := range corsResponseHeaders {
		delete(h, k)
	}
	if p.cors != nil {
		p.cors.actual(h, x.Request)
	}
	if p.nosniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	if p.hsts != "" && pipeline.ViaTLS(x.Request) {
		h.Set("Strict-Transport-Security", p.hsts)
	}
	strict := isJSON(h.Get("Content-Type"))
	setOrDefault := func(k, v string) {
		if v == "" {
			return
		}
		if strict || h.Get(k) == "" {
			h.Set(k, v)
		}
	}
	setOrDefault("Content-Security-Policy", p.csp)
	setOrDefault("X-Frame-Options", p.frame)
	if p.referrer != "" {
		h.Set("Referrer-Policy", p.referrer)
	}
	if p.cache != "" && authenticated(x) {
		h.Set("Cache-Control", p.cache)
		h.Del("Expires")
		h.Del("Pragma")
	}
	for _, kv := range p.set {
		h.Set(kv[0], kv[1])
	}
}

// authenticated reports whether the answer is for an identified caller.
func authenticated(x *pipeline.Exchange) bool {
	if x.Principal != nil {
		return true
	}
	return x.Request != nil && (x.Request.Header.Get("Authorization") != "" || x.Request.Header.Get("Cookie") != "")
}

// isJSON reports whether a media type is JSON (application/json, any
// +json) or is missing, so the strict policy applies.
func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
