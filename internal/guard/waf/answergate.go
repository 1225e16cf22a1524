package waf

import "regexp/syntax"

// A gateExpr is a necessary condition for a regexp to match, over the
// literal gates of the answer automaton: "contains one of these
// literals" (a leaf), and, or, or true (unknown). It is stronger than a
// single required-literal set: every part of a concatenation must be
// present (the Java rule needs "java" and "exception", not one of
// "java", "com", "org", "error"), each branch of an alternation has its
// own condition.
type gateExpr struct {
	op   gateOp
	gate *litGate
	subs []*gateExpr
}

type gateOp uint8

const (
	gateTrue gateOp = iota
	gateLeaf
	gateAnd
	gateOr
)

var trueGate = &gateExpr{op: gateTrue}

// eval reports whether the value scanned into en may match (false is
// exact: it cannot).
func (e *gateExpr) eval(en *scanEntry) bool {
	switch e.op {
	case gateLeaf:
		g := e.gate
		if g.asciiOnly && en.nonASCII {
			return true
		}
		return en.hits[g.id>>6]&(1<<(uint(g.id)&63)) != 0
	case gateAnd:
		for _, s := range e.subs {
			if !s.eval(en) {
				return false
			}
		}
		return true
	case gateOr:
		for _, s := range e.subs {
			if s.eval(en) {
				return true
			}
		}
		return false
	}
	return true
}

// entryOf returns the scan entry of v, scanning v the first time. The
// entry stays valid while the scan holds fewer than maxScanEntries
// strings (the answer filter scans at most three: status, body, and
// the body transformed).
func (sc *scan) entryOf(v string) *scanEntry {
	for i := range sc.entries {
		if sc.entries[i].s == v {
			return &sc.entries[i]
		}
	}
	return sc.add(v)
}

// leaves appends the gates of e's leaves.
func (e *gateExpr) leaves(out []*litGate) []*litGate {
	if e.op == gateLeaf {
		return append(out, e.gate)
	}
	for _, s := range e.subs {
		out = s.leaves(out)
	}
	return out
}

// regexpGate builds the condition of a regexp (with the flags Coraza
// compiles it with); trueGate when nothing is known.
func regexpGate(expr string) *gateExpr {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return trueGate
	}
	return gateOf(re.Simplify())
}

func gateOf(re *syntax.Regexp) *gateExpr {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass:
		if set, ok := required(re); ok {
			return leafGate(set)
		}
	case syntax.OpCapture, syntax.OpPlus:
		return gateOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return gateOf(re.Sub[0])
		}
	case syntax.OpAlternate:
		e := &gateExpr{op: gateOr}
		for _, s := range re.Sub {
			g := gateOf(s)
			if g.op == gateTrue {
				return trueGate
			}
			e.subs = append(e.subs, g)
		}
		return e
	case syntax.OpConcat:
		return concatGate(re.Sub)
	}
	return trueGate
}

// concatGate is the condition of a concatenation: every part's, where
// runs of parts that match one of a few exact strings join into their
// cross product (a one-or-more repetition of such a part joins the run
// before it and starts the next one: its first and last repetitions are
// adjacent to them). Empty-width assertions join runs as the empty
// string.
func concatGate(subs []*syntax.Regexp) *gateExpr {
	e := &gateExpr{op: gateAnd}
	var run map[lit]bool
	flush := func() {
		if run != nil && usefulSet(run) {
			e.subs = append(e.subs, leafGate(run))
		}
		run = nil
	}
	extend := func(set map[lit]bool) {
		if run == nil {
			run = set
			return
		}
		if p, ok := product(run, set); ok {
			run = p
			return
		}
		flush()
		run = set
	}
	for _, sub := range subs {
		if emptyWidth(sub) {
			if run == nil {
				run = map[lit]bool{{"", false}: true}
			}
			continue
		}
		if ex, ok := exactSet(sub); ok {
			extend(ex)
			continue
		}
		if sub.Op == syntax.OpPlus || sub.Op == syntax.OpRepeat && sub.Min >= 1 {
			if ex, ok := exactSet(sub.Sub[0]); ok {
				extend(ex)
				flush()
				run = ex
				continue
			}
		}
		flush()
		if g := gateOf(sub); g.op != gateTrue {
			e.subs = append(e.subs, g)
		}
	}
	flush()
	if len(e.subs) > 1 {
		// A conjunct of one-byte literals ("s", ":", " ") adds little
		// and fires on most bytes of a body: leave it out (a weaker
		// condition is still a necessary one).
		strong := e.subs[:0:0]
		for _, g := range e.subs {
			if !oneByteLeaf(g) {
				strong = append(strong, g)
			}
		}
		if len(strong) > 0 {
			e.subs = strong
		}
	}
	switch len(e.subs) {
	case 0:
		return trueGate
	case 1:
		return e.subs[0]
	}
	return e
}

// oneByteLeaf reports whether e is a leaf whose literals are single
// bytes.
func oneByteLeaf(e *gateExpr) bool {
	if e.op != gateLeaf {
		return false
	}
	for _, w := range e.gate.words {
		if len(w) > 1 {
			return false
		}
	}
	return true
}

func emptyWidth(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpEmptyMatch:
		return true
	}
	return false
}

// usefulSet reports whether a literal set is a condition at all: not
// empty, no empty string, not too large.
func usefulSet(set map[lit]bool) bool {
	if len(set) == 0 || len(set) > maxGateLiterals {
		return false
	}
	for l := range set {
		if l.s == "" {
			return false
		}
	}
	return true
}

// leafGate is the gate of a literal set (lower-cased, cut to
// maxAnswerLiteral bytes for the automaton).
func leafGate(set map[lit]bool) *gateExpr {
	if !usefulSet(set) {
		return trueGate
	}
	g := &litGate{}
	for l := range set {
		s := l.s
		if l.fold {
			s = asciiLower(s)
		}
		if nonASCIIFold(s) {
			g.asciiOnly = true // as newLitGate: k and s fold to non-ASCII runes
		}
		g.words = append(g.words, s)
	}
	g.n = len(g.words)
	return &gateExpr{op: gateLeaf, gate: shortGate(g)}
}
