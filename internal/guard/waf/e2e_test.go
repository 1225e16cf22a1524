package waf

import (
	"net/url"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
)

// demobankGuards is the section proposed for examples/demobank/apiguard.yaml.
const demobankGuards = `
waf:
  paranoia_level: 1
  inbound_threshold: 5
  exclusions:
    - operations: [createTransfer]
      rules: ["942230"]
      targets: ["ARGS:json.memo"]
`

// TestDemobankEndToEnd runs the real gateway and demobank with the waf.
func TestDemobankEndToEnd(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankGuards})
	tok := env.Login(t, "alice")
	tests := []struct {
		name, method, path, ctype string
		body                      any
		wantStatus                int
		wantType                  string
	}{
		{"search clean", "GET", "/api/v1/search?q=" + url.QueryEscape("coffee"), "", nil, 200, ""},
		{"search sqli", "GET", "/api/v1/search?q=" + url.QueryEscape("' OR 1=1--"), "", nil, 403, "https://apiguard.dev/problems/waf."},
		{"union", "GET", "/api/v1/search?q=" + url.QueryEscape("' UNION SELECT id,0,0,username,password_hash,role FROM users--"), "", nil, 403, "https://apiguard.dev/problems/waf."},
		{"account", "GET", "/api/v1/accounts", "", nil, 200, ""},
		{"xxe", "POST", "/api/v1/transfers", "application/xml", `<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><t>&x;</t>`, 400, "https://apiguard.dev/problems/waf.xml_dtd"},
		{"transfer xss", "POST", "/api/v1/transfers", "", map[string]any{"from_account_id": 101, "to_account_id": 202, "amount": 1, "currency": "EUR", "memo": "<script>alert(1)</script>"}, 403, "https://apiguard.dev/problems/waf."},
		{"excluded code memo", "POST", "/api/v1/transfers", "", map[string]any{"from_account_id": 999999, "to_account_id": 202, "amount": 1, "currency": "EUR", "memo": "Code: `if (a < b) { return a; }`"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			body := tt.body
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			resp, b := env.Do(t, tt.method, tt.path, tok, body, hdr...)
			if tt.wantStatus != 0 && resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, b, tt.wantStatus)
			}
			if tt.wantStatus == 0 && resp.StatusCode == 403 && strings.Contains(string(b), "problems/waf.") {
				t.Fatalf("%s %s = %d %s, want not blocked by the waf", tt.method, tt.path, resp.StatusCode, b)
			}
			if tt.wantType != "" {
				p := gatewaytest.Problem(t, b)
				if typ, _ := p["type"].(string); !strings.HasPrefix(typ, tt.wantType) {
					t.Errorf("problem type = %q, want prefix %q", typ, tt.wantType)
				}
				if strings.Contains(string(b), "OR 1=1") || strings.Contains(string(b), "script") {
					t.Errorf("problem echoes the attack: %s", b)
				}
			}
		})
	}
	var found bool
	for _, ev := range env.Events() {
		if strings.HasPrefix(ev.Rule, "waf.") && ev.Category == "API8" && strings.Contains(ev.Detail, "ARGS") {
			found = true
		}
	}
	if !found {
		t.Errorf("no waf event with category API8 and the matched location; events = %+v", env.Events())
	}
}
