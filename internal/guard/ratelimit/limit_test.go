package ratelimit

import (
	"bytes"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr bool
	}{
		{"10/s", Limit{10, time.Second, 10}, false},
		{"5/1h", Limit{5, time.Hour, 5}, false},
		{"100/30s burst 20", Limit{100, 30 * time.Second, 20}, false},
		{"10000/day", Limit{10000, 24 * time.Hour, 10000}, false},
		{" 3/d ", Limit{3, 24 * time.Hour, 3}, false},
		{"60/minute burst 120", Limit{60, time.Minute, 120}, false},
		{"1/500ms", Limit{1, 500 * time.Millisecond, 1}, false},
		{"0/s", Limit{}, true},
		{"-1/s", Limit{}, true},
		{"10", Limit{}, true},
		{"10/", Limit{}, true},
		{"10/w", Limit{}, true},
		{"10/0s", Limit{}, true},
		{"10/s burst", Limit{}, true},
		{"10/s burst 0", Limit{}, true},
		{"10/s bursts 3", Limit{}, true},
		{"10/400d", Limit{}, true},
		{"2000000/ms", Limit{}, true},
		{"99999999999999999999/s", Limit{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimit(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLimit(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseLimit(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if err == nil {
				back, err := ParseLimit(got.String())
				if err != nil || back != got {
					t.Errorf("ParseLimit(%q.String() = %q) = %+v, %v, want %+v", tt.in, got.String(), back, err, got)
				}
			}
		})
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"10/s", "5/1h", "100/30s burst 20", "10000/day", "1/500ms", "7/99999999999d", "1/s burst 999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimit(s)
		if err != nil {
			return
		}
		if l.Count < 1 || l.Burst < 1 || l.Window <= 0 || l.Interval() < time.Microsecond {
			t.Fatalf("ParseLimit(%q) = %+v, an invalid limit", s, l)
		}
		back, err := ParseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLimit(%q) round trip = %+v, %v, want %+v", s, back, err, l)
		}
	})
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in        string
		want      string
		needsAuth bool
		wantErr   bool
	}{
		{"ip", "ip", false, false},
		{"principal+operation", "principal+operation", true, false},
		{"claim:tenant", "claim:tenant", true, false},
		{"header:x-client-id+ip", "header:X-Client-Id+ip", false, false},
		{"apikey", "apikey", true, false},
		{"global", "global", false, false},
		{" ip + operation ", "ip+operation", false, false},
		{"", "", false, true},
		{"ip+ip", "", false, true},
		{"claim:", "", false, true},
		{"header:bad header", "", false, true},
		{"ip:x", "", false, true},
		{"user", "", false, true},
		{"ip+operation+global+principal+apikey", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseKey(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if k.String() != tt.want || k.NeedsAuth() != tt.needsAuth {
				t.Errorf("ParseKey(%q) = %q needsAuth %v, want %q needsAuth %v", tt.in, k, k.NeedsAuth(), tt.want, tt.needsAuth)
			}
		})
	}
}

func testExchange(ip, subject, header string, op *openapi.Operation) *pipeline.Exchange {
	x := &pipeline.Exchange{Request: httptest.NewRequest("GET", "/", nil), ClientIP: netip.MustParseAddr(ip), Operation: op}
	if subject != "" {
		x.Principal = &pipeline.Principal{Subject: subject, Claims: map[string]any{"tenant": "acme", "n": 3.0, "obj": map[string]any{}}}
	}
	if header != "" {
		x.Request.Header.Set("X-Client-Id", header)
	}
	return x
}

func TestKeyAppend(t *testing.T) {
	opA, opB := &openapi.Operation{ID: "a"}, &openapi.Operation{ID: "b"}
	tests := []struct {
		name     string
		key      string
		x, y     *pipeline.Exchange
		wantOK   bool
		wantSame bool
	}{
		{"ip differs", "ip", testExchange("10.0.0.1", "", "", nil), testExchange("10.0.0.2", "", "", nil), true, false},
		{"ip same, principal ignored", "ip", testExchange("10.0.0.1", "u1", "", nil), testExchange("10.0.0.1", "u2", "", nil), true, true},
		{"principal+operation differ by op", "principal+operation", testExchange("10.0.0.1", "u1", "", opA), testExchange("10.0.0.1", "u1", "", opB), true, false},
		{"principal same across IPs", "principal", testExchange("10.0.0.1", "u1", "", nil), testExchange("10.0.0.9", "u1", "", nil), true, true},
		{"anonymous principal does not apply", "principal", testExchange("10.0.0.1", "", "", nil), testExchange("10.0.0.1", "", "", nil), false, true},
		{"claim", "claim:tenant", testExchange("10.0.0.1", "u1", "", nil), testExchange("10.0.0.1", "u2", "", nil), true, true},
		{"object claim is no key", "claim:obj", testExchange("10.0.0.1", "u1", "", nil), testExchange("10.0.0.1", "u2", "", nil), false, true},
		{"header", "header:X-Client-Id", testExchange("10.0.0.1", "", "c1", nil), testExchange("10.0.0.1", "", "c2", nil), true, false},
		{"header+ip no ambiguity", "header:X-Client-Id+operation", testExchange("10.0.0.1", "", "ab", &openapi.Operation{ID: "c"}), testExchange("10.0.0.1", "", "a", &openapi.Operation{ID: "bc"}), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			a, okA := k.Append(nil, tt.x)
			b, _ := k.Append(nil, tt.y)
			if okA != tt.wantOK {
				t.Fatalf("Append(%s) ok = %v, want %v", tt.key, okA, tt.wantOK)
			}
			if okA && bytes.Equal(a, b) != tt.wantSame {
				t.Errorf("Append(%s) same = %v, want %v (%x vs %x)", tt.key, bytes.Equal(a, b), tt.wantSame, a, b)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"ip", "principal+operation", "claim:tenant", "header:X-Client-Id+ip", "global+apikey"} {
		f.Add(s, "h")
	}
	f.Fuzz(func(t *testing.T, s, hv string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		back, err := ParseKey(k.String())
		if err != nil || back.String() != k.String() {
			t.Fatalf("ParseKey(%q) round trip = %q, %v", s, back, err)
		}
		x := testExchange("192.0.2.1", "u", "", &openapi.Operation{ID: "op"})
		x.Request.Header["X-Client-Id"] = []string{hv}
		_, _ = k.Append(nil, x)
	})
}
