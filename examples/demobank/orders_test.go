package demobank

import (
	"encoding/json"
	"testing"
)

// sampleOrder is ExampleTransferOrder from account from, for amount.
func sampleOrder(from int, amount string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(ExampleTransferOrder, &m)
	t := m["transfer"].(map[string]any)
	t["from"].(map[string]any)["account_id"] = from
	t["amount"].(map[string]any)["value"] = amount
	return m
}

func TestTransferOrders(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		name := "vulnerable"
		if fixed {
			name = "fixed"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, fixed)
			alice := e.login(t, "alice")
			tests := []struct {
				name   string
				body   any
				status int
			}{
				{"own account", sampleOrder(101, "1250.40"), 201},
				{"someone else's account (both variants)", sampleOrder(102, "1.00"), 403},
				{"unknown account", sampleOrder(999, "1.00"), 404},
				{"negative amount", sampleOrder(101, "-5.00"), 400},
				{"zero amount", sampleOrder(101, "0.00"), 400},
				{"three decimals", sampleOrder(101, "1.005"), 400},
			}
			for _, tt := range tests {
				if x := e.call(t, "POST", "/api/v1/transfer-orders", alice, tt.body); x.status != tt.status {
					t.Errorf("%s: POST /api/v1/transfer-orders = %v, want %d", tt.name, x, tt.status)
				}
			}
			// The quota counts orders with transfers in the fixed variant
			// only (DB-13): one order is placed above, four more pass.
			last := 0
			for range 6 {
				last = e.call(t, "POST", "/api/v1/transfer-orders", alice, sampleOrder(101, "2.00")).status
			}
			want := 201
			if fixed {
				want = 429
			}
			if last != want {
				t.Errorf("7th order within the hour = %d, want %d", last, want)
			}
		})
	}
}
