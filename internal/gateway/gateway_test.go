package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

const oneAPI = `
admin: {listen: "off"}
apis:
  - name: bank
    upstream: {urls: ["${UP0}"]}
    limits: {max_body_bytes: 1KiB}
`

func TestPassThrough(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, oneAPI, map[string]string{"UP0": up.URL})
	req, _ := http.NewRequest("GET", tg.url+"/api/v1/users/Zo%C3%AB?q=1&b=%20", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")    // a client cannot choose its address
	req.Header.Set("X-Request-Id", "client-chosen") // nor its request id
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("X-Request-Id")
	var got echoed
	getJSON(t, resp, &got)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	checks := []struct{ name, got, want string }{
		{"upstream path", got.Path, "/api/v1/users/Zoë"},
		{"upstream query", got.Query, "q=1&b=%20"},
		{"X-Forwarded-For", strings.Join(got.Header["X-Forwarded-For"], ","), "127.0.0.1"},
		{"X-Request-Id upstream", strings.Join(got.Header["X-Request-Id"], ","), id},
		{"X-Forwarded-Proto", strings.Join(got.Header["X-Forwarded-Proto"], ","), "http"},
		{"X-Forwarded-Host", strings.Join(got.Header["X-Forwarded-Host"], ","), tg.addr},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if id == "" || id == "client-chosen" {
		t.Errorf("X-Request-Id = %q, want a generated id", id)
	}
	a := tg.rec.lastAccess(t)
	if a.Status != 200 || a.RequestID != id || a.API != "bank" || a.ClientIP != "127.0.0.1" || a.Upstream == "" {
		t.Errorf("access record = %+v", a)
	}
}

// The upstream receives exactly the canonical path the guards saw.
func TestCanonicalPathUpstream(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, oneAPI, map[string]string{"UP0": up.URL})
	tests := []struct {
		target, wantURI string
	}{
		{"/a/./b/../c", "/a/c"},
		{"//a///b", "/a/b"},
		{"/files/100%25off", "/files/100%25off"},
		{"/a%20b", "/a%20b"},
		{"/users/Zo%C3%AB", "/users/Zo%C3%AB"},
		{"/x?y=1", "/x?y=1"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp, body := raw(t, tg.addr, "GET "+tt.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if resp == nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s = %v %s, want 200", tt.target, resp, body)
			}
			var got echoed
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.URI != tt.wantURI {
				t.Errorf("upstream request URI = %q, want %q", got.URI, tt.wantURI)
			}
		})
	}
}

func TestProtocolRejections(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, oneAPI, map[string]string{"UP0": up.URL})
	tests := []struct {
		name, request string
		wantStatus    int
	}{
		{"encoded dot segment", "GET /api/%2e%2e/internal/debug HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded slash", "GET /api/v1%2fadmin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"double encoding", "GET /api/%252e%252e/x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"NUL", "GET /api/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"semicolon", "GET /admin;x=1/users HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"backslash", "GET /api\\..\\x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"method override", "POST /api/x HTTP/1.1\r\nHost: x\r\nX-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\n\r\n", 400},
		{"TRACE", "TRACE /api/x HTTP/1.1\r\nHost: x\r\n\r\n", 501},
		{"obs-fold", "GET /api/x HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"bare LF", "GET /api/x HTTP/1.1\nHost: x\n\n", 400},
		{"TE on HTTP/1.0", "POST /api/x HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"CL and TE", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two different CL", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"body over the limit", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("a", 2048), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := raw(t, tg.addr, tt.request)
			if resp == nil {
				t.Fatalf("no answer, want %d", tt.wantStatus)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				return // refused by net/http itself, before apiguard's handler
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("problem body %q: %v", body, err)
			}
			if p["request_id"] == "" || p["request_id"] != resp.Header.Get("X-Request-Id") {
				t.Errorf("problem request_id = %v, header %q", p["request_id"], resp.Header.Get("X-Request-Id"))
			}
			if !strings.HasPrefix(fmt.Sprint(p["type"]), "https://apiguard.dev/problems/") {
				t.Errorf("problem type = %v", p["type"])
			}
		})
	}
}

// A chunked body with no Content-Length is cut at the limit while it
// streams to the upstream.
func TestStreamingBodyLimit(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, oneAPI, map[string]string{"UP0": up.URL})
	chunk := strings.Repeat("a", 1500)
	req := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk)
	resp, body := raw(t, tg.addr, req)
	if resp == nil || resp.StatusCode != 413 {
		t.Fatalf("chunked body over the limit = %v %s, want 413", resp, body)
	}
	small := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", 100, chunk[:100])
	resp, body = raw(t, tg.addr, small)
	if resp == nil || resp.StatusCode != 200 || !strings.Contains(body, `"body_bytes":100`) {
		t.Fatalf("chunked body under the limit = %v %s, want 200 with 100 bytes upstream", resp, body)
	}
}

func TestRouting(t *testing.T) {
	a, b, c := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c")
	doc := `
admin: {listen: "off"}
apis:
  - name: default
    upstream: {urls: ["${UP0}"]}
  - name: v2
    match: {path_prefix: /v2, strip_prefix: true}
    upstream: {urls: ["${UP1}/base"]}
  - name: hosted
    match: {hosts: [api.example.com, "*.tenants.example.com"]}
    upstream: {urls: ["${UP2}"]}
`
	tg := startGateway(t, doc, map[string]string{"UP0": a.URL, "UP1": b.URL, "UP2": c.URL})
	tests := []struct {
		host, path, wantName, wantPath string
	}{
		{"x", "/anything", "a", "/anything"},
		{"x", "/v2", "b", "/base/"},
		{"x", "/v2/users", "b", "/base/users"},
		{"x", "/v2x/users", "a", "/v2x/users"}, // prefixes end on a segment boundary
		{"api.example.com", "/v2/users", "c", "/v2/users"},
		{"API.EXAMPLE.COM:8080", "/z", "c", "/z"},
		{"one.tenants.example.com", "/z", "c", "/z"},
		{"a.b.tenants.example.com", "/z", "a", "/z"}, // * is one label
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tg.url+tt.path, nil)
			req.Host = tt.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got echoed
			getJSON(t, resp, &got)
			if got.Name != tt.wantName || got.Path != tt.wantPath {
				t.Errorf("%s%s went to %s%s, want %s%s", tt.host, tt.path, got.Name, got.Path, tt.wantName, tt.wantPath)
			}
		})
	}
}

func TestNoAPI(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, "admin: {listen: \"off\"}\napis:\n  - name: a\n    match: {path_prefix: /api}\n    upstream: {urls: [\"${UP0}\"]}\n", map[string]string{"UP0": up.URL})
	resp, err := http.Get(tg.url + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /other = %d %s, want 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestUpstreamFailuresAndHealth(t *testing.T) {
	live := echoUpstream(t, "live")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // connection refused from now on
	doc := `
admin: {listen: "off"}
apis:
  - name: a
    upstream:
      urls: ["${UP0}", "${UP1}"]
      health: {max_fails: 2, cooldown: 1m}
`
	tg := startGateway(t, doc, map[string]string{"UP0": deadURL, "UP1": live.URL})
	var failures, ok int
	for i := 0; i < 20; i++ {
		resp, err := http.Get(tg.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			ok++
		case 502:
			failures++
			if strings.Contains(string(body), "refused") || strings.Contains(string(body), "127.0.0.1") {
				t.Errorf("502 answer leaks internals: %s", body)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if failures != 2 || ok != 18 {
		t.Errorf("failures, ok = %d, %d; want 2, 18 (the dead upstream skipped after max_fails)", failures, ok)
	}
	if n := len(tg.rec.eventsWithRule("upstream.unavailable")); n != 2 {
		t.Errorf("upstream.unavailable events = %d, want 2", n)
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	tg := startGateway(t, "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\", \"${UP1}\"]}\n", map[string]string{"UP0": a.URL, "UP1": b.URL})
	counts := map[string]int{}
	for i := 0; i < 10; i++ {
		resp, err := http.Get(tg.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		var got echoed
		getJSON(t, resp, &got)
		counts[got.Name]++
	}
	if counts["a"] != 5 || counts["b"] != 5 {
		t.Errorf("round robin counts = %v, want 5 and 5", counts)
	}
}

func TestClientIPAndRequestID(t *testing.T) {
	up := echoUpstream(t, "a")
	tests := []struct {
		name        string
		trusted     string
		xff         string
		rid         string
		wantClient  string
		wantXFF     string
		wantTrusted bool
	}{
		{"no trusted proxies: header ignored", "[]", "1.2.3.4", "abc", "127.0.0.1", "127.0.0.1", false},
		{"trusted peer: last hop", "[127.0.0.1/32]", "1.2.3.4", "abc", "1.2.3.4", "1.2.3.4, 127.0.0.1", true},
		{"trusted peer: spoofed left entries ignored", "[127.0.0.1/32]", "6.6.6.6, 1.2.3.4", "abc", "1.2.3.4", "6.6.6.6, 1.2.3.4, 127.0.0.1", true},
		{"chain of trusted proxies", "[127.0.0.0/8, 10.0.0.0/8]", "9.9.9.9, 10.1.1.1", "abc", "9.9.9.9", "9.9.9.9, 10.1.1.1, 127.0.0.1", true},
		{"garbage hop", "[127.0.0.1/32]", "1.2.3.4, not-an-ip", "abc", "127.0.0.1", "1.2.3.4, not-an-ip, 127.0.0.1", true},
		{"invalid request id from trusted", "[127.0.0.1/32]", "1.2.3.4", "bad id\"", "1.2.3.4", "1.2.3.4, 127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "admin: {listen: \"off\"}\nserver: {trusted_proxies: " + tt.trusted + "}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n"
			tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
			req, _ := http.NewRequest("GET", tg.url+"/x", nil)
			req.Header.Set("X-Forwarded-For", tt.xff)
			req.Header.Set("X-Request-Id", tt.rid)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got echoed
			getJSON(t, resp, &got)
			a := tg.rec.lastAccess(t)
			if a.ClientIP != tt.wantClient {
				t.Errorf("client IP = %q, want %q", a.ClientIP, tt.wantClient)
			}
			if x := strings.Join(got.Header["X-Forwarded-For"], ", "); x != tt.wantXFF {
				t.Errorf("upstream X-Forwarded-For = %q, want %q", x, tt.wantXFF)
			}
			if (resp.Header.Get("X-Request-Id") == tt.rid) != tt.wantTrusted {
				t.Errorf("request id = %q (sent %q), want trusted=%v", resp.Header.Get("X-Request-Id"), tt.rid, tt.wantTrusted)
			}
		})
	}
}

func TestGuardModesThroughGateway(t *testing.T) {
	up := echoUpstream(t, "a")
	tests := []struct {
		name       string
		section    string
		apiMode    string
		path       string
		wantStatus int
		wantRule   string
		wantVerd   string
	}{
		{"block", "{block_path: /secret}", "enforce", "/secret", 403, "denylist.test", "block"},
		{"allow", "{block_path: /secret}", "enforce", "/open", 200, "", ""},
		{"guard in monitor mode", "{block_path: /secret, mode: monitor}", "enforce", "/secret", 200, "denylist.test", "observe"},
		{"API in monitor mode", "{block_path: /secret}", "monitor", "/secret", 200, "denylist.test", "observe"},
		{"failure closed", "{fail_path: /f}", "enforce", "/f", 503, "denylist.failure", "error"},
		{"failure open", "{fail_path: /f, fail: open}", "enforce", "/f", 200, "denylist.failure", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "admin: {listen: \"off\"}\napis:\n  - name: a\n    mode: " + tt.apiMode + "\n    upstream: {urls: [\"${UP0}\"]}\n    guards: {testguard: " + tt.section + "}\n"
			tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
			resp, err := http.Get(tg.url + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if strings.Contains(string(body), "secret detail") || strings.Contains(string(body), "backend down") {
				t.Errorf("answer leaks internals: %s", body)
			}
			if tt.wantRule == "" {
				if n := len(tg.rec.events); n != 0 {
					t.Errorf("events = %v, want none", tg.rec.events)
				}
				return
			}
			evs := tg.rec.eventsWithRule(tt.wantRule)
			if len(evs) != 1 || evs[0].Verdict != tt.wantVerd || evs[0].Guard != "denylist" {
				t.Errorf("events with %s = %+v, want one %s", tt.wantRule, evs, tt.wantVerd)
			}
		})
	}
}

func TestResponseGuard(t *testing.T) {
	up := echoUpstream(t, "a")
	doc := "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n    guards: {testrespguard: {block_path: /withheld}}\n"
	tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
	resp, err := http.Get(tg.url + "/fine")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Test-Response-Guard") != "seen" {
		t.Errorf("response guard did not run on /fine")
	}
	resp, err = http.Get(tg.url + "/withheld")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || strings.Contains(string(body), `"name":"a"`) {
		t.Errorf("blocked answer = %d %s, want 502 without the upstream body", resp.StatusCode, body)
	}
}

func TestUnknownGuardFieldNamesThePath(t *testing.T) {
	up := echoUpstream(t, "a")
	doc := "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n    guards: {testguard: {blockpath: /x}}\n"
	cfg, err := parseForTest(doc, map[string]string{"UP0": up.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "apis[0].guards.testguard.blockpath: unknown field") {
		t.Errorf("New() error = %v, want the unknown field named with its path", err)
	}
	doc = "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n    guards: {testguard: {mode: enforcing}}\n"
	cfg, _ = parseForTest(doc, map[string]string{"UP0": up.URL})
	if _, err = New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "apis[0].guards.testguard.mode") {
		t.Errorf("New() error = %v, want the bad mode named with its path", err)
	}
}

func TestSubrequest(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n    guards: {testguard: {block_path: /secret}}\n", map[string]string{"UP0": up.URL})
	parent := httptest.NewRequest("POST", "/transfers", strings.NewReader(`{"x":1}`))
	parent.Header.Set("Authorization", "Bearer abc")
	parent.Header.Set("Content-Type", "application/json")
	parent.RemoteAddr = "127.0.0.1:1234"
	if status, err := tg.g.Subrequest(parent, "/open"); err != nil || status != 200 {
		t.Errorf("Subrequest(/open) = %d, %v; want 200", status, err)
	}
	if status, err := tg.g.Subrequest(parent, "/secret"); err != nil || status != 403 {
		t.Errorf("Subrequest(/secret) = %d, %v; want 403 from the guard", status, err)
	}
	a := tg.rec.lastAccess(t)
	if a.Method != "GET" || a.Path != "/secret" || a.ClientIP != "127.0.0.1" {
		t.Errorf("subrequest access record = %+v, want a GET of /secret from the parent's client", a)
	}
	nested := parent.WithContext(context.WithValue(parent.Context(), subrequestKey{}, true))
	if _, err := tg.g.Subrequest(nested, "/open"); err == nil {
		t.Error("a subrequest made a subrequest")
	}
}

// The body cap is resource consumption (API4), refused by the gateway.
func TestBodyLimitEvent(t *testing.T) {
	up := echoUpstream(t, "a")
	tg := startGateway(t, oneAPI, map[string]string{"UP0": up.URL})
	resp, body := raw(t, tg.addr, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("a", 4096))
	if resp == nil || resp.StatusCode != 413 {
		t.Fatalf("oversized body = %v %s, want 413", resp, body)
	}
	evs := tg.rec.eventsWithRule("limits.body_too_large")
	if len(evs) != 1 || evs[0].Category != "API4" || evs[0].Guard != "gateway" {
		t.Errorf("events = %+v, want one limits.body_too_large by gateway in API4", evs)
	}
}

// apiguard's own answers (problems, an allowed preflight) carry the
// security headers, HSTS included over TLS: the API's SecurityHeaderer
// guard decides them, the defaults apply without one.
func TestOwnAnswersSecurityHeaders(t *testing.T) {
	up := echoUpstream(t, "a")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	doc := `
admin: {listen: "off"}
apis:
  - name: plain
    match: {path_prefix: /plain}
    upstream: {urls: ["${UP0}"]}
    guards: {testguard: {block_path: /plain/blocked, answer_path: /plain/preflight}}
  - name: tuned
    match: {path_prefix: /tuned}
    upstream: {urls: ["${UP0}"]}
    guards: {testguard: {block_path: /tuned/blocked, answer_path: /tuned/preflight, hsts: "max-age=600"}}
  - name: nohsts
    match: {path_prefix: /nohsts}
    upstream: {urls: ["${UP0}"]}
    guards: {testguard: {block_path: /nohsts/blocked, hsts: ""}}
  - name: down
    match: {path_prefix: /down}
    upstream: {urls: ["${UP1}"]}
`
	tg := startGateway(t, doc, map[string]string{"UP0": up.URL, "UP1": deadURL})
	const absent = ""
	tests := []struct {
		name, method, path string
		tls                bool
		status             int
		hsts               string
	}{
		{"no API, TLS", "GET", "/other", true, 404, pipeline.DefaultOwnHSTS},
		{"no API, plain HTTP", "GET", "/other", false, 404, absent},
		{"protocol rejection, TLS", "TRACE", "/plain/x", true, 501, pipeline.DefaultOwnHSTS},
		{"guard block, TLS", "GET", "/plain/blocked", true, 403, pipeline.DefaultOwnHSTS},
		{"guard block, plain HTTP", "GET", "/plain/blocked", false, 403, absent},
		{"guard block, the API's HSTS", "GET", "/tuned/blocked", true, 403, "max-age=600"},
		{"guard block, the API's HSTS off", "GET", "/nohsts/blocked", true, 403, absent},
		{"upstream down, TLS", "GET", "/down/x", true, 502, pipeline.DefaultOwnHSTS},
		{"preflight answer, TLS", "OPTIONS", "/plain/preflight", true, 204, pipeline.DefaultOwnHSTS},
		{"preflight answer, plain HTTP", "OPTIONS", "/plain/preflight", false, 204, absent},
		{"preflight answer, the API's HSTS", "OPTIONS", "/tuned/preflight", true, 204, "max-age=600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			tg.g.ServeHTTP(rec, r)
			h := rec.Header()
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			want := map[string]string{
				"Strict-Transport-Security": tt.hsts,
				"X-Content-Type-Options":    "nosniff",
				"Cache-Control":             "no-store",
				"Content-Security-Policy":   pipeline.DefaultContentSecurityPolicy,
				"X-Frame-Options":           "DENY",
				"Referrer-Policy":           "no-referrer",
			}
			if tt.status == 204 {
				// The guard's own headers stay: browsers cache the
				// preflight by Access-Control-Max-Age.
				want["Access-Control-Max-Age"] = "600"
				want["Access-Control-Allow-Origin"] = "https://app.example"
				if rec.Body.Len() != 0 {
					t.Errorf("preflight answer has a body: %q", rec.Body)
				}
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
