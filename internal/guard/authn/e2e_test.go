package authn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/gatewaytest"
)

// demobankSection is the authn section of examples/demobank/apiguard.yaml.
const demobankSection = `
authn:
  jwt:
    issuer: "${DEMOBANK_URL:-http://127.0.0.1:8081}"
    discovery: true
    audience: [demobank]
    typ: at+jwt
    algorithms: [ES256]
    max_lifetime: 1h
    required_claims: [sub, jti]
  login:
    max_failures: 10
    max_failures_per_ip: 100
    window: 15m
    lockout: 15m
`

// startDemobank runs demobank behind a gateway whose authn section is
// section, with ${DEMOBANK_URL} set to demobank's address as the example
// config is run.
func startDemobank(t *testing.T, section string, clk *clock) *gatewaytest.Env {
	t.Helper()
	o := gatewaytest.Options{}
	if clk != nil {
		o.Now = clk.Now
	}
	env := gatewaytest.Start(t, o)
	o.Guards = section
	doc := gatewaytest.Config(env.BankURL, o)
	cfg, err := config.Parse([]byte(doc), func(name string) (string, bool) {
		if name == "DEMOBANK_URL" {
			return env.BankURL, true
		}
		return "", false
	})
	if err != nil {
		t.Fatalf("config:\n%s\n%v", doc, err)
	}
	if err := env.Gateway.Reload(&config.Loaded{Config: cfg}); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return env
}

func claimOf(t *testing.T, tok, name string) any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c[name]
}

func TestDemobankEndToEnd(t *testing.T) {
	env := startDemobank(t, demobankSection, nil)

	t.Run("no token", func(t *testing.T) {
		resp, body := env.Do(t, "GET", "/api/v1/accounts", "", nil)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="demobank"`) {
			t.Fatalf("GET /api/v1/accounts without a token = %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if p := gatewaytest.Problem(t, body); p["type"] != "https://apiguard.dev/problems/authn.missing" {
			t.Errorf("problem = %v, want authn.missing", p)
		}
	})

	alice := env.Login(t, "alice")
	t.Run("valid token", func(t *testing.T) {
		if resp, body := env.Do(t, "GET", "/api/v1/accounts", alice, nil); resp.StatusCode != 200 {
			t.Fatalf("alice's accounts = %d %s, want 200", resp.StatusCode, body)
		}
		for _, a := range env.Accesses() {
			if a.Path == "/api/v1/accounts" && a.Status == 200 && a.Principal != "1" {
				t.Errorf("access principal = %q, want 1 (alice)", a.Principal)
			}
		}
	})

	t.Run("token in the query (DB-09)", func(t *testing.T) {
		if resp, _ := env.Do(t, "GET", "/api/v1/accounts?access_token="+alice, "", nil); resp.StatusCode != 401 {
			t.Errorf("token in the query = %d, want 401", resp.StatusCode)
		}
	})

	t.Run("alg none (DB-08)", func(t *testing.T) {
		none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIzIiwicm9sZXMiOlsiYWRtaW4iXX0."
		if resp, _ := env.Do(t, "GET", "/api/v1/admin/users", none, nil); resp.StatusCode != 401 {
			t.Errorf("alg none token = %d, want 401", resp.StatusCode)
		}
		if len(env.EventsWithRule("authn.alg_not_allowed")) == 0 {
			t.Errorf("no authn.alg_not_allowed event")
		}
	})

	t.Run("expired token (DB-25, DB-07)", func(t *testing.T) {
		resp, body := env.Do(t, "POST", "/api/v1/auth/login", "", map[string]any{"username": "bob", "password": "bob-pass", "expires_in": -3600})
		if resp.StatusCode != 200 {
			t.Fatalf("login with expires_in = %d %s", resp.StatusCode, body)
		}
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &out)
		resp, body = env.Do(t, "GET", "/api/v1/accounts", out.AccessToken, nil)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("expired token = %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if p := gatewaytest.Problem(t, body); p["type"] != "https://apiguard.dev/problems/authn.expired" {
			t.Errorf("problem = %v, want authn.expired", p)
		}
		if len(env.EventsWithRule("authn.expired")) == 0 {
			t.Errorf("no authn.expired event")
		}
	})

	t.Run("revoked token refused at once", func(t *testing.T) {
		bob := env.Login(t, "bob")
		if resp, _ := env.Do(t, "GET", "/api/v1/accounts", bob, nil); resp.StatusCode != 200 {
			t.Fatalf("bob before revocation = %d, want 200", resp.StatusCode)
		}
		rl, err := sharedRevocations(env.Services)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		env.Services.Admin = func(p string, h http.Handler) { mux.Handle(p, h) }
		adminRoutes(env.Services, rl)
		admin := httptest.NewServer(mux)
		defer admin.Close()
		jti, _ := claimOf(t, bob, "jti").(string)
		body, _ := json.Marshal(RevocationRequest{Kind: "jti", Value: jti, TTL: "1h", Reason: "stolen laptop"})
		resp, err := http.Post(admin.URL+"/api/v1/revocations", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("POST /api/v1/revocations = %v, %v, want 201", resp, err)
		}
		var rv struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&rv)
		resp.Body.Close()
		resp, _ = env.Do(t, "GET", "/api/v1/accounts", bob, nil)
		if resp.StatusCode != 401 || len(env.EventsWithRule("authn.revoked")) == 0 {
			t.Fatalf("revoked token = %d, want 401 authn.revoked", resp.StatusCode)
		}
		// Another token of bob's still works: only that jti is revoked.
		if resp, _ := env.Do(t, "GET", "/api/v1/accounts", env.Login(t, "bob"), nil); resp.StatusCode != 200 {
			t.Errorf("bob's new token = %d, want 200", resp.StatusCode)
		}
		lresp, err := http.Get(admin.URL + "/api/v1/revocations")
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Revocations []map[string]any }
		_ = json.NewDecoder(lresp.Body).Decode(&list)
		lresp.Body.Close()
		if len(list.Revocations) != 1 || list.Revocations[0]["value"] != jti {
			t.Errorf("GET /api/v1/revocations = %v, want the one revocation", list)
		}
		req, _ := http.NewRequest("DELETE", admin.URL+"/api/v1/revocations/"+rv.ID, nil)
		dresp, err := http.DefaultClient.Do(req)
		if err != nil || dresp.StatusCode != 204 {
			t.Fatalf("DELETE revocation = %v, %v, want 204", dresp, err)
		}
		dresp.Body.Close()
		if resp, _ := env.Do(t, "GET", "/api/v1/accounts", bob, nil); resp.StatusCode != 200 {
			t.Errorf("token after the revocation was lifted = %d, want 200", resp.StatusCode)
		}
	})
}

func TestDemobankLoginLockout(t *testing.T) {
	clk := newClock()
	section := strings.Replace(demobankSection, "    lockout: 15m\n", "    lockout: 15m\n    delay: 1ms\n    max_delay: 4ms\n", 1)
	env := startDemobank(t, section, clk)
	login := func(user, pass string) int {
		resp, _ := env.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pass})
		return resp.StatusCode
	}
	var codes []int
	for i := range 20 {
		codes = append(codes, login("alice", "wrong-"+string(rune('a'+i))))
	}
	for i, c := range codes {
		want := 401
		if i >= 10 {
			want = 429
		}
		if c != want {
			t.Fatalf("failed login %d for alice = %d, want %d (all: %v)", i+1, c, want, codes)
		}
	}
	if c := login("alice", gatewaytest.Password(t, "alice")); c != 429 {
		t.Errorf("alice with her password while locked = %d, want 429", c)
	}
	if c := login("bob", gatewaytest.Password(t, "bob")); c != 200 {
		t.Errorf("bob while alice is locked = %d, want 200", c)
	}
	// A username that does not exist locks the same way: the answers do
	// not reveal which usernames exist.
	var ghost []int
	for range 11 {
		ghost = append(ghost, login("mallory-does-not-exist", "x"))
	}
	if ghost[9] != 401 || ghost[10] != 429 {
		t.Errorf("logins of an unknown user = %v, want ten 401 then 429 like a real user", ghost)
	}
	if len(env.EventsWithRule("authn.locked_out")) == 0 {
		t.Errorf("no authn.locked_out event")
	}
	clk.Add(16 * time.Minute)
	if c := login("alice", gatewaytest.Password(t, "alice")); c != 200 {
		t.Errorf("alice after the lockout window = %d, want 200", c)
	}
}
