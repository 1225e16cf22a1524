package egress

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/guard/schema"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// thirdParty is a TLS upstream standing in for a third-party API.
func thirdParty(t *testing.T) (*httptest.Server, string, *sync.Map) {
	t.Helper()
	seen := &sync.Map{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store("path", r.URL.EscapedPath())
		seen.Store("query", r.URL.RawQuery)
		seen.Store("xff", r.Header.Get("X-Forwarded-For"))
		seen.Store("dropme", r.Header.Get("X-Drop-Me"))
		seen.Store("auth", r.Header.Get("Authorization"))
		seen.Store("proxyauth", r.Header.Get("Proxy-Authorization"))
		switch strings.TrimPrefix(r.URL.Path, "/base") {
		case "/v1/items":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "tp=1")
			_, _ = io.WriteString(w, `{"items":[{"id":1,"name":"ok"}]}`)
		case "/v1/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		case "/v1/redirect":
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		case "/v1/big":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `"`+strings.Repeat("x", 5000)+`"`)
		case "/v1/slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		case "/v1/html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html></html>")
		case "/v1/broken":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"a":`)
		case "/v1/script":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"bio":"hi \u003cscript\u003ealert(1)\u003c/script\u003e"}`)
		case "/v1/sqlerr":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"error":"You have an error in your SQL syntax near ''"}`)
		case "/v1/jndi":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"name":"${${lower:j}ndi:ldap://evil.example/a}"}`)
		case "/v1/crlf":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Next", "/x%0d%0aSet-Cookie:%20a=b")
			_, _ = io.WriteString(w, `{}`)
		case "/v1/teapot":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(418)
			_, _ = io.WriteString(w, `{}`)
		case "/v1/nocontent":
			w.WriteHeader(204)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca, seen
}

const thirdPartySpec = `
openapi: 3.1.0
info: {title: third party, version: "1"}
servers: [{url: https://api.example/base}]
paths:
  /v1/items:
    get:
      responses:
        '200':
          description: items
          content:
            application/json:
              schema: {type: object}
  /v1/teapot:
    get:
      responses:
        '200': {$ref: '#/components/responses/Ok'}
  /v1/html:
    get:
      responses:
        '2XX': {$ref: '#/components/responses/Ok'}
components:
  responses:
    Ok:
      description: ok
      content:
        application/json:
          schema: {type: object}
`

// recorder captures emitted events.
type recorder struct {
	mu sync.Mutex
	ev []events.Event
}

func (r *recorder) emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev = append(r.ev, e)
}

func (r *recorder) rules() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.ev {
		out = append(out, e.Rule+"/"+e.Verdict)
	}
	return out
}

func (r *recorder) last() events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ev) == 0 {
		return events.Event{}
	}
	return r.ev[len(r.ev)-1]
}

// startProxy parses an egress config section (YAML, under egress:), and
// serves the proxy on loopback.
func startProxy(t *testing.T, section string, dir string) (string, *Proxy, *recorder) {
	t.Helper()
	doc := "apis:\n  - name: x\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\negress:\n" + section
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config:\n%s\n%v", doc, err)
	}
	rec := &recorder{}
	p, err := New(&config.Loaded{Config: cfg, Dir: dir}, pipeline.NewServices(pipeline.Services{Emit: rec.emit}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	return "http://" + ln.Addr().String(), p, rec
}

func destYAML(name, url, ca string, extra string) string {
	s := fmt.Sprintf("  destinations:\n    - name: %s\n      url: %s\n      allow_cidrs: [127.0.0.1/32]\n      max_response_bytes: 4KiB\n      max_request_bytes: 1KiB\n      timeout: 500ms\n", name, url)
	if ca != "" {
		s += "      ca_file: " + ca + "\n"
	}
	for _, l := range strings.Split(strings.TrimSpace(extra), "\n") {
		if l != "" {
			s += "      " + strings.TrimSpace(l) + "\n"
		}
	}
	return s
}

func TestProxy(t *testing.T) {
	srv, ca, seen := thirdParty(t)
	yaml := destYAML("pay", srv.URL+"/base", ca, "") +
		"    - name: blocky\n      url: " + srv.URL + "/base\n      ca_file: " + ca + "\n      allow_cidrs: [127.0.0.1/32]\n      injection: block\n      methods: [GET]\n" +
		"    - name: noca\n      url: " + srv.URL + "/base\n      allow_cidrs: [127.0.0.1/32]\n" +
		"    - name: public\n      url: " + srv.URL + "/base\n      ca_file: " + ca + "\n"
	base, _, rec := startProxy(t, yaml, "")
	client := &http.Client{Timeout: 5 * time.Second}

	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		rule                     string // last event's rule/verdict, "" for none
	}{
		{"pass", "GET", "/pay/v1/items?limit=2", "", map[string]string{"X-Forwarded-For": "10.0.0.1", "Connection": "X-Drop-Me", "X-Drop-Me": "1", "Authorization": "Bearer k"}, 200, ""},
		{"post body", "POST", "/pay/v1/echo", `{"a":1}`, nil, 200, ""},
		{"no content", "GET", "/pay/v1/nocontent", "", nil, 204, ""},
		{"unknown destination", "GET", "/nope/v1/items", "", nil, 404, RuleUnknownDestination + "/block"},
		{"root", "GET", "/", "", nil, 400, RuleBadPath + "/block"},
		{"encoded slash", "GET", "/pay/v1%2f..%2fadmin", "", nil, 400, RuleBadPath + "/block"},
		{"empty segment", "GET", "/pay//v1/items", "", nil, 400, RuleBadPath + "/block"},
		{"method", "POST", "/blocky/v1/echo", `{}`, nil, 405, RuleMethodNotAllowed + "/block"},
		{"request too large", "POST", "/pay/v1/echo", `"` + strings.Repeat("y", 2000) + `"`, nil, 413, RuleRequestTooLarge + "/block"},
		{"tls not verified", "GET", "/noca/v1/items", "", nil, 502, RuleTLS + "/block"},
		{"loopback not allowed", "GET", "/public/v1/items", "", nil, 502, RuleForbiddenAddress + "/block"},
		{"redirect", "GET", "/pay/v1/redirect", "", nil, 502, RuleRedirect + "/block"},
		{"too large", "GET", "/pay/v1/big", "", nil, 502, RuleResponseTooLarge + "/block"},
		{"timeout", "GET", "/pay/v1/slow", "", nil, 504, RuleTimeout + "/block"},
		{"content type", "GET", "/pay/v1/html", "", nil, 502, RuleContentType + "/block"},
		{"invalid json", "GET", "/pay/v1/broken", "", nil, 502, RuleInvalidJSON + "/block"},
		{"script observed", "GET", "/pay/v1/script", "", nil, 200, RuleInjection + "/observe"},
		{"sql error observed", "GET", "/pay/v1/sqlerr", "", nil, 200, RuleInjection + "/observe"},
		{"script blocked", "GET", "/blocky/v1/script", "", nil, 502, RuleInjection + "/block"},
		{"jndi blocked", "GET", "/blocky/v1/jndi", "", nil, 502, RuleInjection + "/block"},
		{"crlf header blocked", "GET", "/blocky/v1/crlf", "", nil, 502, RuleInjection + "/block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.rules())
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if tt.body == "" {
				req.Body = nil
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			rules := rec.rules()
			got := ""
			if len(rules) > before {
				got = rules[len(rules)-1]
			}
			if got != tt.rule {
				t.Errorf("%s %s event = %q, want %q", tt.method, tt.path, got, tt.rule)
			}
			if tt.rule != "" {
				ev := rec.last()
				if ev.Category != "API10" || ev.Guard != "egress" || ev.RequestID == "" {
					t.Errorf("event = %+v, want API10 egress with a request id", ev)
				}
			}
			if strings.HasSuffix(tt.rule, "/block") {
				if resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), strings.Split(tt.rule, "/")[0]) {
					t.Errorf("%s answer = %q %s, want a problem naming the rule", tt.path, resp.Header.Get("Content-Type"), body)
				}
			}
		})
	}
	// What the third party saw for the first call.
	want := map[string]string{"path": "/base/v1/items", "query": "limit=2", "xff": "", "dropme": "", "auth": "Bearer k"}
	// The later calls overwrote seen; repeat the first call and compare.
	req, _ := http.NewRequest("GET", base+"/pay/v1/items?limit=2", nil)
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Connection", "X-Drop-Me")
	req.Header.Set("X-Drop-Me", "1")
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"items":[{"id":1,"name":"ok"}]}` || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("answer = %s (Set-Cookie %q), want the third party's JSON without its cookie", body, resp.Header.Get("Set-Cookie"))
	}
	for k, v := range want {
		got, _ := seen.Load(k)
		if got != v {
			t.Errorf("third party saw %s = %q, want %q", k, got, v)
		}
	}
}

// TestForwardProxyRefused: CONNECT tunnels, https absolute-form requests
// and http ones to a host that is no destination are refused.
func TestForwardProxyRefused(t *testing.T) {
	srv, ca, _ := thirdParty(t)
	base, _, rec := startProxy(t, destYAML("pay", srv.URL, ca, ""), "")
	addr := strings.TrimPrefix(base, "http://")
	tp := strings.TrimPrefix(srv.URL, "https://")
	for _, tc := range []struct {
		line   string
		status int
		rule   string
	}{
		{"CONNECT example.com:443 HTTP/1.1", 405, RuleForwardProxy},
		{"CONNECT " + tp + " HTTP/1.1", 405, RuleForwardProxy},
		{"GET https://pay/v1/items HTTP/1.1", 405, RuleForwardProxy},
		{"GET http://example.com/ HTTP/1.1", 403, RuleHostNotAllowed},
		{"GET http://pay/v1/items HTTP/1.1", 403, RuleHostNotAllowed},
		{"GET http://127.0.0.1:1/v1/items HTTP/1.1", 403, RuleHostNotAllowed},
		{"GET http://" + tp + "/v1/../../admin HTTP/1.1", 400, RuleBadPath},
		{"GET http://" + tp + "/v1/%2e%2e/admin HTTP/1.1", 400, RuleBadPath},
	} {
		line := tc.line
		t.Run(line, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s\r\nHost: example.com\r\n\r\n", line)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s = %d, want %d", line, resp.StatusCode, tc.status)
			}
			if r := rec.last().Rule; r != tc.rule {
				t.Errorf("%s event = %q, want %s", line, r, tc.rule)
			}
		})
	}
	// Raw dot segments are refused too (a Go client would clean them).
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /pay/v1/../../other HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("dot segments = %d, want 400", resp.StatusCode)
	}
}

type failingValidator struct{}

func (failingValidator) ValidateResponse(*openapi.Spec, *openapi.Operation, int, string, any) error {
	return errors.New("/items: expected array")
}

func TestSpec(t *testing.T) {
	srv, ca, _ := thirdParty(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tp.yaml"), []byte(thirdPartySpec), 0o600); err != nil {
		t.Fatal(err)
	}
	base, p, rec := startProxy(t, destYAML("tp", srv.URL+"/base", ca, "spec: tp.yaml\ncontent_types: [application/json, text/html]"), dir)
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) int {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		path   string
		status int
		rule   string
	}{
		{"/tp/v1/items", 200, ""},
		{"/tp/v1/echo", 403, RuleUndocumentedOp},
		{"/tp/v1/teapot", 502, RuleUndocumentedResponse},
		{"/tp/v1/html", 502, RuleUndocumentedResponse},
	}
	for _, tt := range tests {
		before := len(rec.rules())
		if got := get(tt.path); got != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, got, tt.status)
		}
		rules := rec.rules()
		got := ""
		if len(rules) > before {
			got = strings.Split(rules[len(rules)-1], "/")[0]
		}
		if got != tt.rule {
			t.Errorf("GET %s event = %q, want %q", tt.path, got, tt.rule)
		}
	}
	p.SetValidator(failingValidator{})
	if got := get("/tp/v1/items"); got != 502 || rec.last().Rule != RuleSchema {
		t.Errorf("GET with a failing validator = %d %s, want 502 %s", got, rec.last().Rule, RuleSchema)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, section, want string
	}{
		{"http url", "  destinations: [{name: a, url: \"http://api.example\"}]\n", "egress.destinations[0].url"},
		{"credentials", "  destinations: [{name: a, url: \"https://u:p@api.example\"}]\n", "egress.destinations[0].url"},
		{"bad name", "  destinations: [{name: \"a/b\", url: \"https://api.example\"}]\n", "egress.destinations[0].name"},
		{"duplicate", "  destinations: [{name: a, url: \"https://api.example\"}, {name: a, url: \"https://b.example\"}]\n", "egress.destinations[1].name"},
		{"injection", "  destinations: [{name: a, url: \"https://api.example\", injection: maybe}]\n", "egress.destinations[0].injection"},
		{"cidr", "  destinations: [{name: a, url: \"https://api.example\", allow_cidrs: [\"x\"]}]\n", "egress.destinations[0].allow_cidrs[0]"},
		{"connect", "  destinations: [{name: a, url: \"https://api.example\", methods: [CONNECT]}]\n", "egress.destinations[0].methods"},
		{"ca file", "  destinations: [{name: a, url: \"https://api.example\", ca_file: /nonexistent.pem}]\n", "egress.destinations[0].ca_file"},
		{"listen", "  listen: nope\n", "egress.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "apis:\n  - name: x\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\negress:\n" + tt.section
			cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(&config.Loaded{Config: cfg}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want+":") {
				t.Errorf("New() error = %v, want one at %s", err, tt.want)
			}
		})
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in, name, rest string
		ok             bool
	}{
		{"/pay/v1/items", "pay", "/v1/items", true},
		{"/pay", "pay", "", true},
		{"/pay/", "pay", "/", true},
		{"/pay/a%20b", "pay", "/a%20b", true},
		{"/", "", "", false},
		{"/pay/../x", "", "", false},
		{"/pay/./x", "", "", false},
		{"/pay//x", "", "", false},
		{"/pay/%2e%2e/x", "", "", false},
		{"/pay/a%2Fb", "", "", false},
		{"/pay/a%5cb", "", "", false},
		{`/pay/a\b`, "", "", false},
	}
	for _, tt := range tests {
		name, rest, ok := splitPath(tt.in)
		if ok != tt.ok || ok && (name != tt.name || rest != tt.rest) {
			t.Errorf("splitPath(%q) = %q, %q, %v, want %q, %q, %v", tt.in, name, rest, ok, tt.name, tt.rest, tt.ok)
		}
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"plain text about scripts and SQL", false},
		{"<SCRIPT>alert(1)</script>", true},
		{"ORA-00933: SQL command not properly ended", true},
		{"${jndi:ldap://x/a}", true},
		{"${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}", true},
		{"Hello ${name}", false},
		{"select * from users where name = 'o''brien'", false},
	}
	for _, tt := range tests {
		if got := scanText(tt.in) != ""; got != tt.want {
			t.Errorf("scanText(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/pay/v1/items", "/pay/../x", "/pay/%2e%2e/", "//x", "/a/b/c/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, rest, ok := splitPath(s)
		if !ok {
			return
		}
		if name == "" || strings.Contains(rest, "..") && strings.Contains("/"+rest+"/", "/../") || strings.Contains(rest, "//") {
			t.Fatalf("splitPath(%q) = %q, %q accepted", s, name, rest)
		}
	})
}

// FuzzByHost checks that a forward-proxy request only ever reaches a
// destination whose host it names, under the destination's path.
func FuzzByHost(f *testing.F) {
	st := &state{dests: map[string]*destination{}}
	for name, u := range map[string]string{"pay": "https://api.pay.example/v1", "pay2": "https://api.pay.example/v1/admin",
		"rates": "https://rates.example:8443", "root": "https://root.example/"} {
		b, _ := url.Parse(u)
		st.dests[name] = &destination{name: name, base: b}
	}
	for _, s := range [][2]string{{"api.pay.example", "/v1/items"}, {"API.PAY.EXAMPLE:80", "/v1/admin/x"}, {"api.pay.example", "/v1x"},
		{"rates.example:8443", "/"}, {"rates.example", ""}, {"root.example.", "/a"}, {"evil.example", "/v1"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, path string) {
		d, rest := st.byHost(host, path)
		if d == nil {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		bp := strings.TrimSuffix(d.base.EscapedPath(), "/")
		if !strings.EqualFold(strings.TrimSuffix(h, "."), d.base.Hostname()) || path != bp+rest || rest != "" && rest[0] != '/' {
			t.Fatalf("byHost(%q, %q) = %s, %q", host, path, d.name, rest)
		}
	})
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{"<script>", "${jndi:x}", "${", "sqlstate["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = scanText(s)
		_ = scanHeaders(http.Header{"X": {s}})
	})
}

func BenchmarkProxyJSON(b *testing.B) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[{"id":1,"name":"ok","description":"a plain description of an item"}]}`)
	}))
	defer srv.Close()
	ca := filepath.Join(b.TempDir(), "ca.pem")
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	doc := "apis:\n  - name: x\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\negress:\n" + destYAML("pay", srv.URL, ca, "")
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(&config.Loaded{Config: cfg}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", "/pay/v1/items", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// TestChunkedRequestTooLarge: a body without a declared length is capped
// while it streams.
func TestChunkedRequestTooLarge(t *testing.T) {
	srv, ca, _ := thirdParty(t)
	base, _, rec := startProxy(t, destYAML("pay", srv.URL+"/base", ca, ""), "")
	body := io.MultiReader(strings.NewReader(`"`), strings.NewReader(strings.Repeat("z", 3000)), strings.NewReader(`"`))
	req, _ := http.NewRequest("POST", base+"/pay/v1/echo", body)
	req.ContentLength = -1
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || rec.last().Rule != RuleRequestTooLarge {
		t.Errorf("chunked 3000-byte body = %d %s, want 413 %s", resp.StatusCode, rec.last().Rule, RuleRequestTooLarge)
	}
}

// TestSpecWithSchemaEngine runs the egress proxy with the schema guard's
// engine, as serve wires it: an answer that breaks the destination's
// documented schema never reaches the application.
func TestSpecWithSchemaEngine(t *testing.T) {
	srv, ca, _ := thirdParty(t)
	dir := t.TempDir()
	strict := strings.Replace(thirdPartySpec, `    get:
      responses:
        '200':
          description: items
          content:
            application/json:
              schema: {type: object}`, `    get:
      responses:
        '200':
          description: items
          content:
            application/json:
              schema:
                type: object
                required: [items]
                properties:
                  items: {type: array, items: {type: object, required: [id, name, price]}}`, 1)
	if strict == thirdPartySpec {
		t.Fatal("the spec was not changed")
	}
	for _, tc := range []struct {
		name, spec string
		status     int
		rule       string
	}{
		{"conforming answer passes", thirdPartySpec, 200, ""},
		{"answer missing a required member is refused", strict, 502, RuleSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "tp.yaml"), []byte(tc.spec), 0o600); err != nil {
				t.Fatal(err)
			}
			base, p, rec := startProxy(t, destYAML("tp", srv.URL+"/base", ca, "spec: tp.yaml"), dir)
			p.SetValidator(schema.NewAnswerValidator())
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/tp/v1/items")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /tp/v1/items = %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.rule != "" && (rec.last().Rule != tc.rule || !strings.Contains(rec.last().Detail, "price")) {
				t.Errorf("event = %s %q, want %s naming price", rec.last().Rule, rec.last().Detail, tc.rule)
			}
			if tc.rule != "" && strings.Contains(string(body), "price") {
				t.Errorf("the refusal tells the application the validation detail: %s", body)
			}
		})
	}
}

// TestForwardProxyForm: an application with HTTP_PROXY pointing at the
// egress listener calls http://<destination host>/<path>; apiguard calls
// the destination over verified TLS, with every check of the
// named-destination form.
func TestForwardProxyForm(t *testing.T) {
	srv, ca, seen := thirdParty(t)
	base, _, rec := startProxy(t, destYAML("pay", srv.URL+"/base", ca, ""), "")
	proxyURL, _ := url.Parse(base)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 5 * time.Second}
	tp := strings.TrimPrefix(srv.URL, "https://")

	resp, err := client.Get("http://" + tp + "/base/v1/items?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"items":[{"id":1,"name":"ok"}]}` {
		t.Fatalf("forward-proxy call = %d %s, want the third party's answer", resp.StatusCode, body)
	}
	if p, _ := seen.Load("path"); p != "/base/v1/items" {
		t.Errorf("third party saw path %v, want /base/v1/items", p)
	}
	if q, _ := seen.Load("query"); q != "limit=2" {
		t.Errorf("third party saw query %v, want limit=2", q)
	}
	if e := rec.last(); e.Rule != "" {
		t.Errorf("event %s for an allowed call, want none", e.Rule)
	}
	// Outside the destination URL's path: not allowed.
	resp, err = client.Get("http://" + tp + "/other/v1/items")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || rec.last().Rule != RuleHostNotAllowed {
		t.Errorf("call outside /base = %d %s, want 403 %s", resp.StatusCode, rec.last().Rule, RuleHostNotAllowed)
	}
	// https through the proxy is a CONNECT tunnel: refused.
	tunnel := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 5 * time.Second}
	if _, err := tunnel.Get(srv.URL + "/base/v1/items"); err == nil {
		t.Errorf("https through the proxy (CONNECT) succeeded, want it refused")
	}
}

// TestProxyToken: with egress.token, every call (named or forward-proxy
// form) needs the token in Proxy-Authorization, which never reaches the
// third party.
func TestProxyToken(t *testing.T) {
	srv, ca, seen := thirdParty(t)
	const token = "s3cret-egress-token-0123"
	base, _, rec := startProxy(t, "  token: "+token+"\n"+destYAML("pay", srv.URL+"/base", ca, ""), "")
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tests := []struct {
		name   string
		values []string
		want   int
	}{
		{"none", nil, 407},
		{"wrong", []string{basic("app", "nope")}, 407},
		{"token as user name", []string{basic(token, "")}, 407},
		{"prefix of the token", []string{"Bearer " + token[:20]}, 407},
		{"two values", []string{"Bearer " + token, "Bearer " + token}, 407},
		{"other scheme", []string{"Digest " + token}, 407},
		{"basic", []string{basic("app", token)}, 200},
		{"basic, empty user", []string{basic("", token)}, 200},
		{"bearer", []string{"Bearer " + token}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+"/pay/v1/items", nil)
			for _, v := range tc.values {
				req.Header.Add("Proxy-Authorization", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 407 {
				if resp.Header.Get("Proxy-Authenticate") == "" || rec.last().Rule != RuleProxyAuth {
					t.Errorf("407 without Proxy-Authenticate or event %s", rec.last().Rule)
				}
				return
			}
			if pa, _ := seen.Load("proxyauth"); pa != "" {
				t.Errorf("the third party saw Proxy-Authorization %q", pa)
			}
		})
	}
	// The forward-proxy form, the token in HTTP_PROXY's user info.
	proxyURL, _ := url.Parse(base)
	proxyURL.User = url.UserPassword("app", token)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + strings.TrimPrefix(srv.URL, "https://") + "/base/v1/items")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("forward-proxy call with the token in HTTP_PROXY = %d, want 200", resp.StatusCode)
	}
}

func TestProxyTokenTooShort(t *testing.T) {
	doc := "apis:\n  - name: x\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\negress:\n  token: short\n"
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(&config.Loaded{Config: cfg}, nil); err == nil || !strings.Contains(err.Error(), "egress.token") {
		t.Errorf("New with a 5-byte token = %v, want an egress.token error", err)
	}
}

// FuzzAuthorized checks the Proxy-Authorization parser: it never panics
// and accepts a value only when the token is in it.
func FuzzAuthorized(f *testing.F) {
	const token = "s3cret-egress-token-0123"
	sum := sha256.Sum256([]byte(token))
	st := &state{tokenSum: sum[:]}
	for _, s := range []string{"Bearer " + token, "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+token)), "Basic !!", "bearer", "", "Basic Og=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !st.authorized([]string{v}) {
			return
		}
		_, cred, _ := strings.Cut(strings.TrimSpace(v), " ")
		dec, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if !strings.Contains(v, token) && !strings.Contains(string(dec), token) {
			t.Fatalf("authorized(%q) without the token", v)
		}
	})
}
