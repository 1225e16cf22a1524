package waf

import (
	"net/http/httptest"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// FuzzAnswerPrefilter checks the answer prefilter against Coraza: an
// answer it clears must not make any outbound rule match.
func FuzzAnswerPrefilter(f *testing.F) {
	g := answerGuardForTest(f)
	for _, s := range []string{`{"ok":true}`, "ORA-00933: x", `{"e":"You have an error in your SQL syntax; near ''"}`, "<?php echo 1; ?>",
		"<title>r57 shell</title>", "at \tcom.example", "java.lang.Error", "Warning: pg_query() [x]", "#!/bin/sh", "<% x %>", "#{x}",
		"<TITLE>Index of /</TITLE><H1>Index of /</H1>", "C:\\inetpub", "<title>punk holic shell</title>", "\u212a"} {
		f.Add(200, s)
	}
	f.Add(500, "")
	f.Add(404, "Server Error in '/' Application")
	f.Fuzz(func(t *testing.T, status int, body string) {
		if len(body) > 2048 || status < 100 || status > 599 {
			return
		}
		st := statusString(status)
		if g.filter.mayMatch(st, body) {
			return
		}
		x := pipeline.NewExchange()
		defer x.Release()
		x.Request = httptest.NewRequest("GET", "/api/v1/accounts", nil)
		resp := answer(answerCase{status: status, ctype: "text/html", body: body})
		if ids, _, _ := g.run(x, resp, st, []byte(body)); len(ids) > 0 {
			t.Fatalf("prefilter cleared status %d body %q, but Coraza matches %v", status, body, ids)
		}
	})
}

// FuzzAnswerGates checks the literal gates of every outbound link
// against the operator itself: a value the operator matches passes the
// gate (and the anchors of a transformed link).
func FuzzAnswerGates(f *testing.F) {
	g := answerGuardForTest(f)
	for _, s := range []string{"ORA-12345:", "oracle driver", "at  com", "at\u000bjavax", "<?php ", "<?= $x", "Warning: mysql_x", "K\u212a",
		"System.Data.SqlClient.SqlException", "Exception in thread \"main\"", "PG::SyntaxError", "<%= x %>", "Ingres SQLSTATE", "ſelect"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 300 {
			return
		}
		sc := g.filter.gates.get()
		defer g.filter.gates.put(sc)
		for _, r := range g.filter.rules {
			for _, l := range r.links {
				if l.gate == nil || l.opaque {
					continue
				}
				tv := v
				for _, tr := range l.transforms {
					tv, _ = transform(tr, tv)
				}
				var m bool
				switch {
				case l.re != nil:
					m = l.re.MatchString(tv)
				case l.pmOK:
					m = l.pm.Iter(tv).Next() != nil
				default:
					m = l.operate(sc, tv) == yes
				}
				if !m {
					continue
				}
				if !l.gate.eval(sc.entryOf(tv)) {
					t.Fatalf("gate of %d skips %q (transformed %q), which matches", r.id, v, tv)
				}
				if l.anchors != "" && !containsAnyByte(v, l.anchors) {
					t.Fatalf("anchors %q of %d skip %q, which matches", l.anchors, r.id, v)
				}
			}
		}
	})
}

func containsAnyByte(s, set string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(set); j++ {
			if s[i] == set[j] {
				return true
			}
		}
	}
	return false
}

// TestAnswerLinksGated: every link of the outbound rules at every
// paranoia level that reads the body has a literal gate, so a clean
// answer is decided by one scan of the automaton and bit tests (no
// regexp on the body, no Coraza).
func TestAnswerLinksGated(t *testing.T) {
	all, err := parseAnswerRules("")
	if err != nil {
		t.Fatal(err)
	}
	f := newAnswerFilter(all, 4, func(*crsRule) bool { return false })
	if len(f.rules) < 55 {
		t.Fatalf("newAnswerFilter kept %d outbound rules, want the ~60 of RESPONSE-950..956", len(f.rules))
	}
	for _, r := range f.rules {
		for i, l := range r.links {
			if l.gate == nil && !l.negate && l.parts != partStatus {
				t.Errorf("rule %d link %d (%s %.40q) has no gate", r.id, i, l.op, l.arg)
			}
			if l.opaque {
				t.Errorf("rule %d link %d is opaque (transformations %v)", r.id, i, l.transforms)
			}
		}
	}
}
