package normalize

import (
	"bytes"
	"unicode/utf8"
)

// fastByte marks the bytes that may appear in a wire path that needs no
// work at all: unreserved characters, sub-delimiters except ';', ':', '@'
// and '/'. A path made only of these, with no empty and no all-dot segment,
// is already canonical.
var fastByte = alnumAnd("-._~!$&'()*+,=:@/")

// escapeKeep marks the bytes Escape leaves as they are: the same set as
// fastByte. Everything else ('%', space, '?', '#', ';', '{', '}', '\\',
// non-ASCII bytes, ...) is percent-encoded.
var escapeKeep = fastByte

// Path returns the canonical form of a request path given in its escaped
// (wire) form, such as RequestPath(r) or r.URL.EscapedPath(), or a
// Rejection (status 400).
//
// The canonical form is percent-decoded exactly once, has no dot segments
// (plain "." and ".." are resolved per RFC 3986 section 5.2.4; ".." above
// the root is rejected), and no empty segments (runs of slashes collapse to
// one, as in path.Clean and most upstream frameworks). A trailing slash and
// the case of letters are kept: the router decides what they mean.
//
// Rejected: a path not starting with '/', invalid or double percent
// escapes, encoded '/' or '\', any backslash, encoded dot segments, all-dot
// segments of three or more, ';' (matrix parameters) raw or encoded,
// control and invisible characters raw or encoded, '#', '?' and space
// written raw, invalid or overlong UTF-8, and unicode characters that
// folding (NFKC, best-fit mappings) turns into delimiters or ASCII.
//
// A clean path is returned as is, without allocating.
func Path(escaped string) (string, *Rejection) {
	if len(escaped) == 0 || escaped[0] != '/' {
		return "", reject(rulePathNotAbsolute)
	}
	if isCanonicalWire(escaped) {
		return escaped, nil
	}
	return canonicalize(escaped)
}

// isCanonicalWire reports whether s (starting with '/') is made only of
// fastByte bytes and has no empty or all-dot segment except a final empty
// one (the trailing slash).
func isCanonicalWire(s string) bool {
	segLen, dots := 0, 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !fastByte[c] {
			return false
		}
		if c == '/' {
			if dots == segLen { // empty segment, or only dots
				return false
			}
			segLen, dots = 0, 0
			continue
		}
		segLen++
		if c == '.' {
			dots++
		}
	}
	return segLen == 0 || dots != segLen
}

// canonicalize is the slow path of Path.
func canonicalize(s string) (string, *Rejection) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		// s[i] == '/'
		j := i + 1
		for j < len(s) && s[j] != '/' {
			j++
		}
		last := j == len(s)
		start := len(out)
		out = append(out, '/')
		var encodedDot bool
		raw := s[i+1 : j]
		for k := 0; k < len(raw); {
			c := raw[k]
			switch {
			case c == '%':
				if k+2 >= len(raw) || !isHex(raw[k+1]) || !isHex(raw[k+2]) {
					return "", reject(rulePathBadEscape)
				}
				b := unhex(raw[k+1])<<4 | unhex(raw[k+2])
				k += 3
				switch {
				case b == '/' || b == '\\':
					return "", reject(ruleEncodedSlash)
				case b == ';':
					return "", reject(ruleMatrixParam)
				case b < 0x20 || b == 0x7f:
					return "", reject(ruleControlChar)
				case b == '.':
					encodedDot = true
				}
				out = append(out, b)
				continue
			case c < 0x20 || c == 0x7f:
				return "", reject(ruleControlChar)
			case c == '\\':
				return "", reject(ruleBackslash)
			case c == ';':
				return "", reject(ruleMatrixParam)
			case c == '#' || c == '?' || c == ' ':
				return "", reject(rulePathChar)
			}
			out = append(out, c)
			k++
		}
		seg := out[start+1:]
		if r := checkSegment(seg); r != nil {
			return "", r
		}
		switch dotKind(seg) {
		case 0: // ordinary segment
			if len(seg) == 0 && !last {
				out = out[:start] // collapse "//"
			}
		case 1: // "."
			if encodedDot {
				return "", reject(ruleDotSegment)
			}
			out = out[:start]
			if last {
				out = append(out, '/')
			}
		case 2: // ".."
			if encodedDot {
				return "", reject(ruleDotSegment)
			}
			out = out[:start]
			if len(out) == 0 {
				return "", reject(ruleAboveRoot)
			}
			out = out[:bytes.LastIndexByte(out, '/')]
			if last {
				out = append(out, '/')
			}
		default: // "...", ". .", ".. " and the like
			return "", reject(ruleDotSegment)
		}
		i = j
	}
	if len(out) == 0 {
		return "/", nil
	}
	if string(out) == s {
		return s, nil
	}
	return string(out), nil
}

// dotKind classifies a decoded segment: 0 ordinary, 1 ".", 2 "..", 3 any
// other segment made only of dots and spaces with at least one dot (Windows
// and some servers trim trailing dots and spaces, turning "..." or ".. "
// into "..").
func dotKind(seg []byte) int {
	if len(seg) == 0 {
		return 0
	}
	dots := 0
	for _, c := range seg {
		switch c {
		case '.':
			dots++
		case ' ':
		default:
			return 0
		}
	}
	switch {
	case dots == 0:
		return 0
	case dots == len(seg) && dots <= 2:
		return dots
	}
	return 3
}

// checkSegment checks one decoded segment for double encoding, invalid or
// overlong UTF-8, invisible characters and unicode look-alikes.
func checkSegment(seg []byte) *Rejection {
	ascii := true
	for i, c := range seg {
		if c >= utf8.RuneSelf {
			ascii = false
		}
		if c == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]) {
			return reject(ruleDoubleEncoding)
		}
	}
	if ascii {
		return nil
	}
	for i := 0; i < len(seg); {
		if seg[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(seg[i:])
		if r == utf8.RuneError && size <= 1 {
			if isOverlong(seg[i:]) {
				return reject(ruleOverlongUTF8)
			}
			return reject(ruleInvalidUTF8)
		}
		if rr := checkRune(r); rr != nil {
			return rr
		}
		i += size
	}
	return nil
}

// isOverlong reports whether b starts with an overlong UTF-8 form: a 2-byte
// lead C0 or C1, E0 followed by 80..9F, or F0 followed by 80..8F.
func isOverlong(b []byte) bool {
	switch {
	case b[0] == 0xC0 || b[0] == 0xC1:
		return true
	case len(b) > 1 && b[0] == 0xE0:
		return b[1] >= 0x80 && b[1] < 0xA0
	case len(b) > 1 && b[0] == 0xF0:
		return b[1] >= 0x80 && b[1] < 0x90
	}
	return false
}

// checkRune rejects non-ASCII runes that are invisible controls or that
// normalization (NFKC, IIS "best fit", ICU transliteration) folds into path
// delimiters or into ASCII.
func checkRune(r rune) *Rejection {
	switch {
	case r >= 0x80 && r <= 0x9F, // C1 controls
		r == 0x200B, r == 0xFEFF, // zero width space, BOM
		r == 0x200E, r == 0x200F, // LRM, RLM
		r >= 0x2028 && r <= 0x202E, // line/paragraph separators, bidi embeddings
		r >= 0x2066 && r <= 0x2069: // bidi isolates
		return reject(ruleControlChar)
	case r >= 0xFF01 && r <= 0xFF5E, // fullwidth ASCII: ／ ． ＼ ； ％ ａ ...
		r >= 0xFE50 && r <= 0xFE6B, // small forms: ﹒ ﹔ ﹖ ﹟ ﹨ ﹪
		r >= 0xFE10 && r <= 0xFE19, // vertical forms: ︓ ︔ ︕ ︖ ︙
		r == 0xFE30,                // vertical two dot leader
		r >= 0x2024 && r <= 0x2026, // one/two dot leader, ellipsis
		r == 0x2215, r == 0x2216,   // division slash, set minus
		r == 0x2044,              // fraction slash
		r == 0x29F8, r == 0x29F9, // big solidus, big reverse solidus
		r == 0x037E,                                        // greek question mark (NFC: ';')
		r == 0x2100, r == 0x2101, r == 0x2105, r == 0x2106: // ℀ ℁ ℅ ℆ (NFKC: a/c ...)
		return reject(ruleUnicodeFold)
	}
	return nil
}

// Escape returns the wire form of a canonical path, to send upstream so the
// upstream receives exactly the path the guards saw. It percent-encodes
// (upper-case hex) every byte that is not an unreserved character, a
// sub-delimiter other than ';', ':', '@' or '/': so '%', space, '?', '#',
// '{', '}' and non-ASCII UTF-8 bytes are encoded. For every c accepted by
// Path, Path(Escape(c)) == c. A path with nothing to encode is returned as
// is, without allocating.
func Escape(canonical string) string {
	n := 0
	for i := 0; i < len(canonical); i++ {
		if !escapeKeep[canonical[i]] {
			n++
		}
	}
	if n == 0 {
		return canonical
	}
	const hexUpper = "0123456789ABCDEF"
	buf := make([]byte, 0, len(canonical)+2*n)
	for i := 0; i < len(canonical); i++ {
		c := canonical[i]
		if escapeKeep[c] {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(buf)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// alnumAnd returns the byte set of ASCII letters, digits and extra.
func alnumAnd(extra string) (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return t
}
