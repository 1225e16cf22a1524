package waf

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// maxGateLiterals bounds a rule's required-literal set; a larger set
// gives no gate (the regex always runs).
const maxGateLiterals = 512

// litGate is a necessary condition for a regexp to match: any string the
// regexp matches contains (ASCII case-insensitively) at least one of the
// literals. It is checked on the exact value the regexp would see (after
// the link's transformations), so it never skips a match.
type litGate struct {
	// asciiOnly is set when a literal has a letter with a non-ASCII
	// equivalent under Unicode simple folding (k ~ U+212A KELVIN SIGN,
	// s ~ U+017F LONG S): the gate then does not apply to values with
	// such a rune.
	asciiOnly bool
	n         int
	words     []string // lower-cased (ASCII)
	id        int      // index in the guard's gateSet
}

// newLitGate extracts the required literals of a regexp (parsed with the
// flags Coraza compiles it with). ok is false when no useful set exists.
func newLitGate(expr string) (*litGate, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	lits, ok := required(re.Simplify())
	if !ok || len(lits) == 0 || len(lits) > maxGateLiterals {
		return nil, false
	}
	g := &litGate{n: len(lits)}
	words := make([]string, 0, len(lits))
	for l := range lits {
		if l.s == "" {
			return nil, false // the empty string occurs everywhere
		}
		if l.fold {
			l.s = strings.ToLower(l.s)
		}
		if nonASCIIFold(l.s) {
			g.asciiOnly = true
		}
		words = append(words, l.s)
	}
	g.words = words
	return g, true
}

type lit struct {
	s    string
	fold bool
}

// required returns a set of literals one of which every match of re
// contains. ok is false when no such set is known (never a wrong set).
func required(re *syntax.Regexp) (map[lit]bool, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s, ok := literalString(re.Rune, re.Flags&syntax.FoldCase != 0)
		if !ok {
			return nil, false
		}
		return map[lit]bool{{s, re.Flags&syntax.FoldCase != 0}: true}, true
	case syntax.OpCharClass:
		// A small ASCII class is a set of one-byte literals.
		var out = map[lit]bool{}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= 0x80 || re.Rune[i+1]-re.Rune[i] > 8 {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out[lit{string(r), false}] = true
			}
		}
		if len(out) == 0 || len(out) > 8 {
			return nil, false
		}
		return out, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return required(re.Sub[0])
	case syntax.OpAlternate:
		out := map[lit]bool{}
		for _, s := range re.Sub {
			sub, ok := required(s)
			if !ok {
				return nil, false
			}
			for l := range sub {
				out[l] = true
			}
			if len(out) > maxGateLiterals {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		// Runs of children that match one of a few exact strings
		// (literals, small classes, small alternations of those) join
		// into their cross product; then the best child's (or run's) set
		// is required.
		var best map[lit]bool
		bestScore := -1
		consider := func(set map[lit]bool) {
			if sc := gateScore(set); sc > bestScore {
				best, bestScore = set, sc
			}
		}
		var run map[lit]bool
		flush := func() {
			if run != nil {
				ok := true
				for l := range run {
					if l.s == "" {
						ok = false
					}
				}
				if ok {
					consider(run)
				}
			}
			run = nil
		}
		for _, sub := range re.Sub {
			if ex, ok := exactSet(sub); ok {
				if run == nil {
					run = ex
					continue
				}
				if p, ok := product(run, ex); ok {
					run = p
					continue
				}
				flush()
				run = ex
				continue
			}
			flush()
			if set, ok := required(sub); ok {
				consider(set)
			}
		}
		flush()
		return best, best != nil
	}
	return nil, false
}

// maxExact bounds an exact set.
const maxExact = 64

// exactSet returns every string re can match, when there are few.
func exactSet(re *syntax.Regexp) (map[lit]bool, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return map[lit]bool{{"", false}: true}, true
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		s, ok := literalString(re.Rune, fold)
		if !ok {
			return nil, false
		}
		return map[lit]bool{{s, fold}: true}, true
	case syntax.OpCharClass:
		return required(re)
	case syntax.OpCapture:
		return exactSet(re.Sub[0])
	case syntax.OpQuest:
		sub, ok := exactSet(re.Sub[0])
		if !ok || len(sub) >= maxExact {
			return nil, false
		}
		out := map[lit]bool{{"", false}: true}
		for l := range sub {
			out[l] = true
		}
		return out, true
	case syntax.OpAlternate:
		out := map[lit]bool{}
		for _, sub := range re.Sub {
			set, ok := exactSet(sub)
			if !ok {
				return nil, false
			}
			for l := range set {
				out[l] = true
			}
			if len(out) > maxExact {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		out := map[lit]bool{{"", false}: true}
		for _, sub := range re.Sub {
			set, ok := exactSet(sub)
			if !ok {
				return nil, false
			}
			if out, ok = product(out, set); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// product is every a+b (the gate folds case, so fold is kept if either
// part folds).
func product(a, b map[lit]bool) (map[lit]bool, bool) {
	if len(a)*len(b) > maxExact {
		return nil, false
	}
	out := make(map[lit]bool, len(a)*len(b))
	for x := range a {
		for y := range b {
			out[lit{x.s + y.s, x.fold || y.fold}] = true
		}
	}
	return out, true
}

// gateScore ranks literal sets: the shortest literal counts most, then
// fewer literals.
func gateScore(set map[lit]bool) int {
	short := 1 << 20
	for l := range set {
		n := len(l.s)
		if n == 1 && sigma[l.s[0]] {
			n = 0 // letters, digits, space: in most text
		}
		if n < short {
			short = n
		}
	}
	if short > 8 {
		short = 8
	}
	return short*1000 - len(set)
}

// literalString is the literal as the gate searches it (lowercase when
// case-folded). ok is false for non-ASCII runes under folding.
func literalString(rs []rune, fold bool) (string, bool) {
	var b strings.Builder
	for _, r := range rs {
		if fold {
			if r >= 0x80 {
				return "", false
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// nonASCIIFold reports whether some ASCII letter of s folds to a
// non-ASCII rune (k, s).
func nonASCIIFold(s string) bool {
	for _, r := range s {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f >= 0x80 {
				return true
			}
		}
	}
	return false
}
