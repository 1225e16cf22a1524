package limits

import (
	"encoding/json"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
)

func TestPaginationThroughGateway(t *testing.T) {
	tests := []struct {
		name       string
		guards     string
		wantStatus int
		wantLimit  float64
	}{
		{"clamp", "limits:\n  pagination: {action: clamp}\n", 200, 100},
		{"refuse", "limits:\n  pagination: {action: refuse}\n", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := gatewaytest.Start(t, gatewaytest.Options{Guards: tt.guards})
			tok := env.Login(t, "alice")
			resp, body := env.Do(t, "GET", "/api/v1/transactions?limit=1000000&offset=0", tok, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET transactions?limit=1000000 = %d %.300s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			var page struct {
				Items []json.RawMessage `json:"items"`
				Limit float64           `json:"limit"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Items) > int(tt.wantLimit) {
				t.Errorf("GET transactions?limit=1000000 returned %d items, want at most %v", len(page.Items), tt.wantLimit)
			}
		})
	}
}

func TestResponseCapThroughGateway(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
limits:
  operations:
    listTransactions: {max_response_bytes: 512}
`})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/transactions?limit=50", tok, nil)
	if resp.StatusCode != 502 {
		t.Fatalf("GET transactions (answer > 512 B) = %d %.200s, want 502", resp.StatusCode, body)
	}
	resp, body = env.Do(t, "GET", "/api/v1/accounts", tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET accounts (no cap) = %d %.200s, want 200", resp.StatusCode, body)
	}
}
