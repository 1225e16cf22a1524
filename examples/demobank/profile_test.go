package demobank_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard, as in the binary
)

// The protection profile (examples/demobank/apiguard.yaml) against the
// ground truth (docs/demobank.md): every planted vulnerability that the
// gateway can close is closed when demobank is reached through apiguard.

// profile is demobank (vulnerable) behind a gateway running the example
// config exactly as shipped, with the three seeded users logged in.
type profile struct {
	env    *gatewaytest.Env
	tokens map[string]string
}

func startProfile(t *testing.T) *profile {
	t.Helper()
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: "apiguard.yaml"})
	p := &profile{env: env, tokens: map[string]string{}}
	for _, user := range []string{"alice", "bob", "admin"} {
		p.tokens[user] = env.Login(t, user)
	}
	return p
}

// direct is the same profile aimed at demobank itself.
func (p *profile) direct() *profile {
	env := *p.env
	env.URL = p.env.BankURL
	return &profile{env: &env, tokens: p.tokens}
}

// get is a GET as user ("" for anonymous).
func (p *profile) get(t *testing.T, user, path string, headers ...string) (*http.Response, []byte) {
	return p.env.Do(t, "GET", path, p.tokens[user], nil, headers...)
}

// send sends a JSON body as user.
func (p *profile) send(t *testing.T, user, method, path, body string) (*http.Response, []byte) {
	return p.env.Do(t, method, path, p.tokens[user], body)
}

// sendToken sends with an explicit token, to the gateway or, with bank,
// to demobank directly.
func (p *profile) sendToken(t *testing.T, bank bool, method, path, token, body string) (*http.Response, []byte) {
	env := p.env
	if bank {
		env = p.direct().env
	}
	var b any
	if body != "" {
		b = body
	}
	return env.Do(t, method, path, token, b)
}

func refused(resp *http.Response) bool { return resp.StatusCode >= 400 && resp.StatusCode < 500 }

func unsignedAdminToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"3","roles":["admin"]}`)) + "."
}

// closedCase proves one planted vulnerability closed: check returns ""
// when it is, or what got through.
type closedCase struct {
	id, what string
	check    func(t *testing.T, p *profile) string
}

func TestProfileClosesTheGroundTruth(t *testing.T) {
	p := startProfile(t)
	var open []string
	for _, c := range groundTruthCases() {
		t.Run(c.id, func(t *testing.T) {
			if got := c.check(t, p); got != "" {
				open = append(open, c.id)
				t.Errorf("%s (%s) is not closed through apiguard: %s", c.id, c.what, got)
			}
		})
	}
	t.Logf("ground truth closed through apiguard: %d of %d tested rows (open: %v)", len(groundTruthCases())-len(open), len(groundTruthCases()), open)
}

// The same checks against demobank directly must find every vulnerability
// open: a check that passes there could not tell closed from open.
func TestGroundTruthOpenWithoutApiguard(t *testing.T) {
	direct := startProfile(t).direct()
	for _, c := range groundTruthCases() {
		t.Run(c.id, func(t *testing.T) {
			if got := c.check(t, direct); got == "" {
				t.Errorf("%s (%s): the check finds it closed on demobank itself, so it proves nothing", c.id, c.what)
			}
		})
	}
}

func groundTruthCases() []closedCase {
	transfer := func(from, amount string) string {
		return `{"from_account_id":` + from + `,"to_account_id":102,"amount":` + amount + `,"currency":"EUR"}`
	}
	cases := []closedCase{
		{"DB-01", "alice reads bob's user record", func(t *testing.T, p *profile) string {
			if resp, body := p.get(t, "alice", "/api/v1/users/2"); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-02", "alice reads bob's account", func(t *testing.T, p *profile) string {
			if resp, body := p.get(t, "alice", "/api/v1/accounts/102"); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-03", "alice pays from bob's account", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "alice", "POST", "/api/v1/transfers", strings.Replace(transfer("102", "100"), `"to_account_id":102`, `"to_account_id":101`, 1)); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-04", "password hash and SSN in alice's own record", func(t *testing.T, p *profile) string {
			resp, body := p.get(t, "alice", "/api/v1/users/1")
			if resp.StatusCode != 200 {
				return fmt.Sprintf("her own record = %d %s, want 200", resp.StatusCode, body)
			}
			if bytes.Contains(body, []byte("078-05-1120")) || bytes.Contains(body, []byte("$pbkdf2")) {
				return string(body)
			}
			return ""
		}},
		{"DB-05", "alice makes herself admin", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "alice", "PATCH", "/api/v1/users/1", `{"role":"admin","balance":1000000}`); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-06", "alice changes bob's e-mail", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "alice", "PATCH", "/api/v1/users/2", `{"email":"attacker@evil.example"}`); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-07", "an expired token", func(t *testing.T, p *profile) string {
			// DB-25 is closed by the gateway, so the expired token is minted at demobank directly.
			resp, body := p.sendToken(t, true, "POST", "/api/v1/auth/login", "", `{"username":"alice","password":"alice-pass","expires_in":-3600}`)
			var out struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
				return fmt.Sprintf("minting an expired token at demobank failed: %d %s", resp.StatusCode, body)
			}
			if resp, body := p.sendToken(t, false, "GET", "/api/v1/accounts", out.AccessToken, ""); resp.StatusCode != 401 {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-08", "an alg:none token claiming admin", func(t *testing.T, p *profile) string {
			if resp, body := p.sendToken(t, false, "GET", "/api/v1/admin/users", unsignedAdminToken(), ""); resp.StatusCode != 401 {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-09", "the token in the query string", func(t *testing.T, p *profile) string {
			if resp, body := p.get(t, "", "/api/v1/accounts?access_token="+p.tokens["alice"]); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-11", "a page of a million transactions", func(t *testing.T, p *profile) string {
			resp, body := p.get(t, "alice", "/api/v1/transactions?limit=1000000")
			if refused(resp) {
				return ""
			}
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			_ = json.Unmarshal(body, &page)
			if resp.StatusCode != 200 || len(page.Items) > 100 || bytes.Count(body, []byte(`"id"`)) > 100 {
				return fmt.Sprintf("%d with %d bytes", resp.StatusCode, len(body))
			}
			return ""
		}},
		{"DB-12", "a negative transfer", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "bob", "POST", "/api/v1/transfers", strings.Replace(transfer("102", "-500"), `"to_account_id":102`, `"to_account_id":101`, 1)); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-14", "alice lists every user", func(t *testing.T, p *profile) string {
			if resp, body := p.get(t, "alice", "/api/v1/admin/users"); resp.StatusCode != 403 {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			if resp, body := p.get(t, "admin", "/api/v1/admin/users"); resp.StatusCode != 200 || bytes.Contains(body, []byte("$pbkdf2")) {
				return fmt.Sprintf("admin: %d %s, want 200 without hashes", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-15", "avatar import of internal URLs", func(t *testing.T, p *profile) string {
			for _, u := range []string{p.env.BankURL + "/internal/debug", "http://169.254.169.254/latest/meta-data/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://2130706433/"} {
				if resp, body := p.send(t, "alice", "POST", "/api/v1/users/1/avatar/import", `{"url":"`+u+`"}`); !refused(resp) {
					return fmt.Sprintf("%s: %d %s", u, resp.StatusCode, body)
				}
			}
			// The profile allows https only, so the http URLs above stop at
			// the scheme check; over https the address check (or the WAF's
			// RFI rules, which run first) must stop them, whatever form the
			// address takes.
			for _, u := range []string{"https://169.254.169.254/latest/meta-data/", "https://127.1/", "https://[::ffff:127.0.0.1]/", "https://2130706433/", "https://0x7f.1/", "https://[::ffff:a9fe:a9fe]/"} {
				resp, body := p.send(t, "alice", "POST", "/api/v1/users/1/avatar/import", `{"url":"`+u+`"}`)
				byAddress := bytes.Contains(body, []byte("ssrf.forbidden_address")) || bytes.Contains(body, []byte("waf."))
				if !refused(resp) || !byAddress {
					return fmt.Sprintf("%s: %d %s, want a refusal by the ssrf address check or the waf", u, resp.StatusCode, body)
				}
			}
			return ""
		}},
		{"DB-16", "a webhook to an internal URL", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "alice", "POST", "/api/v1/webhooks", `{"url":"`+p.env.BankURL+`/api/v1/auth/login","events":["transfer.created"]}`); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-18", "SQL injection in the search", func(t *testing.T, p *profile) string {
			for _, q := range []string{"%27%20OR%201%3D1--", "%27%20UNION%20SELECT%20id%2C0%2C0%2Cusername%2Cpassword_hash%2Crole%20FROM%20users--"} {
				resp, body := p.get(t, "alice", "/api/v1/search?q="+q)
				if !refused(resp) || bytes.Contains(body, []byte("$pbkdf2")) || bytes.Contains(body, []byte("PIN")) {
					return fmt.Sprintf("q=%s: %d %s", q, resp.StatusCode, body)
				}
			}
			return ""
		}},
		{"DB-19", "a 500 with the SQL and a stack trace", func(t *testing.T, p *profile) string {
			resp, body := p.get(t, "alice", "/api/v1/search?q=%27")
			if bytes.Contains(body, []byte("goroutine")) || bytes.Contains(body, []byte("SELECT")) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		{"DB-20", "the retired v0 API", func(t *testing.T, p *profile) string {
			for _, user := range []string{"", "alice"} {
				if resp, body := p.get(t, user, "/api/v0/users/2"); !refused(resp) {
					return fmt.Sprintf("as %q: %d %s", user, resp.StatusCode, body)
				}
			}
			return ""
		}},
		{"DB-21", "the undocumented debug endpoint", func(t *testing.T, p *profile) string {
			for _, user := range []string{"", "alice", "admin"} {
				if resp, body := p.get(t, user, "/internal/debug"); !refused(resp) || bytes.Contains(body, []byte("dsn")) {
					return fmt.Sprintf("as %q: %d %s", user, resp.StatusCode, body)
				}
			}
			return ""
		}},
		{"DB-22", "CORS reflecting any origin", func(t *testing.T, p *profile) string {
			resp, _ := p.get(t, "alice", "/api/v1/accounts", "Origin", "https://evil.example")
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				return "Access-Control-Allow-Origin: " + got
			}
			return ""
		}},
		{"DB-23", "version banners, missing hardening headers", func(t *testing.T, p *profile) string {
			resp, _ := p.get(t, "alice", "/api/v1/accounts")
			if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") == "" {
				return fmt.Sprintf("%v", resp.Header)
			}
			return ""
		}},
		{"DB-25", "a login choosing its own token lifetime", func(t *testing.T, p *profile) string {
			if resp, body := p.send(t, "", "POST", "/api/v1/auth/login", `{"username":"bob","password":"bob-pass","expires_in":-3600}`); !refused(resp) {
				return fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
			return ""
		}},
		// The quota cases last: they spend budgets the others share.
		{"DB-13", "a sixth transfer within the hour", func(t *testing.T, p *profile) string {
			var codes []int
			for i := 0; i < 6; i++ {
				resp, _ := p.send(t, "alice", "POST", "/api/v1/transfers", strings.Replace(transfer("101", "1"), `"to_account_id":102`, `"to_account_id":102`, 1))
				codes = append(codes, resp.StatusCode)
			}
			for _, c := range codes[:5] {
				if c != 201 && c != 200 {
					return fmt.Sprintf("statuses %v: alice's own transfers must go through", codes)
				}
			}
			if codes[5] != 429 {
				return fmt.Sprintf("statuses %v, want the sixth 429", codes)
			}
			return ""
		}},
		{"DB-24", "three hundred requests in a burst", func(t *testing.T, p *profile) string {
			for i := 0; i < 300; i++ {
				if resp, _ := p.get(t, "bob", "/api/v1/accounts"); resp.StatusCode == 429 {
					return ""
				}
			}
			return "no 429 in 300 requests"
		}},
		{"DB-10", "password brute force", func(t *testing.T, p *profile) string {
			for i := 0; i < 20; i++ {
				if resp, _ := p.send(t, "", "POST", "/api/v1/auth/login", fmt.Sprintf(`{"username":"alice","password":"guess-%d"}`, i)); resp.StatusCode == 429 {
					return ""
				}
			}
			return "no 429 in 20 failed logins"
		}},
	}
	return cases
}

// TestProfileTransferOrders checks the 1 KiB transfer order (the load
// bench's JSON POST) through the profile: a clean order passes every guard
// (WAF included), an order from someone else's account is refused by the
// gateway, and orders count towards the transfers' business quota.
func TestProfileTransferOrders(t *testing.T) {
	p := startProfile(t)
	order := func(from string) string {
		return strings.Replace(string(demobank.ExampleTransferOrder), `"account_id":101`, `"account_id":`+from, 1)
	}
	if resp, body := p.send(t, "alice", "POST", "/api/v1/transfer-orders", order("101")); resp.StatusCode != 201 {
		t.Fatalf("alice's order = %d %s, want 201", resp.StatusCode, body)
	}
	resp, body := p.send(t, "alice", "POST", "/api/v1/transfer-orders", order("102"))
	if resp.StatusCode != 403 || !strings.Contains(string(body), "request_id") || len(p.env.EventsWithRule("authz.referenced_object_denied")) == 0 {
		t.Errorf("order from bob's account = %d %s, want 403 authz.referenced_object_denied", resp.StatusCode, body)
	}
	var codes []int
	for range 5 {
		resp, _ := p.send(t, "alice", "POST", "/api/v1/transfer-orders", order("101"))
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[201 201 201 201 429]" {
		t.Errorf("orders 2..6 within the hour = %v, want four 201 then 429 (5 per hour, shared with transfers)", codes)
	}
}

// TestProfileRefusesXXE sends XML with an external entity through the
// whole profile: refused with 400 before demobank sees it, whatever
// guard comes first, and with an event naming the XML refusal.
func TestProfileRefusesXXE(t *testing.T) {
	p := startProfile(t)
	xxe := `<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><transfer><memo>&x;</memo></transfer>`
	resp, body := p.env.Do(t, "POST", "/api/v1/transfers", p.tokens["alice"], xxe, "Content-Type", "application/xml")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "request_id") || strings.Contains(string(body), "root:") {
		t.Fatalf("XXE transfer = %d %s, want 400 problem+json", resp.StatusCode, body)
	}
	if len(p.env.EventsWithRule("waf.xml_dtd")) == 0 {
		t.Errorf("no waf.xml_dtd event for the XXE transfer (body %s)", body)
	}
}
