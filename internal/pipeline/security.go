package pipeline

import "net/http"

// Default values of the security headers. The headers guard uses the same
// ones for upstream answers; they are defined once, here.
const (
	// DefaultHSTS is the Strict-Transport-Security of an API's answers
	// when its headers guard runs with the default hsts setting.
	DefaultHSTS = "max-age=31536000; includeSubDomains"
	// DefaultOwnHSTS is the Strict-Transport-Security of apiguard's own
	// answers when no headers guard decides it (no API matched the
	// request, or the API's headers guard is disabled): a year, for the
	// host that answered only. Whether subdomains are pinned too is the
	// operator's choice, made in an API's headers section.
	DefaultOwnHSTS               = "max-age=31536000"
	DefaultContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
	DefaultFrameOptions          = "DENY"
	DefaultReferrerPolicy        = "no-referrer"
)

// SecurityHeaders are the security headers of apiguard's own answers: the
// problems it writes (refusals, upstream failures) and the answers a guard
// gives itself (an allowed CORS preflight). The gateway takes them from the
// API's pipeline (Pipeline.SecurityHeaders): the headers guard's settings
// when it runs for the API, DefaultSecurityHeaders otherwise.
type SecurityHeaders struct {
	// HSTS is Strict-Transport-Security, sent only on answers to requests
	// that came in over TLS (ViaTLS). "" sends none.
	HSTS string
	// ContentSecurityPolicy, FrameOptions (X-Frame-Options) and
	// ReferrerPolicy are sent when not "".
	ContentSecurityPolicy string
	FrameOptions          string
	ReferrerPolicy        string
}

// DefaultSecurityHeaders are the security headers of apiguard's own
// answers when no headers guard decides them.
var DefaultSecurityHeaders = SecurityHeaders{
	HSTS:                  DefaultOwnHSTS,
	ContentSecurityPolicy: DefaultContentSecurityPolicy,
	FrameOptions:          DefaultFrameOptions,
	ReferrerPolicy:        DefaultReferrerPolicy,
}

// SecurityHeaderer is implemented by the guard that decides the security
// headers of apiguard's own answers for its API (the headers guard).
type SecurityHeaderer interface {
	SecurityHeaders() SecurityHeaders
}

// ViaTLS reports whether r came in over TLS, the condition for sending
// Strict-Transport-Security (browsers ignore it over plain HTTP anyway).
func ViaTLS(r *http.Request) bool { return r != nil && r.TLS != nil }

// Set puts the security headers on h, the header of an answer to r:
// always X-Content-Type-Options: nosniff and Cache-Control: no-store (an
// answer apiguard writes itself is never for a cache), the CSP,
// X-Frame-Options and Referrer-Policy of s, and s.HSTS when r came in
// over TLS. Other headers of h (CORS, Allow, Retry-After, ...) are left
// alone.
//
// Cache-Control: no-store on an allowed CORS preflight does not stop
// browsers from caching the preflight: the Fetch standard's CORS-preflight
// cache is separate from the HTTP cache and is governed by
// Access-Control-Max-Age alone (its "CORS-preflight fetch" creates cache
// entries from that header, never from Cache-Control), and answers to
// OPTIONS are not cacheable by HTTP caches in the first place (RFC 9110,
// 9.3.7). no-store only keeps intermediaries from storing the answer.
func (s SecurityHeaders) Set(h http.Header, r *http.Request) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set("Content-Security-Policy", s.ContentSecurityPolicy)
	set("X-Frame-Options", s.FrameOptions)
	set("Referrer-Policy", s.ReferrerPolicy)
	if ViaTLS(r) {
		set("Strict-Transport-Security", s.HSTS)
	}
}
