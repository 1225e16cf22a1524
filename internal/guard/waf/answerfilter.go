package waf

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

// answerRuleFiles are the CRS files of the outbound rules run on
// answers: data leakages (directory listings, CGI source, ASP.NET, SQL,
// Java, PHP, IIS and Ruby errors and source code) and web shells. The
// outbound blocking evaluation (RESPONSE-959) is loaded too but scores
// nothing itself.
var answerRuleFiles = []string{
	"RESPONSE-950-DATA-LEAKAGES.conf",
	"RESPONSE-951-DATA-LEAKAGES-SQL.conf",
	"RESPONSE-952-DATA-LEAKAGES-JAVA.conf",
	"RESPONSE-953-DATA-LEAKAGES-PHP.conf",
	"RESPONSE-954-DATA-LEAKAGES-IIS.conf",
	"RESPONSE-955-WEB-SHELLS.conf",
	"RESPONSE-956-DATA-LEAKAGES-RUBY.conf",
}

// answerPart says which parts of an answer a link reads.
type answerPart uint8

const (
	partBody answerPart = 1 << iota
	partStatus
	// partOther is anything the answer prefilter does not model
	// (headers, TX variables, ...): the link may always match.
	partOther
)

// answerLink is one link of an outbound rule and the parts it reads.
type answerLink struct {
	*crsLink
	parts answerPart
	// gate is a necessary condition for the operator to match the value
	// it sees (nil: none known), over the filter's own automaton.
	gate *gateExpr
	// anchors, for a link whose transformations only delete whitespace
	// and NULs or change the case of letters, are bytes one of which the
	// raw value must contain for the transformed value to pass the gate
	// ("" when unknown).
	anchors string
	// opaque links have a transformation not computed here (or
	// multiMatch): they may always match.
	opaque bool
	// rawGate: the link reads only the body, untransformed, behind a
	// gate: the body's scan alone can rule it out.
	rawGate bool
}

// answerRule is a scoring outbound rule: it matches only when every
// link of its chain does.
type answerRule struct {
	*crsRule
	links []answerLink
}

// answerFilter decides, exactly and without Coraza, that no outbound
// rule can match an answer. It is built from the same SecLang Coraza
// loads: each link's regexp behind its required literals, @pm phrase
// lists and @contains strings as literal gates, all in one
// Aho-Corasick automaton scanned once over the body.
type answerFilter struct {
	rules []*answerRule
	gates *gateSet
	// byID are all parsed outbound rules (scoring or not), by id.
	byID map[int]*crsRule
}

// parseAnswerRules parses the outbound CRS files and the response rules
// of extra (a rules_file).
func parseAnswerRules(extra string) ([]*crsRule, error) {
	var all []*crsRule
	for _, f := range answerRuleFiles {
		data, err := fs.ReadFile(coreruleset.FS, "@owasp_crs/"+f)
		if err != nil {
			return nil, fmt.Errorf("loading the outbound rules: %w", err)
		}
		rs, err := parseRulesFor(string(data), coreruleset.FS, "@owasp_crs", false)
		if err != nil {
			return nil, fmt.Errorf("loading the outbound rules: %w", err)
		}
		all = append(all, rs...)
	}
	rs, err := parseRulesFor(extra, os.DirFS("/"), "", false)
	if err != nil {
		return nil, fmt.Errorf("rules_file: %w", err)
	}
	for _, r := range rs {
		if !readsAnswer(r) {
			continue
		}
		r.paranoia = 0 // extra rules always apply
		if r.severity == "" {
			r.severity = "CRITICAL"
		}
		all = append(all, r)
	}
	return all, nil
}

// readsAnswer reports whether some link of r reads a part of the answer.
func readsAnswer(r *crsRule) bool {
	for _, l := range r.links {
		for _, v := range l.vars {
			col, _, _ := strings.Cut(strings.TrimPrefix(v, "&"), ":")
			if strings.HasPrefix(strings.ToUpper(col), "RESPONSE_") {
				return true
			}
		}
	}
	return false
}

// newAnswerFilter keeps the scoring rules at or below the paranoia level
// that skip does not drop (rules excluded everywhere), and builds their
// literal gates.
func newAnswerFilter(all []*crsRule, pl int, skip func(*crsRule) bool) *answerFilter {
	f := &answerFilter{byID: map[int]*crsRule{}}
	var gates []*litGate
	for _, r := range all {
		if r.id != 0 {
			f.byID[r.id] = r
		}
		if r.severity == "" || r.paranoia > pl || skip(r) {
			continue
		}
		ar := &answerRule{crsRule: r}
		for _, l := range r.links {
			al := answerLink{crsLink: l, parts: partsOf(l), opaque: l.multiMatch}
			for _, t := range l.transforms {
				if !exactAnswerTransforms[t] {
					al.opaque = true
				}
			}
			var g *gateExpr
			switch {
			case l.negate, al.parts == partStatus:
				// A status is three bytes: its operator runs as is, and
				// its literals ("5") stay out of the body's automaton.
			case l.op == "rx" && l.re != nil:
				g = regexpGate("(?sm)" + l.arg)
			default:
				if lg := literalGate(l); lg != nil {
					g = &gateExpr{op: gateLeaf, gate: shortGate(lg)}
				}
			}
			if g != nil && g.op != gateTrue {
				al.gate = g
				gates = g.leaves(gates)
				if g.op == gateLeaf && len(l.transforms) > 0 && !al.opaque {
					al.anchors = anchorsOf(g.gate)
				}
				al.rawGate = al.parts == partBody && len(l.transforms) == 0 && !al.opaque
			}
			ar.links = append(ar.links, al)
		}
		f.rules = append(f.rules, ar)
	}
	f.gates = newGateSet(gates)
	return f
}

// partsOf classifies the variables a link reads.
func partsOf(l *crsLink) answerPart {
	var p answerPart
	for _, v := range l.vars {
		switch strings.ToUpper(v) {
		case "RESPONSE_BODY":
			p |= partBody
		case "RESPONSE_STATUS":
			p |= partStatus
		default:
			p |= partOther
		}
	}
	if len(l.vars) == 0 {
		p |= partOther
	}
	return p
}

// literalGate is the gate of an operator whose every match contains one
// of a few known strings: @pm/@pmFromFile (one of its phrases, ASCII
// case-insensitively, as Coraza matches them) and @contains, @streq,
// @beginsWith, @endsWith (the argument). nil when there is none.
func literalGate(l *crsLink) *litGate {
	var words []string
	switch l.op {
	case "pm", "pmFromFile":
		if !l.pmOK {
			return nil
		}
		words = strings.Split(l.arg, "\n")
	case "contains", "streq", "beginsWith", "endsWith":
		if l.arg == "" || strings.Contains(l.arg, "%{") {
			return nil
		}
		words = []string{l.arg}
	default:
		return nil
	}
	g := &litGate{}
	seen := map[string]bool{}
	for _, w := range words {
		if w == "" {
			return nil // the empty string occurs everywhere
		}
		w = asciiLower(w)
		if !seen[w] {
			seen[w] = true
			g.words = append(g.words, w)
		}
	}
	g.n = len(g.words)
	return g
}

// maxAnswerLiteral bounds the literals of the answer automaton: a
// longer one is replaced by its prefix (any string containing the
// literal contains its prefix), which keeps the automaton small (CRS's
// PHP error list alone has 1 800 phrases).
const maxAnswerLiteral = 16

// shortGate is g with its literals cut to maxAnswerLiteral bytes, as a
// new gate for the answer automaton.
func shortGate(g *litGate) *litGate {
	out := &litGate{asciiOnly: g.asciiOnly}
	seen := map[string]bool{}
	for _, w := range g.words {
		if len(w) > maxAnswerLiteral {
			w = w[:maxAnswerLiteral]
		}
		if !seen[w] {
			seen[w] = true
			out.words = append(out.words, w)
		}
	}
	out.n = len(out.words)
	return out
}

// anchorsOf returns one byte of each literal of g that the
// whitespace, NUL and case transformations keep as it is (ASCII
// punctuation and digits), so that a raw value without any of them
// cannot pass the gate after the transformations; "" when a literal
// has none.
func anchorsOf(g *litGate) string {
	var b []byte
	for _, w := range g.words {
		found := false
		for i := 0; i < len(w); i++ {
			if stableByte(w[i]) {
				if !bytesContain(b, w[i]) {
					b = append(b, w[i])
				}
				found = true
				break
			}
		}
		if !found {
			return ""
		}
	}
	return string(b)
}

// stableByte reports whether c can only come from c itself under
// lowercase, removeWhitespace, compressWhitespace and removeNulls: an
// ASCII byte that is no letter, space or NUL.
func stableByte(c byte) bool {
	switch {
	case c == 0 || c >= 0x80 || c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
		return false
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return false
	}
	return true
}

func bytesContain(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// exactAnswerTransforms are the transformations computed here on any
// value exactly as Coraza computes them.
var exactAnswerTransforms = map[string]bool{"lowercase": true, "removeWhitespace": true, "compressWhitespace": true, "removeNulls": true}

// asciiLower lower-cases the ASCII letters of s, as the gate automaton
// folds bytes (non-ASCII bytes are kept).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = foldByte(c)
	}
	return string(b)
}

// mayMatch reports whether some outbound rule could match an answer
// with this status and body. false is exact: no rule matches.
func (f *answerFilter) mayMatch(status, body string) bool {
	return len(f.candidates(status, body, true)) > 0
}

// candidates are the rules that could match (the first one only when
// first is set).
func (f *answerFilter) candidates(status, body string, first bool) []*answerRule {
	sc := f.gates.get()
	defer f.gates.put(sc)
	en := sc.entryOf(body)
	var out []*answerRule
	for _, r := range f.rules {
		if r.ruledOut(en) {
			continue
		}
		if r.mayMatch(sc, status, body) {
			out = append(out, r)
			if first {
				break
			}
		}
	}
	return out
}

// ruledOut reports whether the body's scan alone shows that the rule
// cannot match (a link reading the raw body fails its gate): the quick
// test most rules end at.
func (r *answerRule) ruledOut(body *scanEntry) bool {
	for i := range r.links {
		l := &r.links[i]
		if l.rawGate && !l.gate.eval(body) {
			return true
		}
	}
	return false
}

func (r *answerRule) mayMatch(sc *scan, status, body string) bool {
	for i := range r.links {
		if r.links[i].eval(sc, status, body) == no {
			return false
		}
	}
	return true
}

func (l *answerLink) eval(sc *scan, status, body string) tri {
	if l.parts&partOther != 0 {
		return maybe
	}
	t := no
	if l.parts&partBody != 0 {
		t = l.evalAnswer(sc, body)
	}
	if t == no && l.parts&partStatus != 0 {
		t = l.evalAnswer(sc, status)
	}
	return t
}

// evalAnswer applies the link to one value of the answer. CRS's
// outbound rules use no transformation but one (955300: removeWhitespace,
// lowercase); transformations other than exactAnswerTransforms answer
// maybe.
func (l *answerLink) evalAnswer(sc *scan, v string) tri {
	if l.opaque {
		return maybe
	}
	if len(l.transforms) > 0 {
		if l.anchors != "" && !strings.ContainsAny(v, l.anchors) {
			return no
		}
		for _, t := range l.transforms {
			v, _ = transform(t, v)
		}
	}
	if l.gate != nil && !l.gate.eval(sc.entryOf(v)) {
		return no
	}
	var m bool
	switch l.op {
	case "rx":
		switch {
		case l.bre != nil:
			m = l.bre.MatchString(v)
		case l.re != nil:
			m = l.re.MatchString(v)
		default:
			return maybe
		}
	case "pm", "pmFromFile":
		if !l.pmOK {
			return maybe
		}
		m = l.pm.Iter(v).Next() != nil
	default:
		// contains, streq, ... (no gate of the request prefilter).
		return l.operate(sc, v)
	}
	if m != l.negate {
		return yes
	}
	return no
}
