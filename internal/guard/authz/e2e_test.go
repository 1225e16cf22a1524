package authz

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard/authn" // sets the principal
)

// demobankAuthz is the authz section proposed for
// examples/demobank/apiguard.yaml.
const demobankAuthz = `
authz:
  unknown_operation: deny
  rules:
    getUser:
      request: 'path.userId == principal.sub || "admin" in principal.roles'
    updateUser:
      request: 'path.userId == principal.sub || "admin" in principal.roles'
    importAvatar:
      request: 'path.userId == principal.sub || "admin" in principal.roles'
    getAccount:
      response: 'response.body.owner_id == int(principal.sub) || "admin" in principal.roles'
`

// authnFor is the authn section for a demobank at bankURL: its tokens'
// issuer is the URL it is reached on.
func authnFor(bankURL string) string {
	return `
authn:
  jwt:
    issuer: "` + bankURL + `"
    jwks_url: "` + bankURL + `/.well-known/jwks.json"
    audience: [demobank]
    algorithms: [ES256]
`
}

// startDemobank runs demobank behind a gateway with authn and the authz
// section. The issuer is only known once demobank runs, so the guards are
// loaded by a reload.
func startDemobank(t *testing.T, authz string) *gatewaytest.Env {
	t.Helper()
	env := gatewaytest.Start(t, gatewaytest.Options{})
	doc := gatewaytest.Config(env.BankURL, gatewaytest.Options{Guards: authnFor(env.BankURL) + authz})
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config:\n%s\nerror: %v", doc, err)
	}
	if err := env.Gateway.Reload(&config.Loaded{Config: cfg}); err != nil {
		t.Fatalf("reload:\n%s\nerror: %v", doc, err)
	}
	return env
}

func TestDemobankEndToEnd(t *testing.T) {
	env := startDemobank(t, demobankAuthz)
	aliceTok, bobTok, adminTok := env.Login(t, "alice"), env.Login(t, "bob"), env.Login(t, "admin")
	tests := []struct {
		name, token, method, path string
		body                      any
		wantStatus                int
		wantRule                  string // problem type suffix
		wantPointer               string
		notIn                     []string // strings the answer must not hold
	}{
		{"alice reads account 102 (bob's)", aliceTok, "GET", "/api/v1/accounts/102", nil, 403, "authz.object_denied", "", []string{"IBAN", "iban"}},
		{"alice reads her account", aliceTok, "GET", "/api/v1/accounts/101", nil, 200, "", "", nil},
		{"alice reads bob", aliceTok, "GET", "/api/v1/users/2", nil, 403, "authz.object_denied", "", nil},
		{"alice calls the admin function", aliceTok, "GET", "/api/v1/admin/users", nil, 403, "authz.role_required", "", []string{"password_hash"}},
		{"alice makes herself admin", aliceTok, "PATCH", "/api/v1/users/1", map[string]any{"role": "admin"}, 400, "authz.readonly_property", "/role", nil},
		{"alice assigns a balance", aliceTok, "PATCH", "/api/v1/users/1", `{"balance":1000000,"email":"a@example.com"}`, 400, "authz.readonly_property", "/balance", nil},
		{"alice updates her email", aliceTok, "PATCH", "/api/v1/users/1", map[string]any{"email": "alice@example.com"}, 200, "", "", []string{"password_hash", "ssn"}},
		{"alice updates bob", aliceTok, "PATCH", "/api/v1/users/2", map[string]any{"email": "attacker@evil.example"}, 403, "authz.object_denied", "", nil},
		{"bob reads himself without secrets", bobTok, "GET", "/api/v1/users/2", nil, 200, "", "", []string{"password_hash", "ssn", "pbkdf2"}},
		{"undocumented shadow endpoint", aliceTok, "GET", "/internal/debug", nil, 404, "authz.unknown_operation", "", []string{"dsn", "DSN"}},
		{"undocumented method", aliceTok, "DELETE", "/api/v1/users/1", nil, 405, "authz.unknown_operation", "", nil},
		{"admin lists users without hashes", adminTok, "GET", "/api/v1/admin/users", nil, 200, "", "", []string{"password_hash", "ssn"}},
		{"admin reads account 102", adminTok, "GET", "/api/v1/accounts/102", nil, 200, "", "", nil},
		{"admin reads bob", adminTok, "GET", "/api/v1/users/2", nil, 200, "", "", []string{"password_hash"}},
		{"admin updates bob", adminTok, "PATCH", "/api/v1/users/2", map[string]any{"display_name": "Bob"}, 200, "", "", nil},
		{"admin may not assign roles either", adminTok, "PATCH", "/api/v1/users/2", map[string]any{"role": "admin"}, 400, "authz.readonly_property", "/role", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.Do(t, tt.method, tt.path, tt.token, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus)
			}
			for _, s := range tt.notIn {
				if strings.Contains(string(body), s) {
					t.Errorf("%s %s answer holds %q: %s", tt.method, tt.path, s, body)
				}
			}
			if tt.wantRule == "" {
				return
			}
			p := gatewaytest.Problem(t, body)
			if p["type"] != "https://apiguard.dev/problems/"+tt.wantRule {
				t.Errorf("%s %s problem type = %v, want %s", tt.method, tt.path, p["type"], tt.wantRule)
			}
			if tt.wantPointer != "" {
				errs, _ := json.Marshal(p["errors"])
				if !strings.Contains(string(errs), `"pointer":"`+tt.wantPointer+`"`) {
					t.Errorf("%s %s problem errors = %s, want pointer %s", tt.method, tt.path, errs, tt.wantPointer)
				}
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("%s %s 405 without Allow", tt.method, tt.path)
			}
		})
	}
	// The refused mass assignment never reached demobank.
	_, body := env.Do(t, "GET", "/api/v1/users/1", aliceTok, nil)
	if strings.Contains(string(body), `"role":"admin"`) {
		t.Errorf("alice became admin: %s", body)
	}
	if len(env.EventsWithRule("authz.unknown_operation")) == 0 {
		t.Error("no authz.unknown_operation event for the inventory")
	}
	if len(env.EventsWithRule("authz.property_removed")) == 0 {
		t.Error("no authz.property_removed event")
	}
}
