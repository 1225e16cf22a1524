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
// prefilter clears must not make Coraza's rules match. It covers both
// paths: values over sigma (sigma-live links, restricted regexps) and
// other JSON values (every link, transformations computed as Coraza does).
func FuzzPrefilter(f *testing.F) {
	g := guardForTest(f)
	for _, s := range []string{"coffee", "1 union select 1", "information_schema", "phpinfo", "process.env", "a-b-c", "test", "sleep", "x@y.z",
		"Tiramisu", "dGhpcy5jb25zdHJ1Y3Rvcg==", "ab:cd.", "a/../b", "%u0027 or 1=1", "\x3cscript", "caf\u00e9 (menu)", "Kill", "ſelect"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 200 {
			return
		}
		x := exchangeFor(g, corpusCase{Method: "POST", Path: "/api/v1/transfers", CType: "application/json",
			Body: `{"from_account_id":1,"to_account_id":2,"amount":1,"currency":"EUR","memo":` + quoteJSON(v) + `}`})
		defer x.Release()
		if !g.fastDecided(x) {
			return
		}
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

// FuzzRegexGates checks, for every regexp of the rule set, the two exact
// shortcuts the prefilter takes before running it: the literal gate (a
// value that passes no gate literal does not match) and the regexps
// restricted to sigma and sigma0 (the same answer as the original on
// values over those alphabets).
func FuzzRegexGates(f *testing.F) {
	g := guardForTest(f)
	var links []*crsLink
	for _, r := range g.rules {
		for _, l := range r.links {
			if l.re != nil {
				links = append(links, l)
			}
		}
	}
	for _, s := range []string{"busybox ls", "union select", "x'y", "constructor . prototype", "\u212a", "javascript:alert", "a\nb", "<script>", "cat /etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 100 {
			return
		}
		sc := g.gates.get()
		defer g.gates.put(sc)
		for _, l := range links {
			want := l.re.MatchString(v)
			if l.gate != nil && !sc.mayPass(l.gate, v) && want {
				t.Fatalf("gate of %.60q skips %q, which matches", l.arg, v)
			}
			for _, c := range []struct {
				r *restricted
				a *[256]bool
			}{{l.onSigma, &sigma}, {l.onSigma0, &sigma0}} {
				if c.r == nil || !inAlphabet(v, c.a) {
					continue
				}
				got := c.r.re != nil && c.r.re.MatchString(v)
				if got != want {
					t.Fatalf("restricted %.60q on %q = %v, want %v", l.arg, v, got, want)
				}
				if want && c.r.gate != nil && !sc.mayPass(c.r.gate, v) {
					t.Fatalf("restricted gate of %.60q skips %q, which matches", l.arg, v)
				}
			}
		}
	})
}
