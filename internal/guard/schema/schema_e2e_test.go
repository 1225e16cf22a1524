package schema

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
)

func TestDemobankThroughGateway(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
schema:
  strict: true
  response: {mode: monitor}
`})
	tok := env.Login(t, "alice")
	tests := []struct {
		name        string
		body        string
		ctype       string
		wantStatus  int
		wantRule    string
		wantPointer string
	}{
		{"string amount", `{"from_account_id":101,"to_account_id":201,"amount":"12.5","currency":"EUR"}`, "application/json", 400, "schema.body", "/amount"},
		{"unknown property", `{"from_account_id":101,"to_account_id":201,"amount":1,"currency":"EUR","role":"admin"}`, "application/json", 400, "schema.body", ""},
		{"duplicate keys", `{"from_account_id":101,"to_account_id":201,"amount":1,"amount":1000000,"currency":"EUR"}`, "application/json", 400, "schema.json_duplicate_key", "/amount"},
		{"integer beyond 2^53", `{"from_account_id":9007199254740993,"to_account_id":201,"amount":1,"currency":"EUR"}`, "application/json", 400, "schema.body", "/from_account_id"},
		{"json as text/plain", `{"from_account_id":101,"to_account_id":201,"amount":1,"currency":"EUR"}`, "text/plain", 415, "schema.content_type", ""},
		{"json with latin1 charset", `{"from_account_id":101,"to_account_id":201,"amount":1,"currency":"EUR"}`, "application/json; charset=iso-8859-1", 415, "schema.content_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.Do(t, "POST", "/api/v1/transfers", tok, tt.body, "Content-Type", tt.ctype)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("POST transfers %s = %d %s, want %d", tt.body, resp.StatusCode, body, tt.wantStatus)
			}
			p := gatewaytest.Problem(t, body)
			if !strings.HasSuffix(p["type"].(string), tt.wantRule) {
				t.Errorf("problem type = %v, want rule %s", p["type"], tt.wantRule)
			}
			if tt.wantPointer != "" && !strings.Contains(string(body), `"pointer":"`+tt.wantPointer+`"`) {
				t.Errorf("problem = %s, want an error at pointer %s", body, tt.wantPointer)
			}
			if strings.Contains(string(body), "1000000") || strings.Contains(string(body), "9007199254740993") {
				t.Errorf("problem echoes the request's input: %s", body)
			}
		})
	}
	t.Run("valid transfer passes the guard", func(t *testing.T) {
		resp, body := env.Do(t, "POST", "/api/v1/transfers", tok, `{"from_account_id":101,"to_account_id":201,"amount":1,"currency":"EUR"}`)
		if resp.StatusCode == 400 || resp.StatusCode == 415 {
			t.Fatalf("valid transfer = %d %s, want it through the guard", resp.StatusCode, body)
		}
	})
	t.Run("query parameter out of range", func(t *testing.T) {
		resp, body := env.Do(t, "GET", "/api/v1/transactions?limit=abc", tok, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "schema.parameter") {
			t.Fatalf("GET transactions?limit=abc = %d %s, want 400 schema.parameter", resp.StatusCode, body)
		}
	})
	t.Run("undocumented query parameter with strict", func(t *testing.T) {
		resp, body := env.Do(t, "GET", "/api/v1/transactions?debug=1", tok, nil)
		if resp.StatusCode != 400 {
			t.Fatalf("GET transactions?debug=1 = %d %s, want 400", resp.StatusCode, body)
		}
	})
	t.Run("response drift is an event (DB-04 password_hash)", func(t *testing.T) {
		resp, body := env.Do(t, "GET", "/api/v1/users/1", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET users/1 = %d %s, want 200 (monitor)", resp.StatusCode, body)
		}
		if len(env.EventsWithRule("schema.response_body")) == 0 {
			t.Errorf("no schema.response_body event for an answer with undocumented fields")
		}
	})
}
