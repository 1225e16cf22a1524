package headers

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// demobankSection is the section in examples/demobank/apiguard.yaml.
const demobankSection = `
headers:
  cors:
    origins: ["https://app.demobank.example", "http://localhost:3000"]
    methods: [GET, POST, PATCH]
    headers: [Authorization, Content-Type]
    expose_headers: [X-Request-Id]
    credentials: true
`

func TestDemobankSecurityHeaders(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil, "Origin", "https://evil.example")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/accounts = %d %s", resp.StatusCode, body)
	}
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": DefaultContentSecurityPolicy,
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Vary":                    "Origin",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"Server", "X-Powered-By", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Strict-Transport-Security"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("%s = %q, want none (demobank sends it; evil origin; no TLS)", k, v)
		}
	}
	resp, _ = env.Do(t, "GET", "/api/v1/accounts", tok, nil, "Origin", "https://app.demobank.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.demobank.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "X-Request-Id" {
		t.Errorf("allowed origin: CORS headers %v", resp.Header)
	}
}

func TestDemobankPreflight(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	tests := []struct {
		name    string
		origin  string
		method  string
		headers string
		status  int
		rule    string
	}{
		{"allowed", "https://app.demobank.example", "PATCH", "authorization, content-type", 204, RulePreflight},
		{"evil origin", "https://evil.example", "GET", "", 403, RuleCORSDenied},
		{"reflection attempt with suffix", "https://app.demobank.example.evil.example", "GET", "", 403, RuleCORSDenied},
		{"method not allowed", "https://app.demobank.example", "DELETE", "", 403, RuleCORSDenied},
		{"header not allowed", "https://app.demobank.example", "GET", "X-Admin", 403, RuleCORSDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"Origin", tt.origin, "Access-Control-Request-Method", tt.method}
			if tt.headers != "" {
				hdr = append(hdr, "Access-Control-Request-Headers", tt.headers)
			}
			before := len(env.EventsWithRule(tt.rule))
			resp, body := env.Do(t, "OPTIONS", "/api/v1/users/1", "", nil, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("preflight = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			acao := resp.Header.Get("Access-Control-Allow-Origin")
			if tt.status == 204 {
				if acao != tt.origin || resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST, PATCH" ||
					resp.Header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" || resp.Header.Get("Access-Control-Max-Age") != "600" || len(body) != 0 {
					t.Errorf("allowed preflight headers %v body %q", resp.Header, body)
				}
			} else if acao != "" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("refused preflight has CORS headers %v", resp.Header)
			}
			if resp.Header.Get("Server") != "" {
				t.Error("the preflight reached demobank")
			}
			// A refused preflight is a security event; an allowed one is
			// an answer, recorded only in the access log.
			want := before + 1
			if tt.status == 204 {
				want = before
				if a := env.Accesses(); len(a) == 0 || a[len(a)-1].Verdict != "answer" || a[len(a)-1].Rule != tt.rule {
					t.Errorf("access record of the allowed preflight = %+v, want verdict answer, rule %s", a[len(a)-1], tt.rule)
				}
			}
			if got := len(env.EventsWithRule(tt.rule)); got != want {
				t.Errorf("%s events = %d, want %d", tt.rule, got-before, want-before)
			}
		})
	}
}

func TestDemobankMethodNotAllowed(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: "headers: {}"})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "DELETE", "/api/v1/users/1", tok, nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, PATCH, HEAD" {
		t.Fatalf("DELETE /api/v1/users/1 = %d Allow %q %s, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	if p := gatewaytest.Problem(t, body); p["type"] != pipeline.ProblemTypeBase+RuleMethodNotAllowed {
		t.Errorf("problem = %v", p)
	}
	// HEAD on a GET path is the GET operation for the gateway: not refused here
	// (demobank itself has no HEAD routes; whatever it answers is its own)
	n := len(env.EventsWithRule(RuleMethodNotAllowed))
	env.Do(t, "HEAD", "/api/v1/users/1", tok, nil)
	if len(env.EventsWithRule(RuleMethodNotAllowed)) != n {
		t.Errorf("HEAD on a GET path was refused by %s", RuleMethodNotAllowed)
	}
	resp, _ = env.Do(t, "TRACE", "/api/v1/users/1", tok, nil)
	if resp.StatusCode != 501 {
		t.Errorf("TRACE = %d, want 501 (the core refuses it)", resp.StatusCode)
	}
}

func TestDemobankDefaultOnAndDisabled(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	resp, _ := env.Do(t, "GET", "/.well-known/jwks.json", "", nil, "Origin", "https://evil.example")
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("without a section: headers %v, want the guard on", resp.Header)
	}
	if resp.Header.Get("Cache-Control") == "no-store" {
		t.Errorf("an unauthenticated answer keeps its Cache-Control")
	}
	env = gatewaytest.Start(t, gatewaytest.Options{Guards: "headers: {enabled: false}"})
	resp, _ = env.Do(t, "GET", "/.well-known/jwks.json", "", nil, "Origin", "https://evil.example")
	if resp.Header.Get("Server") != "demobank" || resp.Header.Get("Access-Control-Allow-Origin") != "https://evil.example" {
		t.Errorf("enabled: false: headers %v, want demobank's", resp.Header)
	}
}

func TestApply(t *testing.T) {
	p, err := compile(Config{StripExtra: []string{"X-Internal"}, Set: map[string]string{"Permissions-Policy": "geolocation=()"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		tls   bool
		auth  bool
		in    http.Header
		check map[string]string // "" means absent
	}{
		{"tls gets hsts", true, false, http.Header{"Content-Type": {"application/json"}}, map[string]string{"Strict-Transport-Security": DefaultHSTS}},
		{"authenticated answers are not cached", false, true, http.Header{"Cache-Control": {"public, max-age=600"}, "Expires": {"x"}}, map[string]string{"Cache-Control": "no-store", "Expires": ""}},
		{"html keeps its own CSP", false, false, http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"default-src 'self'"}}, map[string]string{"Content-Security-Policy": "default-src 'self'"}},
		{"json gets the strict CSP", false, false, http.Header{"Content-Type": {"application/problem+json"}, "Content-Security-Policy": {"default-src *"}}, map[string]string{"Content-Security-Policy": DefaultContentSecurityPolicy}},
		{"banners and extras stripped", false, false, http.Header{"X-Aspnet-Version": {"4"}, "X-Runtime": {"0.1"}, "X-Internal": {"a"}, "Access-Control-Allow-Origin": {"*"}}, map[string]string{"X-Aspnet-Version": "", "X-Runtime": "", "X-Internal": "", "Access-Control-Allow-Origin": "", "Permissions-Policy": "geolocation=()"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.auth {
				r.Header.Set("Authorization", "Bearer x")
			}
			x := &pipeline.Exchange{Request: r}
			p.apply(tt.in, x)
			for k, v := range tt.check {
				if got := tt.in.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{CORS: CORSConfig{Origins: []string{"*"}, Credentials: true}}, "cannot be used with credentials"},
		{Config{CORS: CORSConfig{Origins: []string{"null"}}}, "never allowed"},
		{Config{CORS: CORSConfig{Origins: []string{"https://app.example.com/path"}}}, "cors.origins[0]"},
		{Config{CORS: CORSConfig{Origins: []string{"ftp://x.example"}}}, "cors.origins[0]"},
		{Config{CORS: CORSConfig{Origins: []string{"https://*.com"}}}, "two labels"},
		{Config{CORS: CORSConfig{Methods: []string{"TRACE"}}}, "never allowed"},
		{Config{CORS: CORSConfig{Headers: []string{"*"}}}, "cors.headers[0]"},
		{Config{HSTS: ptr("includeSubDomains")}, "hsts: must start"},
		{Config{Set: map[string]string{"X-A": "a\nb"}}, "set.X-A"},
	} {
		if _, err := compile(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compile(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestAllowOrigin(t *testing.T) {
	c, err := compileCORS(CORSConfig{Origins: []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000", "https://api.example.net:443"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://app.example.com", false},
		{"https://APP.example.com", false}, // not what a browser sends
		{"https://app.example.com:443", false},
		{"https://app.example.com.evil.com", false},
		{"https://evilapp.example.com", false},
		{"https://a.example.org", true},
		{"https://a.b.example.org", true},
		{"https://example.org", false},
		{"https://xexample.org", false},
		{"http://localhost:3000", true},
		{"http://localhost:3001", false},
		{"https://api.example.net", true},
		{"null", false},
		{"https://user@app.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := c.allow(tt.origin)
		if ok != tt.ok || ok && got != tt.origin {
			t.Errorf("allow(%q) = %q, %v, want %v", tt.origin, got, ok, tt.ok)
		}
	}
	star, _ := compileCORS(CORSConfig{Origins: []string{"*"}})
	if got, ok := star.allow("https://x.example"); got != "*" || !ok {
		t.Errorf("allow with * = %q, %v, want *", got, ok)
	}
}

func FuzzAllowOrigin(f *testing.F) {
	for _, s := range []string{"https://a.example.org", "http://[::1]:8080", "https://app.example.com", "https://x.example.org.", "http://a:0"} {
		f.Add(s)
	}
	c, err := compileCORS(CORSConfig{Origins: []string{"https://app.example.com", "https://*.example.org", "http://[::1]:8080"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		got, ok := c.allow(origin)
		if !ok {
			return
		}
		// an allowed origin is echoed verbatim and is one of the configured ones
		if got != origin {
			t.Fatalf("allow(%q) echoed %q", origin, got)
		}
		if origin != "https://app.example.com" && origin != "http://[::1]:8080" &&
			!(strings.HasPrefix(origin, "https://") && strings.HasSuffix(origin, ".example.org") && len(origin) > len("https://.example.org")) {
			t.Fatalf("allow(%q) = true for an origin not configured", origin)
		}
		if strings.ContainsAny(origin, "/@?#\\ \r\n") && strings.Count(origin, "/") != 2 {
			t.Fatalf("allow(%q) accepted a path or userinfo", origin)
		}
	})
}

// A refusal by apiguard carries the CORS headers of an allowed origin, so
// the page can read it, and none for another origin.
func TestRefusalsCarryCORSForAllowedOrigins(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
headers:
  cors:
    origins: ["https://app.demobank.example"]
    credentials: true
`})
	tok := env.Login(t, "alice")
	for _, tt := range []struct{ origin, wantACAO string }{
		{"https://app.demobank.example", "https://app.demobank.example"},
		{"https://evil.example", ""},
	} {
		resp, body := env.Do(t, "DELETE", "/api/v1/users/1", tok, nil, "Origin", tt.origin)
		if resp.StatusCode != 405 {
			t.Fatalf("DELETE = %d %s, want 405", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
			t.Errorf("405 for origin %s: Access-Control-Allow-Origin = %q, want %q", tt.origin, got, tt.wantACAO)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("refusal lacks security headers: %v", resp.Header)
		}
	}
}

// apiguard's own answers for the API — the allowed preflight this guard
// answers, a refused one, a 405 — carry the security headers, with this
// guard's HSTS over TLS.
func TestOwnAnswersCarrySecurityHeaders(t *testing.T) {
	for _, tt := range []struct {
		name, section, hsts string
	}{
		{"default hsts", demobankSection, DefaultHSTS},
		{"configured hsts", demobankSection + "  hsts: \"max-age=600\"\n", "max-age=600"},
		{"hsts off", demobankSection + "  hsts: \"\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := gatewaytest.Start(t, gatewaytest.Options{Guards: tt.section})
			preflight := func(origin string) *http.Request {
				r := httptest.NewRequest("OPTIONS", "/api/v1/users/1", nil)
				r.Header.Set("Origin", origin)
				r.Header.Set("Access-Control-Request-Method", "PATCH")
				return r
			}
			for _, c := range []struct {
				name   string
				r      *http.Request
				tls    bool
				status int
			}{
				{"allowed preflight over TLS", preflight("https://app.demobank.example"), true, 204},
				{"allowed preflight over plain HTTP", preflight("https://app.demobank.example"), false, 204},
				{"refused preflight over TLS", preflight("https://evil.example"), true, 403},
				{"405 over TLS", httptest.NewRequest("DELETE", "/api/v1/users/1", nil), true, 405},
			} {
				if c.tls {
					c.r.TLS = &tls.ConnectionState{}
				}
				rec := httptest.NewRecorder()
				env.Gateway.ServeHTTP(rec, c.r)
				if rec.Code != c.status {
					t.Fatalf("%s = %d %s, want %d", c.name, rec.Code, rec.Body, c.status)
				}
				want := map[string]string{
					"X-Content-Type-Options":    "nosniff",
					"Cache-Control":             "no-store",
					"Content-Security-Policy":   DefaultContentSecurityPolicy,
					"X-Frame-Options":           DefaultFrameOptions,
					"Referrer-Policy":           DefaultReferrerPolicy,
					"Strict-Transport-Security": "",
				}
				if c.tls {
					want["Strict-Transport-Security"] = tt.hsts
				}
				if c.status == 204 {
					// The preflight stays cacheable by the browser.
					want["Access-Control-Max-Age"] = "600"
					want["Access-Control-Allow-Origin"] = "https://app.demobank.example"
				}
				for k, v := range want {
					if got := rec.Header().Get(k); got != v {
						t.Errorf("%s: %s = %q, want %q", c.name, k, got, v)
					}
				}
			}
		})
	}
}

// The security headers of apiguard's own answers follow the section: a
// configured value replaces the default; "off" turns HSTS off but leaves
// the defaults of the other headers (harmless on apiguard's fixed bodies).
func TestOwnSecurityHeadersFromConfig(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tt := range []struct {
		name string
		cfg  Config
		want pipeline.SecurityHeaders
	}{
		{"defaults", Config{}, pipeline.SecurityHeaders{HSTS: DefaultHSTS, ContentSecurityPolicy: DefaultContentSecurityPolicy, FrameOptions: DefaultFrameOptions, ReferrerPolicy: DefaultReferrerPolicy}},
		{"configured", Config{HSTS: s("max-age=600"), ContentSecurityPolicy: s("default-src 'self'"), FrameOptions: s("SAMEORIGIN"), ReferrerPolicy: s("same-origin")},
			pipeline.SecurityHeaders{HSTS: "max-age=600", ContentSecurityPolicy: "default-src 'self'", FrameOptions: "SAMEORIGIN", ReferrerPolicy: "same-origin"}},
		{"off", Config{HSTS: s(""), ContentSecurityPolicy: s(""), FrameOptions: s(""), ReferrerPolicy: s("")},
			pipeline.SecurityHeaders{ContentSecurityPolicy: DefaultContentSecurityPolicy, FrameOptions: DefaultFrameOptions, ReferrerPolicy: DefaultReferrerPolicy}},
	} {
		p, err := compile(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&requestGuard{p: p}).SecurityHeaders(); got != tt.want {
			t.Errorf("%s: request step %+v, want %+v", tt.name, got, tt.want)
		}
		if got := (&responseGuard{p: p}).SecurityHeaders(); got != tt.want {
			t.Errorf("%s: response step %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
