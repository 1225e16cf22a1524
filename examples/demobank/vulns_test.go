package demobank

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// internalServer is a loopback HTTP server standing for an internal
// service an attacker wants to reach through demobank.
type internalServer struct {
	*httptest.Server
	hits atomic.Int32
}

const internalSecret = "INTERNAL-ONLY aws_secret_access_key=AKIAEXAMPLESECRET"

func newInternal(t *testing.T, tls bool, answer string) *internalServer {
	t.Helper()
	is := &internalServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	})
	is.Server = httptest.NewUnstartedServer(h)
	is.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		is.StartTLS()
	} else {
		is.Start()
	}
	t.Cleanup(is.Close)
	return is
}

// localhostURL rewrites a loopback server URL to use the name localhost,
// so that only the dial-time address check can refuse it.
func localhostURL(raw string) string {
	u, _ := url.Parse(raw)
	return u.Scheme + "://localhost:" + u.Port() + u.Path
}

func has(x exchange, s string) bool { return strings.Contains(string(x.body), s) }

// check helpers return "" when the expectation holds, else why not.
func want(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

// vulnCase is one planted vulnerability: the attack, how the vulnerable
// variant gives in, and how the fixed variant holds.
type vulnCase struct {
	id     string // stable id, as in docs/demobank.md
	owasp  string
	attack func(t *testing.T, e *env) []exchange
	vuln   func(xs []exchange, e *env) string
	fixed  func(xs []exchange, e *env) string
}

func vulnCases() []vulnCase {
	return []vulnCase{
		{
			id: "DB-01", owasp: "API1",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/users/2", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && xs[0].obj()["username"] == "bob", "alice reading bob = %v, want 200 bob", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 404 && !has(xs[0], "bob"), "alice reading bob = %v, want 404", xs[0])
			},
		},
		{
			id: "DB-02", owasp: "API1",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/accounts/102", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && xs[0].obj()["owner_id"] == 2.0, "alice reading account 102 = %v, want 200 owner 2", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 404 && !has(xs[0], "iban"), "alice reading account 102 = %v, want 404", xs[0])
			},
		},
		{
			id: "DB-03", owasp: "API1",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				return []exchange{
					e.call(t, "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 102, "to_account_id": 101, "amount": 100, "currency": "EUR"}),
					e.call(t, "GET", "/api/v1/accounts", e.login(t, "bob"), nil),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 201 && has(xs[1], `"balance":1700`), "alice moving bob's money = %v, bob's accounts %v, want 201 and 1700", xs[0], xs[1])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 403 && has(xs[1], `"balance":1800`), "alice moving bob's money = %v, bob's accounts %v, want 403 and 1800", xs[0], xs[1])
			},
		},
		{
			id: "DB-04", owasp: "API3",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/users/1", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				m := xs[0].obj()
				return want(xs[0].status == 200 && strings.HasPrefix(fmt.Sprint(m["password_hash"]), "$pbkdf2-sha256$") && m["ssn"] == "078-05-1120",
					"GET own user = %v, want password_hash and ssn", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && !has(xs[0], "password_hash") && !has(xs[0], "ssn") && !has(xs[0], "078-05-1120"),
					"GET own user = %v, want 200 without password_hash and ssn", xs[0])
			},
		},
		{
			id: "DB-05", owasp: "API3",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				return []exchange{
					e.call(t, "PATCH", "/api/v1/users/1", alice, map[string]any{"display_name": "Alice", "role": "admin", "balance": 1000000}),
					e.call(t, "GET", "/api/v1/accounts/101", alice, nil),
					e.call(t, "GET", "/api/v1/users/1", alice, nil),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && xs[1].obj()["balance"] == 1000000.0 && xs[2].obj()["role"] == "admin",
					"mass assignment = %v; account %v; user %v, want role admin and balance 1000000", xs[0], xs[1], xs[2])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 400 && xs[1].obj()["balance"] == 2500.0 && xs[2].obj()["role"] == "user",
					"mass assignment = %v; account %v; user %v, want 400, balance 2500, role user", xs[0], xs[1], xs[2])
			},
		},
		{
			id: "DB-06", owasp: "API1",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{
					e.call(t, "PATCH", "/api/v1/users/2", e.login(t, "alice"), map[string]any{"email": "attacker@evil.example"}),
					e.call(t, "GET", "/api/v1/users/2", e.login(t, "bob"), nil),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && xs[1].obj()["email"] == "attacker@evil.example", "alice patching bob = %v; bob %v, want bob's email changed", xs[0], xs[1])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 404 && xs[1].obj()["email"] == "bob@demobank.example", "alice patching bob = %v; bob %v, want 404 and unchanged", xs[0], xs[1])
			},
		},
		{
			id: "DB-07", owasp: "API2",
			attack: func(t *testing.T, e *env) []exchange {
				tok := e.login(t, "alice")
				e.clock.Advance(2 * time.Hour)
				return []exchange{e.call(t, "GET", "/api/v1/accounts", tok, nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200, "expired token = %v, want 200", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 401, "expired token = %v, want 401", xs[0])
			},
		},
		{
			id: "DB-08", owasp: "API2",
			attack: func(t *testing.T, e *env) []exchange {
				tok := noneToken(e.ts.URL, "3", []string{"admin"}, e.clock.Now().Add(time.Hour))
				return []exchange{e.call(t, "GET", "/api/v1/admin/users", tok, nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && len(xs[0].items()) == 3, "alg none admin token = %v, want 200 with users", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 401, "alg none admin token = %v, want 401", xs[0])
			},
		},
		{
			id: "DB-09", owasp: "API2",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/accounts?access_token="+e.login(t, "alice"), "", nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200, "token in query = %v, want 200", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 401, "token in query = %v, want 401", xs[0])
			},
		},
		{
			id: "DB-10", owasp: "API2",
			attack: func(t *testing.T, e *env) []exchange {
				var xs []exchange
				for i := range 12 {
					xs = append(xs, e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": fmt.Sprintf("guess-%d", i)}))
				}
				return append(xs, e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "alice-pass"}))
			},
			vuln: func(xs []exchange, _ *env) string {
				for _, x := range xs[:12] {
					if x.status != 401 {
						return fmt.Sprintf("wrong password = %v, want 401 every time", x)
					}
				}
				return want(xs[12].status == 200, "right password after 12 failures = %v, want 200", xs[12])
			},
			fixed: func(xs []exchange, _ *env) string {
				if xs[5].status != 429 || xs[5].header.Get("Retry-After") == "" {
					return fmt.Sprintf("6th attempt = %v, want 429 with Retry-After (lockout)", xs[5])
				}
				return want(xs[12].status == 429, "right password during lockout = %v, want 429", xs[12])
			},
		},
		{
			id: "DB-11", owasp: "API4",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/transactions?limit=1000000", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && len(xs[0].items()) == 5000, "limit=1000000 = %d items (%d), want 5000", len(xs[0].items()), xs[0].status)
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 400, "limit=1000000 = %v, want 400", xs[0])
			},
		},
		{
			id: "DB-12", owasp: "API6",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				return []exchange{
					e.call(t, "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": -500, "currency": "EUR"}),
					e.call(t, "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 999999, "currency": "EUR"}),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 201 && xs[1].status == 201, "negative / overdrawing transfer = %v / %v, want 201 both", xs[0], xs[1])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 400 && xs[1].status == 400, "negative / overdrawing transfer = %v / %v, want 400 both", xs[0], xs[1])
			},
		},
		{
			id: "DB-13", owasp: "API6",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				var xs []exchange
				for range 7 {
					xs = append(xs, e.call(t, "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 1, "currency": "EUR"}))
				}
				return xs
			},
			vuln: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.status != 201 {
						return fmt.Sprintf("transfer = %v, want 201 every time", x)
					}
				}
				return ""
			},
			fixed: func(xs []exchange, _ *env) string {
				for i, x := range xs {
					if wantStatus := map[bool]int{true: 201, false: 429}[i < 5]; x.status != wantStatus {
						return fmt.Sprintf("transfer %d = %v, want %d", i+1, x, wantStatus)
					}
				}
				return ""
			},
		},
		{
			id: "DB-14", owasp: "API5",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/admin/users", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && len(xs[0].items()) == 3 && has(xs[0], "password_hash"), "alice listing users = %v, want 200 all users", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 403 && !has(xs[0], "bob"), "alice listing users = %v, want 403", xs[0])
			},
		},
		{
			id: "DB-15", owasp: "API7",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				plain := newInternal(t, false, internalSecret)
				tlsSrv := newInternal(t, true, internalSecret)
				e.s.tlsRoots = certPool(tlsSrv)
				return []exchange{
					e.call(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": plain.URL + "/latest/meta-data"}),
					e.call(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": tlsSrv.URL}),
					e.call(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": localhostURL(tlsSrv.URL)}),
					e.call(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": "https://[::ffff:127.0.0.1]:1/"}),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && has(xs[0], "AKIAEXAMPLESECRET"), "avatar from loopback = %v, want 200 reflecting the internal answer", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.status != 400 || has(x, "AKIA") {
						return fmt.Sprintf("avatar from loopback = %v, want 400 without the internal answer", x)
					}
				}
				return ""
			},
		},
		{
			id: "DB-16", owasp: "API7",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				internal := newInternal(t, false, `{"status":"ok"}`)
				reg := e.call(t, "POST", "/api/v1/webhooks", alice, map[string]any{"url": internal.URL + "/admin/reset", "events": []string{"transfer.created"}})
				xs := []exchange{reg}
				if reg.status == 201 {
					xs = append(xs, e.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%v/test", reg.obj()["id"]), alice, nil))
				}
				xs = append(xs, exchange{status: int(internal.hits.Load())})
				return xs
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(len(xs) == 3 && xs[1].status == 200 && xs[1].obj()["delivered"] == true && xs[2].status == 1,
					"webhook to loopback = %v, want registered, delivered and one hit", xs)
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(len(xs) == 2 && xs[0].status == 400 && xs[1].status == 0, "webhook to loopback = %v, want 400 and no hit", xs)
			},
		},
		{
			// The fixed variant's address rules would stop this before the
			// answer matters, so the attack lifts them for both variants:
			// this case is about trusting the callback's answer only.
			id: "DB-17", owasp: "API10",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				evil := newInternal(t, true, `{"status":"ok","url":"http://169.254.169.254/latest/meta-data/","html":"<script>alert(document.cookie)</script>"}`)
				good := newInternal(t, true, `{"status":"ok"}`)
				e.s.tlsRoots = certPool(evil)
				e.s.tlsRoots.AddCert(good.Certificate())
				e.s.blocked = func(netip.Addr) bool { return false }
				var xs []exchange
				for _, srv := range []*internalServer{evil, good} {
					reg := e.call(t, "POST", "/api/v1/webhooks", alice, map[string]any{"url": srv.URL + "/cb", "events": []string{"transfer.created"}})
					if reg.status != 201 {
						t.Fatalf("registering webhook = %v, want 201", reg)
					}
					xs = append(xs, e.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%v/test", reg.obj()["id"]), alice, nil))
				}
				var stored string
				_ = e.s.db.QueryRow(`SELECT url FROM webhooks WHERE id = 1`).Scan(&stored)
				return append(xs, exchange{body: []byte(stored)})
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && strings.Contains(fmt.Sprint(xs[0].obj()["response"]), "<script>") && string(xs[2].body) == "http://169.254.169.254/latest/meta-data/",
					"evil webhook answer = %v, stored url %s, want reflected and applied", xs[0], xs[2].body)
			},
			fixed: func(xs []exchange, _ *env) string {
				if xs[0].status != 502 || has(xs[0], "script") || has(xs[0], "169.254") || strings.Contains(string(xs[2].body), "169.254") {
					return fmt.Sprintf("evil webhook answer = %v, stored url %s, want 502, not reflected nor applied", xs[0], xs[2].body)
				}
				return want(xs[1].status == 200 && xs[1].obj()["delivered"] == true && !has(xs[1], "response"),
					"valid webhook answer = %v, want 200 delivered without the answer", xs[1])
			},
		},
		{
			id: "DB-18", owasp: "API8",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				return []exchange{
					e.call(t, "GET", "/api/v1/search?q="+url.QueryEscape("' OR 1=1--"), alice, nil),
					e.call(t, "GET", "/api/v1/search?q="+url.QueryEscape("' UNION SELECT id, 0, 0, username, password_hash, role FROM users--"), alice, nil),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && has(xs[0], "Safe deposit box PIN") && has(xs[1], "$pbkdf2-sha256$"),
					"injected search = %v / %v, want bob's rows and password hashes", xs[0], xs[1])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && len(xs[0].items()) == 0 && xs[1].status == 200 && !has(xs[1], "pbkdf2"),
					"injected search = %v / %v, want 200 and no rows", xs[0], xs[1])
			},
		},
		{
			id: "DB-19", owasp: "API8",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				return []exchange{
					e.call(t, "GET", "/api/v1/search?q=%27", alice, nil),
					e.call(t, "GET", "/api/v1/transactions?limit=abc", alice, nil),
					e.call(t, "PATCH", "/api/v1/users/1", alice, map[string]any{"balance": "lots"}),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.status != 500 || !has(x, "goroutine") || !has(x, "trace") {
						return fmt.Sprintf("error answer = %v, want 500 with a stack trace", x)
					}
				}
				return want(has(xs[0], "SELECT") && has(xs[0], "SQL logic error"), "SQL error answer = %v, want the SQL and its error", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.status == 500 || has(x, "goroutine") || has(x, "SELECT") || has(x, ".go:") {
						return fmt.Sprintf("error answer = %v, want no 500 and no detail", x)
					}
				}
				return want(xs[0].status == 200 && xs[1].status == 400 && xs[2].status == 400, "answers = %v / %v / %v, want 200 / 400 / 400", xs[0], xs[1], xs[2])
			},
		},
		{
			id: "DB-20", owasp: "API9",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v0/users/2", "", nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 200 && xs[0].obj()["ssn"] == "219-09-9999", "unauthenticated v0 = %v, want 200 with ssn", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 404 && !has(xs[0], "bob"), "unauthenticated v0 = %v, want 404", xs[0])
			},
		},
		{
			id: "DB-21", owasp: "API9",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/internal/debug", "", nil)}
			},
			vuln: func(xs []exchange, e *env) string {
				return want(xs[0].status == 200 && has(xs[0], "Sup3rS3cret-db-pass") && has(xs[0], e.s.kid) && has(xs[0], "go_version"),
					"debug = %v, want 200 leaking dsn, kid, go version", xs[0])
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 404 && !has(xs[0], "dsn"), "debug = %v, want 404", xs[0])
			},
		},
		{
			id: "DB-22", owasp: "API8",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{
					e.call(t, "GET", "/api/v1/accounts", e.login(t, "alice"), nil, "Origin", "https://evil.example"),
					e.call(t, "OPTIONS", "/api/v1/accounts", "", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "GET",
						"Access-Control-Request-Headers", "authorization"),
				}
			},
			vuln: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.header.Get("Access-Control-Allow-Origin") != "https://evil.example" || x.header.Get("Access-Control-Allow-Credentials") != "true" {
						return fmt.Sprintf("CORS headers = %v, want the origin reflected with credentials", x.header)
					}
				}
				return ""
			},
			fixed: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.header.Get("Access-Control-Allow-Origin") != "" || x.header.Get("Access-Control-Allow-Credentials") != "" {
						return fmt.Sprintf("CORS headers = %v, want none", x.header)
					}
				}
				return ""
			},
		},
		{
			id: "DB-23", owasp: "API8",
			attack: func(t *testing.T, e *env) []exchange {
				return []exchange{e.call(t, "GET", "/api/v1/accounts", e.login(t, "alice"), nil)}
			},
			vuln: func(xs []exchange, _ *env) string {
				h := xs[0].header
				return want(h.Get("Server") == "demobank" && h.Get("X-Powered-By") == "demobank/0.1 (Go)" && h.Get("X-Content-Type-Options") == "" && h.Get("Cache-Control") == "",
					"headers = %v, want banners and no nosniff nor no-store", h)
			},
			fixed: func(xs []exchange, _ *env) string {
				h := xs[0].header
				return want(h.Get("Server") == "" && h.Get("X-Powered-By") == "" && h.Get("X-Content-Type-Options") == "nosniff" && h.Get("Cache-Control") == "no-store",
					"headers = %v, want no banners, nosniff and no-store", h)
			},
		},
		{
			id: "DB-24", owasp: "API4",
			attack: func(t *testing.T, e *env) []exchange {
				alice := e.login(t, "alice")
				var xs []exchange
				for range 250 {
					xs = append(xs, e.call(t, "GET", "/api/v1/accounts", alice, nil))
				}
				return xs
			},
			vuln: func(xs []exchange, _ *env) string {
				for _, x := range xs {
					if x.status != 200 {
						return fmt.Sprintf("burst request = %v, want 200 every time", x)
					}
				}
				return ""
			},
			fixed: func(xs []exchange, _ *env) string {
				limited := 0
				for _, x := range xs {
					if x.status == 429 {
						limited++
					}
				}
				return want(xs[0].status == 200 && limited >= 50 && xs[249].header.Get("Retry-After") != "",
					"burst of 250 = %d answered 429, want at least 50 (burst 200, clock stopped)", limited)
			},
		},
		{
			id: "DB-25", owasp: "API2",
			attack: func(t *testing.T, e *env) []exchange {
				x := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"username": "alice", "password": "alice-pass", "expires_in": -3600})
				xs := []exchange{x}
				if tok, ok := x.obj()["access_token"].(string); ok {
					xs = append(xs, exchange{body: []byte(strings.Split(tok, ".")[1])})
				}
				return xs
			},
			vuln: func(xs []exchange, _ *env) string {
				if len(xs) != 2 {
					return fmt.Sprintf("login with expires_in -3600 = %v, want 200 with a token", xs[0])
				}
				c := decodeSegmentString(string(xs[1].body))
				return want(c["exp"].(float64) < c["iat"].(float64), "token claims = %v, want exp before iat", c)
			},
			fixed: func(xs []exchange, _ *env) string {
				return want(xs[0].status == 400 && len(xs) == 1, "login with expires_in -3600 = %v, want 400", xs[0])
			},
		},
	}
}

func decodeSegmentString(seg string) map[string]any {
	b, _ := base64.RawURLEncoding.DecodeString(seg)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

func certPool(s *internalServer) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

// TestPlantedVulnerabilities demonstrates every planted vulnerability
// against the vulnerable variant and shows it closed in the fixed one.
func TestPlantedVulnerabilities(t *testing.T) {
	for _, vc := range vulnCases() {
		for _, fixed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fixed=%v", vc.id, fixed), func(t *testing.T) {
				e := newEnv(t, fixed)
				xs := vc.attack(t, e)
				check := vc.vuln
				if fixed {
					check = vc.fixed
				}
				if msg := check(xs, e); msg != "" {
					t.Errorf("%s (%s): %s", vc.id, vc.owasp, msg)
				}
			})
		}
	}
}

// TestGroundTruthTable keeps docs/demobank.md and the test table in step:
// same ids, same OWASP categories.
func TestGroundTruthTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/demobank.md")
	if err != nil {
		t.Fatalf("reading docs/demobank.md: %v", err)
	}
	row := regexp.MustCompile(`(?m)^\|\s*(DB-\d\d)\s*\|\s*(API\d+)\b`)
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		if _, dup := documented[m[1]]; dup {
			t.Errorf("docs/demobank.md lists %s twice", m[1])
		}
		documented[m[1]] = m[2]
	}
	tested := map[string]string{}
	for _, vc := range vulnCases() {
		tested[vc.id] = vc.owasp
	}
	for id, cat := range tested {
		if documented[id] != cat {
			t.Errorf("docs/demobank.md %s category = %q, want %q", id, documented[id], cat)
		}
	}
	for id := range documented {
		if _, ok := tested[id]; !ok {
			t.Errorf("docs/demobank.md lists %s, which no test demonstrates", id)
		}
	}
}
