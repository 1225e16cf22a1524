package pipeline

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/jsonwalk"
)

// TestExchangeJSON checks the one strict decode of a request body that
// guards share, and when a guard with other limits decodes again.
func TestExchangeJSON(t *testing.T) {
	small := jsonwalk.Limits{MaxArray: 2}
	tests := []struct {
		name     string
		body     string
		first    func(x *Exchange) (any, error) // the earlier guard
		second   func(x *Exchange) (any, error) // the later one
		wantRule string                         // the later guard's WalkError rule, "" for none
		reused   bool                           // the later guard got the earlier value
	}{
		{"same limits reuse the decode", `{"a":[1,2,3]}`,
			(*Exchange).JSON, func(x *Exchange) (any, error) { return x.StrictJSON(jsonwalk.Limits{}) }, "", true},
		{"stricter limits decode again", `{"a":[1,2,3]}`,
			(*Exchange).JSON, func(x *Exchange) (any, error) { return x.StrictJSON(small) }, "array_length", false},
		{"over a default limit: JSON still decodes, StrictJSON refuses", `{"a":"` + strings.Repeat("x", 70000) + `"}`,
			(*Exchange).JSON, func(x *Exchange) (any, error) { return x.StrictJSON(jsonwalk.Limits{}) }, "string_length", false},
		{"duplicate keys are refused", `{"a":1,"a":2}`,
			(*Exchange).JSON, (*Exchange).JSON, "duplicate_key", false},
		{"trailing data is refused", `{"a":1} {"b":2}`,
			(*Exchange).JSON, (*Exchange).JSON, "syntax", false},
		{"a value set by a guard is what JSON returns", `{"a":1}`,
			func(x *Exchange) (any, error) { x.SetJSON("set"); return "set", nil }, (*Exchange).JSON, "", true},
		{"StrictJSON does not trust a value set by a guard", `{"a":1}`,
			func(x *Exchange) (any, error) { x.SetJSON("set"); return "set", nil },
			func(x *Exchange) (any, error) { return x.StrictJSON(jsonwalk.Limits{}) }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			x.BodyLimit = 1 << 20
			v1, _ := tt.first(x)
			v2, err := tt.second(x)
			var we *jsonwalk.WalkError
			rule := ""
			if errors.As(err, &we) {
				rule = we.Rule
			} else if err != nil {
				t.Fatalf("error %v is not a WalkError", err)
			}
			if rule != tt.wantRule {
				t.Errorf("later decode rule = %q, want %q", rule, tt.wantRule)
			}
			if err == nil && v1 != nil {
				same := false
				if m1, ok := v1.(map[string]any); ok {
					m2, _ := v2.(map[string]any)
					m1["probe"] = true
					same = m2 != nil && m2["probe"] == true
				} else {
					same = v1 == v2
				}
				if same != tt.reused {
					t.Errorf("later guard reused the earlier value = %v, want %v", same, tt.reused)
				}
			}
		})
	}
}

// TestExchangeJSONOverDefaultLimits checks that guards without limits of
// their own still get a well-formed body larger than the walker's defaults.
func TestExchangeJSONOverDefaultLimits(t *testing.T) {
	for _, body := range []string{
		`{"file":"` + strings.Repeat("A", 70000) + `"}`,
		`[` + strings.Repeat("1,", 20000) + `1]`,
		strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40),
	} {
		x := NewExchange()
		x.Request = httptest.NewRequest("POST", "/", strings.NewReader(body))
		x.BodyLimit = 1 << 20
		if v, err := x.JSON(); err != nil || v == nil {
			t.Errorf("JSON() of a %d-byte body = %v, %v, want the value", len(body), v == nil, err)
		}
		x.Release()
	}
}
