package inventory

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"testing"
)

func TestDistinctCount(t *testing.T) {
	for _, n := range []int{0, 1, 100, sparseMax, sparseMax + 1, 1000, 10000, 100000, 1000000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var d distinct
			for i := 0; i < n; i++ {
				d.add(hashString(fmt.Sprint("client-", i)))
				if i%3 == 0 { // repeats do not count
					d.add(hashString(fmt.Sprint("client-", i)))
				}
			}
			got := d.count()
			if n <= sparseMax {
				if got != uint64(n) {
					t.Errorf("count() = %d, want exactly %d", got, n)
				}
				return
			}
			// 2.3 % standard error: 4 sigma.
			if rel := math.Abs(float64(got)-float64(n)) / float64(n); rel > 0.092 {
				t.Errorf("count() = %d, want %d within 9.2 %% (got %.1f %%)", got, n, 100*rel)
			}
			if len(d.regs) != hllM || d.sparse != nil {
				t.Errorf("dense counter has %d registers and %d hashes, want %d and none", len(d.regs), len(d.sparse), hllM)
			}
		})
	}
}

func TestDistinctMergeAndJSON(t *testing.T) {
	var a, b distinct
	for i := 0; i < 5000; i++ {
		a.add(hashAddr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
	}
	for i := 2500; i < 7500; i++ {
		b.add(hashAddr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
	}
	var small distinct
	small.add(1)
	small.add(2)
	for _, tt := range []struct {
		name string
		d    distinct
	}{{"dense", a}, {"sparse", small}, {"empty", distinct{}}} {
		raw, err := json.Marshal(tt.d)
		if err != nil {
			t.Fatal(err)
		}
		var back distinct
		if err := json.Unmarshal(raw, &back); err != nil || back.count() != tt.d.count() {
			t.Errorf("%s: JSON round trip = %d, %v, want %d", tt.name, back.count(), err, tt.d.count())
		}
	}
	a.merge(&b)
	if got := a.count(); math.Abs(float64(got)-7500)/7500 > 0.092 {
		t.Errorf("merged count() = %d, want about 7500", got)
	}
	small.merge(&distinct{sparse: []uint64{2, 3}})
	if got := small.count(); got != 3 {
		t.Errorf("sparse merge count() = %d, want 3", got)
	}
	for _, bad := range []string{`{"d":"AAAA"}`, `{"s":"!!"}`, `{"s":"/w"}`} {
		var d distinct
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) = nil, want an error", bad)
		}
	}
}

func TestStringFormatsAndSensitive(t *testing.T) {
	tests := []struct {
		v, format, sensitive string
	}{
		{"2024-01-02", "date", ""},
		{"2024-01-02T03:04:05.123+02:00", "date-time", ""},
		{"550e8400-e29b-41d4-a716-446655440000", "uuid", ""},
		{"bob@example.org", "email", "email"},
		{"https://example.com/a?b", "uri", ""},
		{"203.0.113.9", "ipv4", ""},
		{"2001:db8::7", "ipv6", ""},
		{"078-05-1120", "", "ssn"},
		{"4111111111111111", "", "card"},
		{"1234567890123452", "", ""}, // Luhn-valid, but not a card network prefix
		{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "", "jwt"},
		{"pbkdf2_sha256$600000$salt$hash", "", "password_hash"},
		{"hello world", "", ""},
		{"postgres://app:s3cret@db.internal:5432/app?sslmode=disable", "", "secret"},
		{"https://user@example.com/x", "uri", ""},
		{"a:b@c.example", "", ""},
		{"1.2.3", "", ""},
	}
	for _, tt := range tests {
		f := stringFormat(tt.v)
		if f != tt.format {
			t.Errorf("stringFormat(%q) = %q, want %q", tt.v, f, tt.format)
		}
		if got := sensitiveValue(tt.v, f); got != tt.sensitive {
			t.Errorf("sensitiveValue(%q) = %q, want %q", tt.v, got, tt.sensitive)
		}
	}
	names := map[string]string{"ssn": "ssn", "password_hash": "password_hash", "Password": "password", "api-key": "token",
		"refresh_token": "token", "token_type": "", "email": "email", "card_number": "card", "IBAN": "iban", "display_name": ""}
	for name, want := range names {
		if got := sensitiveName(name); got != want {
			t.Errorf("sensitiveName(%q) = %q, want %q", name, got, want)
		}
	}
	for _, tt := range []struct{ v, format, want string }{
		{"078-05-1120", "", "000-00-0000"},
		{"Alice Smith", "", "Xxxxx Xxxxx"},
		{"bob@example.org", "email", "user@example.com"},
		{"2024-01-02", "date", "1970-01-01"},
		{"abcdefghijklmnopqrstuvwxyz", "", "xxxxxxxxxxxxxxxxxxxxxxxx…"},
	} {
		if got := redactedExample(tt.v, tt.format); got != tt.want {
			t.Errorf("redactedExample(%q) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
