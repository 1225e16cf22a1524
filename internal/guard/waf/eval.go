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
func (l *crsLink) evalValue(v string) tri {
	if l.multiMatch {
		// multiMatch: the operator sees the value after every step.
		if r := l.operate(v); r != no {
			return r
		}
	}
	for _, t := range l.transforms {
		var ok bool
		if v, ok = transform(t, v); !ok {
			return maybe
		}
		if l.multiMatch {
			if r := l.operate(v); r != no {
				return r
			}
		}
	}
	return l.operate(v)
}

// operate applies the link's operator (and negation) to a value.
func (l *crsLink) operate(v string) tri {
	var m bool
	switch l.op {
	case "rx":
		if l.re == nil {
			return maybe
		}
		m = l.re.MatchString(v)
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

// transform applies one CRS transformation to a value that started over
// sigma. ok is false when the result cannot be computed exactly here.
func transform(t, v string) (string, bool) {
	switch t {
	case "urlDecodeUni", "urlDecode":
		return v, !strings.ContainsAny(v, "%+")
	case "htmlEntityDecode":
		return v, !strings.Contains(v, "&")
	case "jsDecode", "cssDecode", "escapeSeqDecode":
		return v, !strings.Contains(v, `\`)
	case "utf8toUnicode":
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return v, false
			}
		}
		return v, true
	case "removeNulls":
		return strings.ReplaceAll(v, "\x00", ""), true
	case "lowercase":
		return strings.ToLower(v), true
	case "compressWhitespace":
		return compressSpaces(v), true
	case "removeWhitespace":
		return strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
				return -1
			}
			return r
		}, v), !strings.ContainsRune(v, 0xa0)
	case "replaceComments":
		return v, !strings.Contains(v, "/*") && !strings.Contains(v, "*/")
	case "removeCommentsChar":
		if strings.ContainsAny(v, "/*<>#") {
			return v, false
		}
		return strings.ReplaceAll(v, "--", ""), !strings.Contains(strings.ReplaceAll(v, "--", ""), "--")
	case "normalizePath", "normalizePathWin":
		return v, v != "" && !strings.ContainsAny(v, `/\`) && v != "." && v != ".."
	case "cmdLine":
		return cmdLine(v), !strings.ContainsAny(v, "\t\n\r")
	case "length":
		return strconv.Itoa(len(v)), true
	case "base64Decode":
		return base64Decode(v), true
	case "trim":
		return strings.TrimSpace(v), true
	}
	return v, false
}

// compressSpaces is t:compressWhitespace on a string whose only
// whitespace is the space: runs become one space.
func compressSpaces(v string) string {
	if !strings.Contains(v, "  ") {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b = append(b, v[i])
	}
	return string(b)
}

// cmdLine is Coraza's t:cmdLine restricted to inputs without tabs or
// line breaks.
func cmdLine(in string) string {
	out := make([]byte, 0, len(in))
	space := false
	for i := 0; i < len(in); i++ {
		a := in[i]
		switch a {
		case '"', '\'', '\\', '^':
		case ' ', ',', ';':
			if !space {
				out = append(out, ' ')
				space = true
			}
		case '/', '(':
			if space {
				out = out[:len(out)-1]
			}
			space = false
			out = append(out, a)
		default:
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			out = append(out, a)
			space = false
		}
	}
	return string(out)
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
