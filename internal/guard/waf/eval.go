package waf

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/corazawaf/libinjection-go"
)

// tri is a three-valued match result of the prefilter.
type tri uint8

const (
	no tri = iota
	yes
	maybe
)

// evalValue reports whether the link could match value v, for a value
// over sigma. It implements the transformations exactly where they are
// not the identity on sigma and answers maybe for anything it cannot
// decide, so a "no" is exact.
func (l *crsLink) evalValue(sc *scan, v string) tri {
	if l.multiMatch {
		// multiMatch: the operator sees the value after every step (the
		// same string twice gives the same answer: run it once).
		if r := l.operate(sc, v); r != no {
			return r
		}
		for _, t := range l.transforms {
			nv, ok := transform(t, v)
			if !ok {
				return maybe
			}
			if nv != v {
				if r := l.operate(sc, nv); r != no {
					return r
				}
			}
			v = nv
		}
		return no
	}
	for _, t := range l.transforms {
		var ok bool
		if v, ok = transform(t, v); !ok {
			return maybe
		}
	}
	return l.operate(sc, v)
}

// operate applies the link's operator (and negation) to a value.
func (l *crsLink) operate(sc *scan, v string) tri {
	var m bool
	switch l.op {
	case "rx":
		if l.bre != nil {
			m = l.bre.MatchString(v)
			break
		}
		if l.re == nil {
			return maybe
		}
		m = l.rxMatch(sc, v)
	case "pm", "pmFromFile":
		if !l.pmOK {
			return maybe
		}
		m = l.pm.Iter(v).Next() != nil
	case "detectSQLi":
		m, _ = libinjection.IsSQLi(v)
	case "detectXSS":
		m = libinjection.IsXSS(v)
	case "validateByteRange":
		for i := 0; i < len(v); i++ {
			if !l.bytes[v[i]] {
				m = true
				break
			}
		}
	case "validateUtf8Encoding":
		m = !utf8.ValidString(v)
	case "streq", "contains", "beginsWith", "endsWith", "within":
		if strings.Contains(l.arg, "%{") {
			return maybe
		}
		switch l.op {
		case "streq":
			m = v == l.arg
		case "contains":
			m = strings.Contains(v, l.arg)
		case "beginsWith":
			m = strings.HasPrefix(v, l.arg)
		case "endsWith":
			m = strings.HasSuffix(v, l.arg)
		case "within":
			m = v != "" && strings.Contains(l.arg, v)
		}
	default:
		return maybe
	}
	if m != l.negate {
		return yes
	}
	return no
}

// rxMatch runs the link's regexp on v: the form restricted to the
// smallest alphabet v is over, behind its literal gate.
func (l *crsLink) rxMatch(sc *scan, v string) bool {
	re, gate := l.re, l.gate
	if r := l.onSigma0; r != nil && inAlphabet(v, &sigma0) {
		re, gate = r.re, r.gate
	} else if r := l.onSigma; r != nil && inAlphabet(v, &sigma) {
		re, gate = r.re, r.gate
	}
	if re == nil {
		return false
	}
	return (gate == nil || sc.mayPass(gate, v)) && re.MatchString(v)
}

// transform applies one CRS transformation to a value that started over
// sigma. ok is false when the result cannot be computed exactly here.
func transform(t, v string) (string, bool) {
	switch t {
	case "urlDecodeUni":
		return urlDecodeUniExact(v)
	case "urlDecode":
		return v, !strings.ContainsAny(v, "%+")
	case "htmlEntityDecode":
		return v, !strings.Contains(v, "&")
	case "jsDecode":
		return jsDecodeExact(v), true
	case "cssDecode", "escapeSeqDecode":
		return v, !strings.Contains(v, `\`)
	case "utf8toUnicode":
		return utf8ToUnicodeExact(v), true
	case "removeNulls":
		return strings.ReplaceAll(v, "\x00", ""), true
	case "lowercase":
		return strings.ToLower(v), true
	case "compressWhitespace":
		return compressWhitespaceExact(v), true
	case "removeWhitespace":
		return removeWhitespaceExact(v), true
	case "replaceComments":
		return replaceCommentsExact(v), true
	case "removeCommentsChar":
		return removeCommentsCharExact(v), true
	case "normalizePath":
		return normalisePathExact(v), true
	case "normalizePathWin":
		return normalisePathWinExact(v), true
	case "cmdLine":
		return cmdLineExact(v), true
	case "length":
		return strconv.Itoa(len(v)), true
	case "base64Decode":
		return base64Decode(v), true
	case "trim":
		return strings.TrimSpace(v), asciiNoCtl(v)
	}
	return v, false
}

// asciiNoCtl reports whether v is printable ASCII (the only whitespace
// is the space), where compressSpaces and cmdLine are exact.
func asciiNoCtl(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// base64Decode is Coraza's strict t:base64Decode: it stops at padding,
// a space or the first byte outside the alphabet.
func base64Decode(src string) string {
	var n, x int
	var dst strings.Builder
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\r' || c == '\n' {
			continue
		}
		if c == '=' || c == ' ' {
			break
		}
		var d int
		switch {
		case c >= 'A' && c <= 'Z':
			d = int(c - 'A')
		case c >= 'a' && c <= 'z':
			d = int(c-'a') + 26
		case c >= '0' && c <= '9':
			d = int(c-'0') + 52
		case c == '+':
			d = 62
		case c == '/':
			d = 63
		default:
			i = len(src)
			continue
		}
		x = x<<6 | d
		n++
		if n == 4 {
			dst.WriteByte(byte(x >> 16))
			dst.WriteByte(byte(x >> 8))
			dst.WriteByte(byte(x))
			n, x = 0, 0
		}
	}
	switch n {
	case 2:
		x <<= 12
		dst.WriteByte(byte(x >> 16))
	case 3:
		x <<= 6
		dst.WriteByte(byte(x >> 16))
		dst.WriteByte(byte(x >> 8))
	}
	return dst.String()
}
