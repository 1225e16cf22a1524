package jsonwalk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWalk(t *testing.T) {
	small := Limits{MaxDepth: 3, MaxKeys: 4, MaxArray: 3, MaxString: 8}
	tests := []struct {
		in       string
		wantRule string
		wantPtr  string
	}{
		{`{"a":1,"b":[1,2,3]}`, "", ""},
		{`{"a":1,"a":2}`, "duplicate_key", "/a"},
		{`{"a":{"b":{"c":{}}}}`, "depth", "/a/b/c"},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5}`, "keys", "/e"},
		{`{"a":[1,2,3,4]}`, "array_length", "/a/3"},
		{`{"a":"123456789"}`, "string_length", "/a"},
		{`{"a":1}x`, "syntax", ""},
		{`{"a":01}`, "syntax", "/a"},
		{`{"a":"\ud800"}`, "syntax", "/a"},
		{"{\"a\":\"\xff\"}", "syntax", "/a"},
		{`{"a~/b":{"a":1,"a":1}}`, "duplicate_key", "/a~0~1b/a"},
		{`[true,false,null]`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Walk([]byte(tt.in), small)
			var we *WalkError
			got, ptr := "", ""
			if errors.As(err, &we) {
				got, ptr = we.Rule, we.Pointer
			} else if err != nil {
				t.Fatalf("Walk(%s) error %v is not a WalkError", tt.in, err)
			}
			if got != tt.wantRule || tt.wantRule != "" && tt.wantRule != "syntax" && ptr != tt.wantPtr {
				t.Errorf("Walk(%s) = %q at %q, want %q at %q", tt.in, got, ptr, tt.wantRule, tt.wantPtr)
			}
		})
	}
}

// FuzzJSONWalker checks the walker never panics and agrees with
// encoding/json: what it accepts is valid JSON with the same value.
func FuzzJSONWalker(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",{"b":null}]`, `"\u00e9\ud83d\ude00"`, `-0.5e+10`, `{"a":1,"a":2}`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Walk(b, Limits{})
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("Walk(%q) accepted invalid JSON", b)
		}
		var std any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(&std); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", b, err)
		}
		if fmt.Sprint(v) != fmt.Sprint(std) {
			t.Fatalf("Walk(%q) = %v, encoding/json = %v", b, v, std)
		}
	})
}
