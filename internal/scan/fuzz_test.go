package scan

import (
	"encoding/json"
	"testing"
)

// The engine parses what the target answers: JWT parts of login answers,
// JSON bodies compared across identities and walked for object ids.

func FuzzDecodeJWTPart(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJub25lIn0", "e30", "", "!!", "eyJzdWIiOjF9", "W10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, part string) {
		m, err := DecodeJWTPart(part)
		if err == nil {
			if _, err := DecodeJWTPart(EncodeJWTPart(m)); err != nil {
				t.Errorf("round trip of %q: %v", part, err)
			}
		}
	})
}

func FuzzSameData(f *testing.F) {
	f.Add(`{"id":1,"name":"alice"}`, `{"id":1,"name":"alice"}`)
	f.Add(`{"items":[{"id":1}]}`, `[1,2]`)
	f.Add(`{}`, `null`)
	f.Add(`[[[[[[[[[[[[1]]]]]]]]]]]]`, `"x"`)
	f.Fuzz(func(t *testing.T, a, b string) {
		ra := &Response{Status: 200, Body: []byte(a)}
		rb := &Response{Status: 200, Body: []byte(b)}
		ab := SameData(ra, rb)
		if SameData(ra, ra) && !SameData(&Response{Status: 200, Body: []byte(a)}, &Response{Status: 200, Body: []byte(a)}) {
			t.Errorf("SameData is not deterministic for %q", a)
		}
		if ab && (ra.JSON() == nil || rb.JSON() == nil) {
			t.Errorf("SameData(%q, %q) = true for a non-JSON answer", a, b)
		}
		_ = SameShape(ra, rb)
	})
}

func FuzzListItems(f *testing.F) {
	f.Add(`{"items":[{"id":1},{"id":"a"},{"uuid":"x"}]}`)
	f.Add(`[{"id":1.5},{"_id":null},3]`)
	f.Add(`{"data":{"id":2}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var v any
		if json.Unmarshal([]byte(body), &v) != nil {
			return
		}
		for _, item := range listItems(v) {
			if item == nil {
				t.Fatalf("listItems(%q) returned a nil item", body)
			}
			_ = idValue(item)
		}
	})
}
