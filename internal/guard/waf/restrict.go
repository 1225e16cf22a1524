package waf

import (
	"regexp"
	"regexp/syntax"
	"unicode"
)

// A restricted regexp is a rule's regexp specialised to inputs over an
// alphabet: every character class is intersected with the alphabet and
// every branch that needs a character outside it is dropped. On strings
// made only of the alphabet's bytes it matches exactly where the original
// does (the same positions, the same empty-width assertions), and it is
// usually much smaller: CRS's obfuscation-tolerant patterns (quotes,
// backslashes and `$@` between the letters of a command name) collapse to
// plain word lists, whose required literals then gate it well.
type restricted struct {
	re   *regexp.Regexp // nil when nothing over the alphabet matches
	gate *litGate
}

func (r *restricted) gateOf() *litGate {
	if r == nil {
		return nil
	}
	return r.gate
}

// sigma0 is sigma without the apostrophe: most benign values.
var sigma0 = func() (t [256]bool) {
	t = sigma
	t['\''] = false
	return t
}()

func inAlphabet(s string, a *[256]bool) bool {
	for i := 0; i < len(s); i++ {
		if !a[s[i]] {
			return false
		}
	}
	return true
}

// restrictRegexp builds the restricted form of expr (already carrying
// Coraza's flags). ok is false when it cannot be built; the caller then
// uses the original regexp.
func restrictRegexp(expr string, a *[256]bool) (restricted, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return restricted{}, false
	}
	r := restrictNode(re, a)
	if r.Op == syntax.OpNoMatch {
		return restricted{}, true
	}
	s := r.String()
	c, err := regexp.Compile(s)
	if err != nil {
		return restricted{}, false
	}
	out := restricted{re: c}
	out.gate, _ = newLitGate(s)
	return out, true
}

var noMatch = &syntax.Regexp{Op: syntax.OpNoMatch}

func emptyMatch(flags syntax.Flags) *syntax.Regexp {
	return &syntax.Regexp{Op: syntax.OpEmptyMatch, Flags: flags}
}

// restrictNode returns re restricted to inputs over a (a new tree; re is
// not modified).
func restrictNode(re *syntax.Regexp, a *[256]bool) *syntax.Regexp {
	switch re.Op {
	case syntax.OpNoMatch:
		return noMatch
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		for _, r := range re.Rune {
			if !runeIn(r, fold, a) {
				return noMatch
			}
		}
		return re
	case syntax.OpCharClass:
		var rs []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 256; r++ {
				if a[r] {
					rs = append(rs, r, r)
				}
			}
		}
		if len(rs) == 0 {
			return noMatch
		}
		return &syntax.Regexp{Op: syntax.OpCharClass, Flags: re.Flags &^ syntax.FoldCase, Rune: rs}
	case syntax.OpCapture:
		sub := restrictNode(re.Sub[0], a)
		if sub.Op == syntax.OpNoMatch {
			return noMatch
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	case syntax.OpStar, syntax.OpQuest:
		sub := restrictNode(re.Sub[0], a)
		if sub.Op == syntax.OpNoMatch {
			return emptyMatch(re.Flags)
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	case syntax.OpPlus:
		sub := restrictNode(re.Sub[0], a)
		if sub.Op == syntax.OpNoMatch {
			return noMatch
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	case syntax.OpRepeat:
		sub := restrictNode(re.Sub[0], a)
		if sub.Op == syntax.OpNoMatch {
			if re.Min == 0 {
				return emptyMatch(re.Flags)
			}
			return noMatch
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	case syntax.OpConcat:
		// Empty matches left by dropped optional parts are removed and
		// adjacent literals joined, so the literal gate sees whole words.
		subs := make([]*syntax.Regexp, 0, len(re.Sub))
		var add func(r *syntax.Regexp)
		add = func(r *syntax.Regexp) {
			switch r.Op {
			case syntax.OpEmptyMatch:
				return
			case syntax.OpConcat:
				for _, s := range r.Sub {
					add(s)
				}
				return
			case syntax.OpLiteral:
				if n := len(subs); n > 0 && subs[n-1].Op == syntax.OpLiteral && subs[n-1].Flags == r.Flags {
					j := *subs[n-1]
					j.Rune = append(append([]rune(nil), j.Rune...), r.Rune...)
					subs[n-1] = &j
					return
				}
			}
			subs = append(subs, r)
		}
		for _, s := range re.Sub {
			r := restrictNode(s, a)
			if r.Op == syntax.OpNoMatch {
				return noMatch
			}
			add(r)
		}
		switch len(subs) {
		case 0:
			return emptyMatch(re.Flags)
		case 1:
			return subs[0]
		}
		c := *re
		c.Sub = subs
		return &c
	case syntax.OpAlternate:
		subs := make([]*syntax.Regexp, 0, len(re.Sub))
		for _, s := range re.Sub {
			if r := restrictNode(s, a); r.Op != syntax.OpNoMatch {
				subs = append(subs, r)
			}
		}
		switch len(subs) {
		case 0:
			return noMatch
		case 1:
			return subs[0]
		}
		c := *re
		c.Sub = subs
		return &c
	}
	// Empty-width assertions, any-character, empty match: unchanged (they
	// behave the same on any input).
	return re
}

// runeIn reports whether r (or, folded, one of its case variants) is in
// the alphabet.
func runeIn(r rune, fold bool, a *[256]bool) bool {
	if r < 256 && a[r] {
		return true
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < 256 && a[f] {
				return true
			}
		}
	}
	return false
}
