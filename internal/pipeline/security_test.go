package pipeline

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// shGuard is a request guard that decides the security headers.
type shGuard struct {
	fixedGuard
	s SecurityHeaders
}

func (g *shGuard) SecurityHeaders() SecurityHeaders { return g.s }

func TestWriteProblemForSecurityHeaders(t *testing.T) {
	custom := SecurityHeaders{HSTS: "max-age=600", ContentSecurityPolicy: "default-src 'none'", FrameOptions: "SAMEORIGIN", ReferrerPolicy: "same-origin"}
	tests := []struct {
		name  string
		url   string // https:// makes httptest set r.TLS
		s     SecurityHeaders
		check map[string]string // "" means absent
	}{
		{"plain HTTP: no HSTS", "http://api.example/x", DefaultSecurityHeaders, map[string]string{
			"Strict-Transport-Security": "", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
			"Content-Security-Policy": DefaultContentSecurityPolicy, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		}},
		{"TLS: default HSTS", "https://api.example/x", DefaultSecurityHeaders, map[string]string{
			"Strict-Transport-Security": DefaultOwnHSTS, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		}},
		{"TLS: the guard's values win", "https://api.example/x", custom, map[string]string{
			"Strict-Transport-Security": "max-age=600", "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "SAMEORIGIN",
			"Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		}},
		{"TLS: HSTS turned off", "https://api.example/x", SecurityHeaders{ContentSecurityPolicy: "x"}, map[string]string{
			"Strict-Transport-Security": "", "X-Content-Type-Options": "nosniff",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteProblemFor(rec, httptest.NewRequest("GET", tt.url, nil), tt.s, Problem{Status: 401, RequestID: "r"})
			if rec.Code != 401 || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("WriteProblemFor() = %d %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			for k, v := range tt.check {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	// Without the request (admin APIs, egress) there is no HSTS, the rest is there.
	rec := httptest.NewRecorder()
	WriteProblem(rec, Problem{Status: 400})
	if h := rec.Header(); h.Get("Strict-Transport-Security") != "" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("WriteProblem headers = %v", h)
	}
}

// Set leaves the other headers of an answer (an allowed preflight's
// Access-Control-*) alone.
func TestSecurityHeadersSetKeepsOthers(t *testing.T) {
	h := http.Header{"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Origin": {"https://app.example"}}
	DefaultSecurityHeaders.Set(h, httptest.NewRequest("OPTIONS", "https://api.example/x", nil))
	if h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		h.Get("Strict-Transport-Security") != DefaultOwnHSTS || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", h)
	}
}

func TestPipelineSecurityHeaders(t *testing.T) {
	var none *Pipeline
	if got := none.SecurityHeaders(); got != DefaultSecurityHeaders {
		t.Errorf("nil pipeline: %+v, want the defaults", got)
	}
	p, err := New([]Step{{Name: "waf", Request: &fixedGuard{}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.SecurityHeaders(); got != DefaultSecurityHeaders {
		t.Errorf("no SecurityHeaderer: %+v, want the defaults", got)
	}
	want := SecurityHeaders{HSTS: "max-age=600"}
	p, err = New([]Step{{Name: "waf", Request: &fixedGuard{}}, {Name: "cors", Request: &shGuard{s: want}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.SecurityHeaders(); got != want {
		t.Errorf("with a SecurityHeaderer: %+v, want %+v", got, want)
	}
}
