package authz

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeJSON checks that the walker-first decode of answers gives what
// encoding/json (UseNumber) gave, on the walker's path and on the cases it
// hands to encoding/json.
func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, in string
		want     any
		wantErr  bool
	}{
		{"object", `{"id":7,"owner_id":1,"iban":"DE89","tags":["a"],"ok":true,"n":null}`,
			map[string]any{"id": json.Number("7"), "owner_id": json.Number("1"), "iban": "DE89", "tags": []any{"a"}, "ok": true, "n": nil}, false},
		{"exact numbers", `[12345678901234567890, 1.10]`, []any{json.Number("12345678901234567890"), json.Number("1.10")}, false},
		{"repeated key: the last wins", `{"a":1,"a":2}`, map[string]any{"a": json.Number("2")}, false},
		{"invalid UTF-8 replaced", "[\"a\xffb\"]", []any{"a\ufffdb"}, false},
		{"long string", `"` + strings.Repeat("x", 100000) + `"`, strings.Repeat("x", 100000), false},
		{"deep", strings.Repeat("[", 500) + strings.Repeat("]", 500), nil, false},
		{"trailing data", `{} {}`, nil, true},
		{"not JSON", `<html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeJSON() error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr || tt.name == "deep" {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeJSON() = %#v, want %#v", got, tt.want)
			}
		})
	}
}
