package schema

import (
	"encoding/json"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard/limits"
)

// demobankSection is the schema and limits sections proposed for
// examples/demobank/apiguard.yaml.
const demobankSection = `
schema:
  strict: true
  response:
    mode: monitor
limits:
  max_in_flight: 256
  upstream_timeout: 10s
  max_response_bytes: 2MiB
  pagination:
    action: clamp
`

func TestDemobankSection(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/transactions?limit=1000000", tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET transactions?limit=1000000 = %d %.300s, want 200 clamped", resp.StatusCode, body)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Items) > 100 {
		t.Fatalf("GET transactions?limit=1000000 = %d items (%v), want at most 100", len(page.Items), err)
	}
	resp, body = env.Do(t, "POST", "/api/v1/transfers", tok, `{"from_account_id":101,"to_account_id":201,"amount":"1","currency":"EUR"}`)
	if resp.StatusCode != 400 {
		t.Fatalf("string amount = %d %s, want 400", resp.StatusCode, body)
	}
}
