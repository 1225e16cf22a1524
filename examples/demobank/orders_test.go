package demobank

import (
	"encoding/json"
	"testing"
)

// sampleOrder is a 1 KiB transfer order from account from, like the one
// the load bench sends (bench/loadbench's jsonPostBody).
func sampleOrder(from int, amount string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"transfer":{"from":{"account_id":101,"iban":"DE89370400440532013000","holder":"Alice Example"},`+
		`"to":{"account_id":102,"iban":"FR1420041010050500013M02606","holder":"Bob Martin","bank":"BNP Paribas"},`+
		`"amount":{"value":"1250.40","currency":"EUR"},`+
		`"memo":"Rent for March, flat 3B at 12 Rue de Rivoli. Thanks again for waiting until the 5th, see you at the meeting!",`+
		`"reference":"INV-2024-0315-0042","scheduled_for":"2024-03-15","recurring":{"every":"month","count":12},`+
		`"tags":["rent","household","monthly"]},`+
		`"payer":{"name":"Alice Example","email":"alice@example.com","phone":"+44 20 7946 0958",`+
		`"address":{"street":"221B Baker Street","city":"London","postcode":"NW1 6XE","country":"GB"}},`+
		`"client":{"channel":"mobile","device":"iPhone 15","app_version":"4.12.1","locale":"en-GB","timezone":"Europe/London"},`+
		`"request_id":"5f0c6a2e-8f5d-4c1e-9a59-6b1f4d2c9e11","idempotency_key":"c1d2e3f4-a5b6-4789-8abc-def012345678",`+
		`"consent":{"accepted":true,"at":"2024-03-14T18:22:05Z","version":"2024-01","text_id":"sepa-standard"},`+
		`"notes":"Second instalment of the deposit is due in April. Keep the receipt."}`), &m)
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
