package waf

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
	"rsc.io/binaryregexp"
)

// crsRule is one scoring rule of the loaded rule set, as apiguard's
// prefilter models it: enough to decide whether a value could make any
// link of the rule match.
type crsRule struct {
	id       int
	paranoia int
	severity string // CRITICAL, ERROR, WARNING, NOTICE; "" when unscored
	tags     []string
	links    []*crsLink
}

// crsLink is one SecRule of a (possibly chained) rule.
type crsLink struct {
	vars       []string // as written, upper-cased collection names, "!"-excluded ones dropped
	negate     bool
	op         string // rx, pm, pmFromFile, detectSQLi, ...
	arg        string
	transforms []string
	multiMatch bool // the operator runs after every transformation

	re   *regexp.Regexp
	gate *litGate             // required literals of re; nil when none are known
	bre  *binaryregexp.Regexp // patterns Coraza matches on bytes
	// re restricted to values over sigma and over sigma0 (nil: unknown).
	onSigma, onSigma0 *restricted
	pm                ahocorasick.AhoCorasick
	pmOK              bool
	bytes             [256]bool // validateByteRange: allowed bytes

	// sigmaLive is false when no string over the prefilter alphabet can
	// make this link match (decided statically at load).
	sigmaLive bool
	// value is true when the link reads a per-value collection.
	value bool
}

// binaryPattern finds the \xNN escapes above 0x7f that make Coraza match
// a pattern on bytes (binaryregexp) instead of UTF-8 text.
var binaryPattern = regexp.MustCompile(`\\x(?:[89a-fA-F][0-9a-fA-F]|\{[0-9a-fA-F]{2,}\})`)

// valueCollections are the collections the prefilter models: values
// that come from the request's parameters, names, headers, cookies and
// path.
var valueCollections = map[string]bool{
	"ARGS": true, "ARGS_GET": true, "ARGS_POST": true, "ARGS_PATH": true,
	"ARGS_NAMES": true, "ARGS_GET_NAMES": true, "ARGS_POST_NAMES": true,
	"XML": true, "REQUEST_COOKIES": true, "REQUEST_COOKIES_NAMES": true,
	"REQUEST_HEADERS": true, "REQUEST_HEADERS_NAMES": true,
	"REQUEST_FILENAME": true, "REQUEST_BASENAME": true, "REQUEST_URI": true,
	"REQUEST_URI_RAW": true, "REQUEST_LINE": true, "QUERY_STRING": true,
	"REQUEST_BODY": true, "FILES": true, "FILES_NAMES": true,
}

// parseRules reads SecRule directives (with chains) from SecLang text.
// Only what the prefilter needs is kept; anything it cannot model makes
// the link "live" so it is never skipped wrongly.
func parseRules(text string, files fs.FS, dir string) ([]*crsRule, error) {
	return parseRulesFor(text, files, dir, true)
}

// parseRulesFor is parseRules; restrict builds the regexps restricted to
// sigma and sigma0 (the request prefilter needs them, the answer
// prefilter does not).
func parseRulesFor(text string, files fs.FS, dir string, restrict bool) ([]*crsRule, error) {
	text = strings.ReplaceAll(text, "\\\r\n", " ")
	text = strings.ReplaceAll(text, "\\\n", " ")
	var out []*crsRule
	var cur *crsRule
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "SecRule ") {
			continue
		}
		l, actions, err := parseSecRule(line[len("SecRule "):])
		if err != nil {
			return nil, err
		}
		if err := l.compile(files, dir, restrict); err != nil {
			return nil, err
		}
		if cur == nil {
			cur = &crsRule{}
			for _, a := range actions {
				k, v, _ := strings.Cut(a, ":")
				v = strings.Trim(v, "'")
				switch k {
				case "id":
					cur.id, _ = strconv.Atoi(v)
				case "severity":
					cur.severity = strings.ToUpper(v)
				case "tag":
					cur.tags = append(cur.tags, v)
					if p, ok := strings.CutPrefix(v, "paranoia-level/"); ok {
						cur.paranoia, _ = strconv.Atoi(p)
					}
				}
			}
		}
		cur.links = append(cur.links, l)
		if !hasAction(actions, "chain") {
			out = append(out, cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out, nil
}

func hasAction(actions []string, name string) bool {
	for _, a := range actions {
		if a == name {
			return true
		}
	}
	return false
}

// parseSecRule splits `VARS "OP" "ACTIONS"`.
func parseSecRule(s string) (*crsLink, []string, error) {
	vars, rest, ok := strings.Cut(s, " ")
	if !ok {
		return nil, nil, fmt.Errorf("waf: bad SecRule %q", trunc(s))
	}
	op, rest, err := quoted(strings.TrimSpace(rest))
	if err != nil {
		return nil, nil, err
	}
	act, _, _ := quoted(strings.TrimSpace(rest))
	l := &crsLink{}
	for _, v := range strings.Split(vars, "|") {
		if strings.HasPrefix(v, "!") {
			continue
		}
		l.vars = append(l.vars, v)
		col, _, _ := strings.Cut(strings.TrimPrefix(v, "&"), ":")
		if !strings.HasPrefix(v, "&") && valueCollections[strings.ToUpper(col)] {
			l.value = true
		}
	}
	if strings.HasPrefix(op, "!") {
		l.negate, op = true, op[1:]
	}
	if strings.HasPrefix(op, "@") {
		name, arg, _ := strings.Cut(op[1:], " ")
		l.op, l.arg = name, arg
	} else {
		l.op, l.arg = "rx", op
	}
	actions := splitActions(act)
	l.multiMatch = hasAction(actions, "multiMatch")
	for _, a := range actions {
		if t, ok := strings.CutPrefix(a, "t:"); ok {
			if t == "none" {
				l.transforms = l.transforms[:0]
				continue
			}
			l.transforms = append(l.transforms, t)
		}
	}
	return l, actions, nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

// quoted reads one double-quoted SecLang argument.
func quoted(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		v, rest, _ := strings.Cut(s, " ")
		return v, rest, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			b.WriteByte('\\')
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", fmt.Errorf("waf: unterminated quote in %q", trunc(s))
}

// splitActions splits an action list on commas outside single quotes.
func splitActions(s string) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func (l *crsLink) compile(files fs.FS, dir string, restrict bool) error {
	switch l.op {
	case "rx":
		if strings.Contains(l.arg, "%{") {
			return nil // macro: modelled as always live
		}
		if binaryPattern.MatchString(l.arg) || !utf8.ValidString(l.arg) {
			// Coraza matches such patterns on bytes (binaryregexp),
			// without its usual flags: so does the prefilter.
			bre, err := binaryregexp.Compile(l.arg)
			if err == nil {
				l.bre = bre
			}
			return nil
		}
		// Coraza compiles @rx with (?sm) (dot-all and multi-line).
		re, err := regexp.Compile("(?sm)" + l.arg)
		if err != nil {
			return nil // Coraza would refuse it at load; leave the link opaque
		}
		l.re = re
		l.gate, _ = newLitGate("(?sm)" + l.arg)
		if !restrict {
			return nil
		}
		if r, ok := restrictRegexp("(?sm)"+l.arg, &sigma); ok {
			l.onSigma = &r
		}
		if r, ok := restrictRegexp("(?sm)"+l.arg, &sigma0); ok {
			l.onSigma0 = &r
		}
	case "pm", "pmFromFile":
		var words []string
		if l.op == "pm" {
			words = strings.Fields(l.arg)
		} else {
			for _, f := range strings.Fields(l.arg) {
				b, err := fs.ReadFile(files, path.Join(dir, f))
				if err != nil {
					return nil
				}
				for _, w := range strings.Split(string(b), "\n") {
					w = strings.TrimSpace(w)
					if w != "" && !strings.HasPrefix(w, "#") {
						words = append(words, w)
					}
				}
			}
		}
		if len(words) > 0 {
			l.arg = strings.Join(words, "\n")
			l.pm = pmAutomaton(l.arg, words, restrict)
			l.pmOK = true
		}
	case "validateByteRange":
		for _, part := range strings.Split(l.arg, ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil
				}
			}
			for c := a; c <= b && c < 256; c++ {
				l.bytes[c] = true
			}
		}
	}
	return nil
}

// pmAutomata are the @pm automata built so far, by their word list:
// building the DFA of a long list (CRS's PHP errors) takes a while, and
// every config generation needs the same ones (as Coraza memoizes its
// own). Read-only once built.
var pmAutomata sync.Map

// pmAutomaton is Coraza's @pm matcher of words (joined: their key), as
// a DFA (fast to run, slow to build) or an NFA (the answer prefilter
// runs it only on the rare answer that passes its literal gate): both
// find a match exactly when Coraza's does.
func pmAutomaton(joined string, words []string, dfa bool) ahocorasick.AhoCorasick {
	key := pmKey{joined, dfa}
	if a, ok := pmAutomata.Load(key); ok {
		return a.(ahocorasick.AhoCorasick)
	}
	builder := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{AsciiCaseInsensitive: true, MatchKind: ahocorasick.LeftMostLongestMatch, DFA: dfa})
	a := builder.Build(words)
	pmAutomata.Store(key, a)
	return a
}

type pmKey struct {
	words string
	dfa   bool
}

// sigma is the prefilter alphabet (letters, digits and " _.,@-':!?"): a
// string made only of these bytes is
// decided by the prefilter; any other byte sends the request to Coraza.
// Chosen so that every decoding transformation CRS uses (URL, HTML
// entity, JS, CSS, escape-sequence, UTF-8) is the identity on it.
var sigma = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range " _.,@-':!?" {
		t[c] = true
	}
	return t
}()

func inSigma(s string) bool {
	for i := 0; i < len(s); i++ {
		if !sigma[s[i]] {
			return false
		}
	}
	return true
}

// analyse decides statically whether some string over sigma could make
// the link match. It errs on the side of "live".
func (l *crsLink) analyse() {
	l.sigmaLive = true
	if !l.value || l.negate {
		return
	}
	for _, t := range l.transforms {
		switch t {
		case "base64Decode", "base64DecodeExt", "hexDecode", "sqlHexDecode", "sha1", "md5", "hexEncode", "length":
			return // may produce bytes outside sigma: stay live
		}
	}
	switch l.op {
	case "rx":
		expr := "(?sm)" + l.arg
		switch {
		case l.bre != nil:
			expr = l.arg
		case l.re == nil:
			return
		}
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return
		}
		l.sigmaLive = satisfiable(re)
	case "pm", "pmFromFile":
		if !l.pmOK {
			return
		}
		live := false
		for _, w := range strings.Split(l.arg, "\n") {
			if inSigma(w) {
				live = true
				break
			}
		}
		l.sigmaLive = live
	case "validateByteRange":
		live := false
		for c := 0; c < 256; c++ {
			if sigma[c] && !l.bytes[c] {
				live = true
			}
		}
		l.sigmaLive = live
	}
}

// satisfiable reports whether re can match some string over sigma
// (empty-width assertions are assumed satisfiable: an over-approximation).
func satisfiable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if !runeInSigma(r, re.Flags&syntax.FoldCase != 0) {
				return false
			}
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 256; r++ {
				if runeInSigma(r, false) {
					return true
				}
			}
		}
		return false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !satisfiable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if satisfiable(s) {
				return true
			}
		}
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return satisfiable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || satisfiable(re.Sub[0])
	default: // Star, Quest, empty-width, EmptyMatch
		return true
	}
}

func runeInSigma(r rune, fold bool) bool {
	if r < 256 && sigma[r] {
		return true
	}
	if fold {
		for _, x := range strings.ToLower(string(r)) + strings.ToUpper(string(r)) {
			if x < 256 && sigma[x] {
				return true
			}
		}
	}
	return false
}
