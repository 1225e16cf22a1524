package waf

import (
	"testing"
)

// FuzzXMLValues checks that the DTD detector and the XML value extractor
// never panic and that nothing with a markup declaration gets through.
func FuzzXMLValues(f *testing.F) {
	for _, s := range []string{
		`<a>b</a>`, `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`,
		`<a x="1"><b>&amp;</b></a>`, "<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E\x00 a>", `<a>&unknown;</a>`, `<!-- c --><a/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := xmlValues(b)
		if hasDTD(b) && err != errXMLDTD {
			t.Fatalf("xmlValues(%q) error = %v, want errXMLDTD", b, err)
		}
		if len(vals) > maxXMLValues {
			t.Fatalf("xmlValues(%q) returned %d values, want at most %d", b, len(vals), maxXMLValues)
		}
	})
}

// FuzzPrefilter checks the prefilter against Coraza: a value the
// prefilter clears must not make Coraza's rules match.
func FuzzPrefilter(f *testing.F) {
	g := guardForTest(f)
	for _, s := range []string{"coffee", "1 union select 1", "information_schema", "phpinfo", "process.env", "a-b-c", "test", "sleep", "x@y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 200 {
			return
		}
		in := []input{{"ARGS_GET", "q", v}}
		if !g.allClean(in) {
			return
		}
		x := exchangeFor(g, corpusCase{Method: "POST", Path: "/api/v1/transfers", CType: "application/json",
			Body: `{"from_account_id":1,"to_account_id":2,"amount":1,"currency":"EUR","memo":` + quoteJSON(v) + `}`})
		defer x.Release()
		if full := g.fullOnly(x); full.Action != 0 {
			t.Fatalf("prefilter cleared %q but Coraza blocks it: %s", v, full.Detail)
		}
	})
}

func quoteJSON(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, []byte(`\u00`)...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}
