package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
	"github.com/apiguard/apiguard/internal/scan/canary"
)

// These tests run one check against small real HTTP targets that are
// not demobank, to show the checks are driven by the spec and the
// answers: each target exists in a vulnerable and a protected form, and
// the check must report the first and stay quiet on the second.

// itemsSpec is a generic API: a searchable, paginated list, a PATCH with
// a string member, a URL fetch, and a webhook with a test operation.
const itemsSpec = `openapi: 3.1.0
info: {title: items, version: "1"}
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
paths:
  /v1/items:
    get:
      operationId: listItems
      parameters:
        - {name: name, in: query, schema: {type: string, maxLength: 50}}
        - {name: page_size, in: query, schema: {type: integer, minimum: 1, maximum: 10}}
      responses: {'200': {description: ok}}
  /v1/profile:
    patch:
      operationId: updateProfile
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {nickname: {type: string, maxLength: 20}}}
      responses: {'200': {description: ok}}
  /v1/orders:
    post:
      operationId: placeOrder
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [sku, quantity], properties: {sku: {type: string, maxLength: 20, pattern: '^[A-Z0-9-]+$'}, quantity: {type: integer, minimum: 1, maximum: 5}}}
      responses: {'201': {description: created}}
  /v1/import:
    post:
      operationId: importFeed
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [feed_url], properties: {feed_url: {type: string, format: uri}}}
      responses: {'200': {description: ok}}
  /v1/hooks:
    post:
      operationId: createHook
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [callback_url], properties: {callback_url: {type: string}}}
      responses: {'201': {description: created}}
  /v1/hooks/{hookId}/ping:
    post:
      operationId: pingHook
      parameters: [{name: hookId, in: path, required: true, schema: {type: integer}}]
      responses: {'200': {description: ok}}
`

// itemsAPI is the target: vulnerable or protected in every respect the
// tests look at.
type itemsAPI struct {
	vulnerable bool
	limited    bool // 429 beyond 200 requests per key
	mu         sync.Mutex
	perKey     map[string]int
	orders     map[string]int
	hooks      []string
}

var items = func() []map[string]any {
	var out []map[string]any
	for i := 1; i <= 40; i++ {
		out = append(out, map[string]any{"id": i, "name": fmt.Sprintf("item %d", i)})
	}
	return out
}()

func (a *itemsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if key := r.Header.Get("X-Key"); a.limited && key != "" {
		a.mu.Lock()
		if a.perKey == nil {
			a.perKey = map[string]int{}
		}
		a.perKey[key]++
		n := a.perKey[key]
		a.mu.Unlock()
		if n > 200 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !a.vulnerable {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("X-Powered-By", "Express 4.18.2")
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if r.Header.Get("X-Key") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"unauthorized"}`)
		return
	}
	q := r.URL.Query()
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/items":
		size := 10
		if v := q.Get("page_size"); v != "" {
			if _, err := fmt.Sscan(v, &size); err != nil || (!a.vulnerable && (size < 1 || size > 10)) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"bad page_size"}`)
				return
			}
		}
		var out []map[string]any
		_, hasName := q["name"]
		_, ne := q["name[$ne]"]
		_, eq := q["name[$eq]"]
		for _, it := range items {
			match := !hasName || it["name"] == q.Get("name")
			if a.vulnerable && ne {
				match = it["name"] != q.Get("name[$ne]") // the operator reaches the "query"
			} else if a.vulnerable && eq {
				match = it["name"] == q.Get("name[$eq]")
			} else if a.vulnerable && strings.Contains(q.Get("name"), "'") {
				// an SQL-ish engine: quotes are parsed, OR true matches all
				n := q.Get("name")
				if strings.Count(n, "'")%2 == 1 && !strings.Contains(n, "--") {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(w, `{"error":"near \"'\": syntax error"}`)
					return
				}
				match = strings.Contains(n, "' OR ")
			}
			if match {
				out = append(out, it)
			}
		}
		if len(out) > size {
			out = out[:size]
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": out})
	case r.Method == "POST" && r.URL.Path == "/v1/orders":
		var body struct {
			SKU      string `json:"sku"`
			Quantity int    `json:"quantity"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !a.vulnerable && (body.Quantity < 1 || body.Quantity > 5) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"bad order"}`)
			return
		}
		a.mu.Lock()
		if a.orders == nil {
			a.orders = map[string]int{}
		}
		a.orders[r.Header.Get("X-Key")]++
		n := a.orders[r.Header.Get("X-Key")]
		a.mu.Unlock()
		if !a.vulnerable && n > 5 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": n, "sku": body.SKU, "quantity": body.Quantity})
	case r.Method == "PATCH" && r.URL.Path == "/v1/profile":
		var body map[string]any
		limit := int64(1 << 10)
		if a.vulnerable {
			limit = 1 << 30
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, limit)).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"bad body"}`)
			return
		}
		if _, ok := body["nickname"].(string); !ok && a.vulnerable {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "TypeError: nickname.trim is not a function\n    at update (/srv/app/profile.js:12:7)")
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	case r.Method == "POST" && r.URL.Path == "/v1/import":
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if !a.vulnerable {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"only https to public hosts"}`)
			return
		}
		resp, err := http.Get(body["feed_url"])
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
		resp.Body.Close()
		_ = json.NewEncoder(w).Encode(map[string]any{"preview": string(b)})
	case r.Method == "POST" && r.URL.Path == "/v1/hooks":
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if !a.vulnerable {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.hooks = append(a.hooks, body["callback_url"])
		id := len(a.hooks)
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id})
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v1/hooks/") && strings.HasSuffix(r.URL.Path, "/ping"):
		var id int
		_, _ = fmt.Sscanf(r.URL.Path, "/v1/hooks/%d/ping", &id)
		a.mu.Lock()
		if id < 1 || id > len(a.hooks) {
			a.mu.Unlock()
			w.WriteHeader(http.StatusNotFound)
			return
		}
		target := a.hooks[id-1]
		a.mu.Unlock()
		resp, err := http.Post(target, "application/json", strings.NewReader(`{"event":"ping"}`))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		var answer map[string]any
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer)
		resp.Body.Close()
		if u, ok := answer["url"].(string); ok {
			a.mu.Lock()
			a.hooks[id-1] = u // trusts the callback
			a.mu.Unlock()
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"delivered": true, "answer": answer})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"not found"}`)
	}
}

// runCheck scans target with one check as two header identities and
// returns the findings by rule.
func runChecks(t *testing.T, target string, spec string, cs ...scan.Check) map[string][]report.Finding {
	t.Helper()
	sp, err := openapi.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	c, err := canary.Start(canary.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	res, err := scan.Run(context.Background(), scan.Options{
		Spec: sp, Target: target, AllowDestructive: true, Checks: cs, Canary: c, Rate: 500,
		Users: []scan.Credential{
			{Name: "u1", Header: http.Header{"X-Key": {"key-one-123"}}},
			{Name: "u2", Header: http.Header{"X-Key": {"key-two-456"}}},
		},
	})
	if err != nil {
		t.Fatalf("scan.Run: %v", err)
	}
	for rule, err := range res.Errors {
		t.Errorf("check %s failed: %v", rule, err)
	}
	out := map[string][]report.Finding{}
	for _, f := range res.Report.Findings {
		out[f.Rule] = append(out[f.Rule], f)
		t.Logf("%s %s %s: %s", f.Severity, f.Rule, f.Location.URL, f.Evidence)
	}
	return out
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestChecksOnAGenericAPI runs every S2 check against the vulnerable and
// the protected form of the same API.
func TestChecksOnAGenericAPI(t *testing.T) {
	type want struct {
		rule string
		sev  report.Severity
	}
	vulnerable := []want{
		{"scan.security-headers", report.Low},
		{"scan.version-banner", report.Low},
		{"scan.cors-permissive", report.Medium},
		{"scan.verbose-errors", report.Medium},
		{"scan.sql-injection", report.Critical},
		{"scan.nosql-injection", report.High},
		{"scan.page-size", report.Medium},
		{"scan.body-size", report.Medium},
		{"scan.business-logic", report.Critical},
		{"scan.flow-quota", report.Medium},
		{"scan.rate-limit", report.Medium},
		{"scan.ssrf", report.High},
		{"scan.unsafe-consumption", report.High},
	}
	all := func() []scan.Check {
		return []scan.Check{newMisconfig(), newInjection(), newInventory(), newSSRF(), newConsumption(), newFlows(), newResource()}
	}
	t.Run("vulnerable", func(t *testing.T) {
		got := runChecks(t, serve(t, &itemsAPI{vulnerable: true}), itemsSpec, all()...)
		for _, w := range vulnerable {
			fs := got[w.rule]
			if len(fs) == 0 {
				t.Errorf("vulnerable API: no %s finding", w.rule)
				continue
			}
			if fs[0].Severity != w.sev {
				t.Errorf("vulnerable API: %s severity = %s, want %s", w.rule, fs[0].Severity, w.sev)
			}
		}
		if n := len(got["scan.ssrf"]); n != 2 {
			t.Errorf("vulnerable API: %d scan.ssrf findings, want 2 (the import and the hook after its ping)", n)
		}
	})
	t.Run("protected", func(t *testing.T) {
		got := runChecks(t, serve(t, &itemsAPI{limited: true}), itemsSpec, all()...)
		for rule, fs := range got {
			for _, f := range fs {
				if f.Severity.Rank() > report.Info.Rank() {
					t.Errorf("protected API: %s %s: %s", f.Severity, rule, f.Evidence)
				}
			}
		}
	})
}

// A single-page app answers 200 with the same page for every path: no
// path of the word list is a shadow endpoint.
func TestInventoryIgnoresCatchAll(t *testing.T) {
	page := `<!doctype html><html><head><title>App</title></head><body><div id="root"></div><script src="/app.js"></script></body></html>`
	spa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	got := runChecks(t, serve(t, spa), itemsSpec, newInventory())
	for rule, fs := range got {
		t.Errorf("catch-all app: %d %s findings, want none (first: %s)", len(fs), rule, fs[0].Evidence)
	}
}

// A shadow endpoint leaking a DSN without credentials is high; the same
// API without it reports nothing.
func TestInventoryFindsShadowEndpoint(t *testing.T) {
	api := &itemsAPI{}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"cmdline":["/srv/api"],"db":"mysql://api:s3cr3t-pw@10.0.0.5:3306/prod"}`)
	})
	mux.HandleFunc("/v0/items", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[{"id":1,"name":"item 1"},{"id":2,"name":"item 2"}]}`)
	})
	got := runChecks(t, serve(t, mux), itemsSpec, newInventory())
	if fs := got["scan.undocumented-endpoint"]; len(fs) != 1 || fs[0].Severity != report.High || !strings.Contains(fs[0].Location.URL, "/debug/vars") {
		t.Errorf("undocumented-endpoint findings = %v, want one high at /debug/vars", fs)
	}
	if fs := got["scan.undocumented-version"]; len(fs) != 1 || fs[0].Severity != report.High || !strings.Contains(fs[0].Location.URL, "/v0/items") {
		t.Errorf("undocumented-version findings = %v, want one high at /v0/items (answers without the credentials /v1/items requires)", fs)
	}
}
