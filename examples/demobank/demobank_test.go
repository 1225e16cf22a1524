package demobank

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// fakeClock is a settable clock shared by a test and a demobank.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one demobank behind a real loopback HTTP server.
type env struct {
	fixed bool
	s     *Server
	ts    *httptest.Server
	clock *fakeClock
}

func newEnv(t testing.TB, fixed bool) *env {
	t.Helper()
	clock := newClock()
	s, err := New(Options{Fixed: fixed, Now: clock.Now})
	if err != nil {
		t.Fatalf("New(Fixed: %v) error = %v", fixed, err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return &env{fixed: fixed, s: s, ts: ts, clock: clock}
}

// exchange is one request's answer.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

func (x exchange) obj() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(x.body, &m)
	return m
}

func (x exchange) items() []any {
	it, _ := x.obj()["items"].([]any)
	return it
}

func (x exchange) String() string {
	b := x.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %s", x.status, b)
}

// call sends one request. body is nil, a string (sent raw) or a value
// (sent as JSON).
func (e *env) call(t testing.TB, method, path, token string, body any, hdr ...string) exchange {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("json.Marshal(%v) error = %v", b, err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatalf("NewRequest(%s %s) error = %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s error = %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s reading body: %v", method, path, err)
	}
	return exchange{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) login(t testing.TB, user string) string {
	t.Helper()
	for _, id := range Seeds() {
		if id.Username == user {
			x := e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": id.Username, "password": id.Password})
			tok, _ := x.obj()["access_token"].(string)
			if x.status != http.StatusOK || tok == "" {
				t.Fatalf("login(%s) = %v, want 200 with a token", user, x)
			}
			return tok
		}
	}
	t.Fatalf("login(%s): no such seed", user)
	return ""
}

func decodeSegment(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decoding token segment %q: %v", seg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding token segment %s: %v", b, err)
	}
	return m
}

func TestLogin(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		e := newEnv(t, fixed)
		for _, id := range Seeds() {
			t.Run(fmt.Sprintf("fixed=%v/%s", fixed, id.Username), func(t *testing.T) {
				x := e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": id.Username, "password": id.Password})
				m := x.obj()
				if x.status != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(900) {
					t.Fatalf("login(%s) = %v, want 200 Bearer 900", id.Username, x)
				}
				parts := strings.Split(m["access_token"].(string), ".")
				if len(parts) != 3 {
					t.Fatalf("access_token has %d parts, want 3", len(parts))
				}
				h, c := decodeSegment(t, parts[0]), decodeSegment(t, parts[1])
				if h["alg"] != "ES256" || h["typ"] != "at+jwt" || h["kid"] != e.s.kid {
					t.Errorf("token header = %v, want ES256 at+jwt kid %s", h, e.s.kid)
				}
				wantScope := "accounts:read accounts:write transfers:write"
				if id.Role == "admin" {
					wantScope += " admin"
				}
				roles, _ := c["roles"].([]any)
				if c["iss"] != e.ts.URL || c["sub"] != strconv.Itoa(id.ID) || c["aud"] != "demobank" ||
					c["scope"] != wantScope || len(roles) != 1 || roles[0] != id.Role || c["jti"] == "" {
					t.Errorf("token claims = %v, want iss %s sub %d aud demobank role %s scope %q", c, e.ts.URL, id.ID, id.Role, wantScope)
				}
				exp, iat := c["exp"].(float64), c["iat"].(float64)
				if exp-iat != 900 || int64(iat) != e.clock.Now().Unix() {
					t.Errorf("token iat, exp = %v, %v, want now and now+900", iat, exp)
				}
				bad := e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": id.Username, "password": id.Password + "x"})
				if bad.status != http.StatusUnauthorized {
					t.Errorf("login(%s, wrong password) = %v, want 401", id.Username, bad)
				}
			})
		}
		t.Run(fmt.Sprintf("fixed=%v/unknown", fixed), func(t *testing.T) {
			x := e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "mallory", "password": "x"})
			if x.status != http.StatusUnauthorized {
				t.Errorf("login(mallory) = %v, want 401", x)
			}
		})
	}
}

func TestJWKSVerifiesToken(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixed=%v", fixed), func(t *testing.T) {
			e := newEnv(t, fixed)
			tok := e.login(t, "alice")
			disc := e.call(t, "GET", "/.well-known/openid-configuration", "", nil)
			d := disc.obj()
			if disc.status != 200 || d["issuer"] != e.ts.URL || d["jwks_uri"] != e.ts.URL+"/.well-known/jwks.json" ||
				d["token_endpoint"] != e.ts.URL+"/api/v1/auth/login" {
				t.Fatalf("GET openid-configuration = %v, want issuer %s", disc, e.ts.URL)
			}
			algs, _ := d["id_token_signing_alg_values_supported"].([]any)
			if len(algs) != 1 || algs[0] != "ES256" {
				t.Errorf("id_token_signing_alg_values_supported = %v, want [ES256]", algs)
			}
			set, err := jwk.Fetch(context.Background(), d["jwks_uri"].(string))
			if err != nil {
				t.Fatalf("jwk.Fetch(%s) error = %v", d["jwks_uri"], err)
			}
			if set.Len() != 1 {
				t.Fatalf("JWKS has %d keys, want 1", set.Len())
			}
			key, _ := set.Key(0)
			if kid, _ := key.KeyID(); kid != e.s.kid {
				t.Errorf("JWKS kid = %q, want %q", kid, e.s.kid)
			}
			if priv, err := jwk.IsPrivateKey(key); err != nil || priv {
				t.Errorf("JWKS key IsPrivateKey = %v, %v, want false", priv, err)
			}
			parsed, err := jwt.ParseString(tok, jwt.WithKeySet(set), jwt.WithIssuer(e.ts.URL), jwt.WithAudience("demobank"),
				jwt.WithClock(jwt.ClockFunc(e.clock.Now)))
			if err != nil {
				t.Fatalf("jwt.Parse(token, served JWKS) error = %v", err)
			}
			if sub, _ := parsed.Subject(); sub != "1" {
				t.Errorf("token sub = %q, want 1", sub)
			}
			// A token from another instance must not verify.
			other := newEnv(t, fixed)
			if _, err := jwt.ParseString(other.login(t, "alice"), jwt.WithKeySet(set)); err == nil {
				t.Errorf("jwt.Parse(foreign token, served JWKS) error = nil, want an error")
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/users/1"},
		{"PATCH", "/api/v1/users/1"},
		{"POST", "/api/v1/users/1/avatar/import"},
		{"GET", "/api/v1/accounts"},
		{"GET", "/api/v1/accounts/101"},
		{"POST", "/api/v1/transfers"},
		{"GET", "/api/v1/transactions"},
		{"GET", "/api/v1/admin/users"},
		{"GET", "/api/v1/search?q=a"},
		{"POST", "/api/v1/webhooks"},
		{"POST", "/api/v1/webhooks/1/test"},
	}
	for _, fixed := range []bool{false, true} {
		e := newEnv(t, fixed)
		for _, p := range paths {
			for _, tok := range []string{"", "garbage", "a.b.c"} {
				t.Run(fmt.Sprintf("fixed=%v/%s %s/%q", fixed, p.method, p.path, tok), func(t *testing.T) {
					x := e.call(t, p.method, p.path, tok, nil)
					if x.status != http.StatusUnauthorized || !strings.HasPrefix(x.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s = %v (WWW-Authenticate %q), want 401 with Bearer challenge", p.method, p.path, x, x.header.Get("WWW-Authenticate"))
					}
					if ct := x.header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("%s %s Content-Type = %q, want application/json", p.method, p.path, ct)
					}
				})
			}
		}
	}
}

// noneToken forges an unsigned token for sub with roles.
func noneToken(iss, sub string, roles []string, exp time.Time) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	c, _ := json.Marshal(map[string]any{"iss": iss, "sub": sub, "aud": "demobank", "exp": exp.Unix(), "roles": roles})
	return h + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func TestFixedStillWorks(t *testing.T) {
	e := newEnv(t, true)
	alice, admin := e.login(t, "alice"), e.login(t, "admin")
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		check  func(x exchange) bool
	}{
		{"own user", "GET", "/api/v1/users/1", alice, nil, 200, func(x exchange) bool { return x.obj()["email"] == "alice@demobank.example" }},
		{"admin reads any user", "GET", "/api/v1/users/2", admin, nil, 200, func(x exchange) bool { return x.obj()["username"] == "bob" }},
		{"admin lists users", "GET", "/api/v1/admin/users", admin, nil, 200, func(x exchange) bool { return len(x.items()) == 3 }},
		{"own accounts", "GET", "/api/v1/accounts", alice, nil, 200, func(x exchange) bool { return len(x.items()) == 1 }},
		{"own account", "GET", "/api/v1/accounts/101", alice, nil, 200, func(x exchange) bool { return x.obj()["balance"] == 2500.0 }},
		{"patch own profile", "PATCH", "/api/v1/users/1", alice, map[string]any{"email": "a@demobank.example", "display_name": "Alice"}, 200,
			func(x exchange) bool { return x.obj()["email"] == "a@demobank.example" }},
		{"transfer", "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 10.5, "currency": "EUR", "memo": "lunch"}, 201,
			func(x exchange) bool { return x.obj()["amount"] == 10.5 && x.obj()["status"] == "completed" }},
		{"balance after transfer", "GET", "/api/v1/accounts/101", alice, nil, 200, func(x exchange) bool { return x.obj()["balance"] == 2489.5 }},
		{"page of 100", "GET", "/api/v1/transactions?limit=100&offset=10", alice, nil, 200,
			func(x exchange) bool { return len(x.items()) == 100 && x.obj()["total"] == 5001.0 }},
		{"search own", "GET", "/api/v1/search?q=Coffee", alice, nil, 200, func(x exchange) bool {
			for _, it := range x.items() {
				if !strings.Contains(it.(map[string]any)["memo"].(string), "Coffee") || it.(map[string]any)["account_id"] != 101.0 {
					return false
				}
			}
			return len(x.items()) > 0
		}},
		{"webhook registration", "POST", "/api/v1/webhooks", alice, map[string]any{"url": "https://hooks.demobank.example/cb", "events": []string{"transfer.created"}}, 201,
			func(x exchange) bool { return x.obj()["id"] == 1.0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := e.call(t, tt.method, tt.path, tt.token, tt.body)
			if x.status != tt.status || !tt.check(x) {
				t.Errorf("%s %s = %v, want %d and check passing", tt.method, tt.path, x, tt.status)
			}
			if x.header.Get("Cache-Control") != "no-store" || x.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s headers = %v, want Cache-Control no-store and nosniff", tt.method, tt.path, x.header)
			}
		})
	}
}

func TestSeeding(t *testing.T) {
	// Start-up time is measured by BenchmarkNew, not asserted here.
	s, err := New(Options{})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	defer s.Close()
	counts := map[int]int{}
	rows, err := s.db.Query(`SELECT user_id, COUNT(*) FROM transactions GROUP BY user_id`)
	if err != nil {
		t.Fatalf("counting transactions: %v", err)
	}
	for rows.Next() {
		var u, n int
		if err := rows.Scan(&u, &n); err != nil {
			t.Fatal(err)
		}
		counts[u] = n
	}
	rows.Close()
	if counts[1] != 5000 || counts[2] < 24 || counts[2] > 60 {
		t.Errorf("transactions per user = %v, want alice 5000 and bob a few dozen", counts)
	}
	// Deterministic: a second instance has the same transactions.
	s2, err := New(Options{})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	defer s2.Close()
	sum := func(s *Server) string {
		var n int64
		var memo string
		if err := s.db.QueryRow(`SELECT SUM(amount_cents), MAX(memo) FROM transactions`).Scan(&n, &memo); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(n, memo)
	}
	if a, b := sum(s), sum(s2); a != b {
		t.Errorf("seeded transactions differ between instances: %s vs %s", a, b)
	}
	// Instances do not share state.
	if _, err := s.db.Exec(`UPDATE accounts SET balance_cents = 1 WHERE id = 101`); err != nil {
		t.Fatal(err)
	}
	var bal int64
	if err := s2.db.QueryRow(`SELECT balance_cents FROM accounts WHERE id = 101`).Scan(&bal); err != nil || bal != 250000 {
		t.Errorf("other instance's balance of 101 = %d, %v, want 250000", bal, err)
	}
	for _, id := range []int{101, 102, 103} {
		if got := iban(id); !validIBAN(got) {
			t.Errorf("iban(%d) = %s, want a valid IBAN", id, got)
		}
	}
}

// validIBAN checks ISO 13616 check digits.
func validIBAN(s string) bool {
	r := s[4:] + s[:4]
	mod := 0
	for _, c := range r {
		switch {
		case c >= '0' && c <= '9':
			mod = (mod*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			mod = (mod*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return mod == 1
}

func TestNotFoundAndMethodAreJSON(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		e := newEnv(t, fixed)
		tests := []struct {
			method, path string
			status       int
		}{
			{"GET", "/nope", 404},
			{"GET", "/api/v1/users/1/extra", 404},
			{"DELETE", "/api/v1/users/1", 405},
			{"GET", "/api/v1/auth/login", 405},
		}
		for _, tt := range tests {
			x := e.call(t, tt.method, tt.path, "", nil)
			if x.status != tt.status || x.obj()["error"] == nil {
				t.Errorf("fixed=%v %s %s = %v, want %d with a JSON error", fixed, tt.method, tt.path, x, tt.status)
			}
		}
	}
}

func BenchmarkGetAccount(b *testing.B) {
	for _, fixed := range []bool{false, true} {
		b.Run(fmt.Sprintf("fixed=%v", fixed), func(b *testing.B) {
			e := newEnv(b, fixed)
			e.s.userBurst, e.s.userRate = 1e12, 1e12 // measure the handler, not the limiter
			tok := e.login(b, "alice")
			req, err := http.NewRequest("GET", e.ts.URL+"/api/v1/accounts/101", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			client := e.ts.Client()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET /api/v1/accounts/101 = %d, want 200", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkNew is demobank's start-up: schema, seeds (5 000 transactions for
// alice) and keys. Target: well under 300 ms.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		s, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
}
