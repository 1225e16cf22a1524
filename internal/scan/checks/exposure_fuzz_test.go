package checks

import (
	"encoding/json"
	"testing"

	"github.com/apiguard/apiguard/internal/scan"
)

// The API1-API5 checks parse what the target answers: JSON bodies walked
// against their schema, JWK sets and JWTs.

func TestInspect(t *testing.T) {
	sc := &scan.Schema{Type: "object", NoAdditional: true, Properties: map[string]*scan.Schema{
		"id":            {Type: "integer"},
		"password_hash": {Type: "string", WriteOnly: true},
		"items":         {Type: "array", Items: &scan.Schema{Type: "object", Properties: map[string]*scan.Schema{"name": {Type: "string"}}}},
	}}
	cases := []struct {
		body             string
		sensitive, undoc []string
	}{
		{`{"id":1}`, nil, nil},
		{`{"id":1,"ssn":"078-05-1120"}`, []string{"ssn"}, nil},
		{`{"id":1,"ssn":"***-**-1120"}`, nil, []string{"ssn"}},
		{`{"id":1,"password_hash":"$pbkdf2-sha256$310000$c2FsdA$aGFzaA"}`, []string{"password_hash"}, nil},
		{`{"id":1,"password_hash":"**********"}`, nil, nil},
		{`{"id":1,"nickname":"al"}`, nil, []string{"nickname"}},
		{`{"items":[{"name":"x","api_key":"k-123456"}]}`, []string{"items[].api_key"}, nil},
		{`{"items":[{"name":"$2b$12$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrs"}]}`, []string{"items[].name"}, nil},
	}
	for _, c := range cases {
		var v any
		if err := json.Unmarshal([]byte(c.body), &v); err != nil {
			t.Fatal(err)
		}
		ex := exposure{sensitive: map[string]string{}, undocumented: map[string]bool{}}
		inspect("", v, sc, &ex, 0)
		if got := keys(ex.sensitive); !equalSet(got, c.sensitive) {
			t.Errorf("inspect(%s) sensitive = %v, want %v", c.body, ex.sensitive, c.sensitive)
		}
		if got := boolKeys(ex.undocumented); !equalSet(got, c.undoc) {
			t.Errorf("inspect(%s) undocumented = %v, want %v", c.body, got, c.undoc)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func boolKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func equalSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func FuzzInspect(f *testing.F) {
	f.Add(`{"id":1,"ssn":"078-05-1120","items":[{"password":"x"}]}`)
	f.Add(`[[[{"a":{"b":{"c":"$2b$12$abcdefghijklmnopqrstuv0123"}}}]]]`)
	f.Add(`"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."`)
	sc := &scan.Schema{Type: "object", Properties: map[string]*scan.Schema{"id": {Type: "integer"}}}
	sc.Properties["self"] = sc
	f.Fuzz(func(t *testing.T, body string) {
		var v any
		if json.Unmarshal([]byte(body), &v) != nil {
			return
		}
		ex := exposure{sensitive: map[string]string{}, undocumented: map[string]bool{}}
		inspect("", v, sc, &ex, 0)
		for k := range ex.sensitive {
			if ex.undocumented[k] {
				t.Errorf("%s is both sensitive and merely undocumented", k)
			}
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":[{}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, k := range parseJWKS([]byte(body)) {
			if len(k.pem) == 0 {
				t.Errorf("parseJWKS(%q) returned a key without PEM", body)
			}
		}
	})
}

func FuzzJWTParts(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
	f.Add("a.b.c")
	f.Add("...")
	f.Fuzz(func(t *testing.T, tok string) {
		h, c, _, ok := jwtParts(tok)
		if ok && (h == nil && c == nil) {
			return // "null" parts
		}
		if ok {
			// re-signing what was parsed must give a parsable token
			if _, _, _, ok2 := jwtParts(signHS256(nonNil(h), nonNil(c), []byte("k"))); !ok2 {
				t.Errorf("signHS256 of the parts of %q is not a JWT", tok)
			}
		}
	})
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
