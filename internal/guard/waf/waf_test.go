package waf

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

var (
	testOnce  sync.Once
	testGuard *Guard
	testSpec  *openapi.Spec
	testErr   error
)

// guardForTest builds one paranoia-1 guard over demobank's spec, shared
// by the tests (building the CRS takes a while on a small machine).
func guardForTest(t testing.TB) *Guard {
	t.Helper()
	testOnce.Do(func() {
		testSpec, testErr = openapi.Parse(demobank.Spec)
		if testErr == nil {
			testGuard, testErr = newGuard(Config{}, testSpec)
		}
	})
	if testErr != nil {
		t.Fatal(testErr)
	}
	return testGuard
}

// run sends one request through the guard as the gateway would.
func run(t testing.TB, g *Guard, method, target, ctype, body string, hdr ...string) pipeline.Verdict {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.Header.Set("User-Agent", "demo-client/1.0")
	r.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	x := pipeline.NewExchange()
	defer x.Release()
	x.Request = r
	x.Path = r.URL.Path
	if g.spec != nil {
		x.Operation, x.PathParams, _ = g.spec.Match(r.Method, r.URL.Path, nil)
	}
	v, err := g.Request(context.Background(), x)
	if err != nil {
		t.Fatalf("Request(%s %s) error = %v", method, target, err)
	}
	return v
}

func TestBasics(t *testing.T) {
	g := guardForTest(t)
	t.Logf("prefilter: %d sigma-live links of %d rules", len(g.argLinks), len(g.rules))
	tests := []struct {
		name, method, target, ctype, body string
		want                              string
	}{
		{"search clean", "GET", "/api/v1/search?q=coffee", "", "", ""},
		{"search sqli", "GET", "/api/v1/search?q=%27%20OR%201%3D1--", "", "", "waf."},
		{"account", "GET", "/api/v1/accounts/102", "", "", ""},
		{"e-mail in a path parameter is not a .com file", "GET", "/api/v1/accounts/alice%40example.com", "", "", ""},
		{"restricted extension outside the spec", "GET", "/backup.sql", "", "", "waf.920440"},
		{"restricted extension on a literal segment", "GET", "/api/v1/accounts.bak", "", "", "waf.920440"},
		{"transfer clean", "POST", "/api/v1/transfers", "application/json", `{"from_account_id":101,"to_account_id":202,"amount":5,"currency":"EUR","memo":"Lunch, thanks!"}`, ""},
		{"transfer xss", "POST", "/api/v1/transfers", "application/json", `{"from_account_id":101,"to_account_id":202,"amount":5,"currency":"EUR","memo":"<script>alert(1)</script>"}`, "waf."},
		{"xxe", "POST", "/api/v1/transfers", "application/xml", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`, "waf.xml_dtd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := run(t, g, tt.method, tt.target, tt.ctype, tt.body)
			if !strings.HasPrefix(v.Rule, tt.want) || (tt.want == "") != (v.Action == pipeline.Continue) {
				t.Errorf("Request(%s %s) = %v %q %s, want %q", tt.method, tt.target, v.Action, v.Rule, v.Detail, tt.want)
			}
		})
	}
}

// TestEventsSayWhere checks that a refusal's detail names the matched
// location and a redacted excerpt, whichever path decided it: the full
// run (an attack in a value) or the envelope (an attack in a header, all
// values cleared), first run and remembered envelope alike.
func TestEventsSayWhere(t *testing.T) {
	g := guardForTest(t)
	shellshock := "() { :; }; /bin/bash -c 'cat /etc/passwd' " + strings.Repeat("x", 80) + "TAIL"
	tests := []struct {
		name, target string
		hdr          []string
		where        string
	}{
		{"query value", "/api/v1/search?q=%27%20OR%201%3D1--", nil, "ARGS_GET:q="},
		{"header, envelope first run", "/api/v1/search?q=coffee", []string{"Referer", shellshock}, "REQUEST_HEADERS:referer="},
		{"header, envelope remembered", "/api/v1/search?q=coffee", []string{"Referer", shellshock}, "REQUEST_HEADERS:referer="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := run(t, g, "GET", tt.target, "", "", tt.hdr...)
			if v.Action == pipeline.Continue || !strings.Contains(v.Detail, tt.where) {
				t.Fatalf("Request(%s) = %v %q %q, want a refusal whose detail names %q", tt.target, v.Action, v.Rule, v.Detail, tt.where)
			}
			if strings.Contains(v.Detail, "TAIL") {
				t.Errorf("detail %q carries the whole value, want a short excerpt", v.Detail)
			}
		})
	}
}
