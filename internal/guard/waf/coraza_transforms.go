package waf

// Exact copies of Coraza v3.8.1's transformations (internal/transformations,
// Copyright 2022 Juan Pablo Tosso and the OWASP Coraza contributors,
// SPDX-License-Identifier: Apache-2.0), for the prefilter to compute the
// value a rule sees on any input, not only on the prefilter alphabet: a
// rule may decode base64 first, and the decoded bytes are arbitrary.
// Only the result is kept (not the "changed" flag); the best-fit table is in coraza_bestfit.go.

import (
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hexNibble maps an ASCII byte to its hex value, or -1.
var hexNibble = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = int8(c-'a') + 10
	}
	for c := byte('A'); c <= 'F'; c++ {
		t[c] = int8(c-'A') + 10
	}
	return t
}()

// urlDecodeUniExact is Coraza's t:urlDecodeUni (ok is always true).
func urlDecodeUniExact(input string) (string, bool) {
	if !strings.ContainsAny(input, "%+") {
		return input, true
	}
	d := make([]byte, 0, len(input))
	n := len(input)
	for i := 0; i < n; {
		ch := input[i]
		switch {
		case ch == '+':
			d = append(d, ' ')
			i++
		case ch != '%':
			d = append(d, ch)
			i++
		case i+1 < n && (input[i+1] == 'u' || input[i+1] == 'U'):
			if i+5 < n {
				h2, h3, h4, h5 := hexNibble[input[i+2]], hexNibble[input[i+3]], hexNibble[input[i+4]], hexNibble[input[i+5]]
				if h2 >= 0 && h3 >= 0 && h4 >= 0 && h5 >= 0 {
					code := rune(h2)<<12 | rune(h3)<<8 | rune(h4)<<4 | rune(h5)
					if b, ok := unicodeBestFitASCII[code]; ok {
						d = append(d, b)
					} else {
						// The low byte; full-width ASCII (ff01-ff5e) +0x20.
						low := byte(h4)<<4 | byte(h5)
						if low > 0x00 && low < 0x5f && h2 == 15 && h3 == 15 {
							low += 0x20
						}
						d = append(d, low)
					}
					i += 6
					continue
				}
			}
			// Invalid or truncated %u escape: "%u" verbatim.
			d = append(d, input[i], input[i+1])
			i += 2
		case i+2 < n && hexNibble[input[i+1]] >= 0 && hexNibble[input[i+2]] >= 0:
			d = append(d, byte(hexNibble[input[i+1]])<<4|byte(hexNibble[input[i+2]]))
			i += 3
		default:
			// Not a valid (or truncated) encoding: the '%' stays.
			d = append(d, ch)
			i++
		}
	}
	return string(d), true
}

func validHex(x byte) bool { return hexNibble[x] >= 0 }

func x2c(what string) byte { return byte(hexNibble[what[0]])<<4 | byte(hexNibble[what[1]]) }

func xsingle2c(what byte) byte {
	if what >= 'A' {
		return ((what & 0xdf) - 'A') + 10
	}
	return what - '0'
}

func isodigit(x byte) bool { return x >= '0' && x <= '7' }

// jsDecodeExact is Coraza's t:jsDecode.
func jsDecodeExact(input string) string {
	pos := strings.IndexByte(input, '\\')
	if pos < 0 {
		return input
	}
	d := []byte(input)
	inputLen := len(input)
	i, c := pos, pos
	for i < inputLen {
		if input[i] != '\\' {
			d[c] = input[i]
			c++
			i++
			continue
		}
		extLen := 0
		if i+2 < inputLen && input[i+1] == 'u' && input[i+2] == '{' {
			extLen = jsExtendedUnicodeEscapeLen(input, i+3)
		}
		switch {
		case extLen > 0:
			var code rune
			for k := 0; k < extLen; k++ {
				code = code<<4 | rune(xsingle2c(input[i+3+k]))
			}
			d[c] = byte(code)
			if code >= 0xff01 && code <= 0xff5e {
				d[c] += 0x20
			}
			c++
			i += extLen + 4
		case i+5 < inputLen && input[i+1] == 'u' && validHex(input[i+2]) && validHex(input[i+3]) && validHex(input[i+4]) && validHex(input[i+5]):
			d[c] = x2c(input[i+4:])
			if d[c] > 0x00 && d[c] < 0x5f && (input[i+2] == 'f' || input[i+2] == 'F') && (input[i+3] == 'f' || input[i+3] == 'F') {
				d[c] += 0x20
			}
			c++
			i += 6
		case i+3 < inputLen && input[i+1] == 'x' && validHex(input[i+2]) && validHex(input[i+3]):
			d[c] = x2c(input[i+2:])
			c++
			i += 4
		case i+1 < inputLen && isodigit(input[i+1]):
			buf := make([]byte, 0, 3)
			j := 0
			for i+1+j < inputLen && j < 3 {
				buf = append(buf, input[i+1+j])
				j++
				if i+1+j >= inputLen || !isodigit(input[i+1+j]) {
					break
				}
			}
			if j > 0 {
				if j == 3 && buf[0] > '3' {
					j = 2
					buf = buf[:j]
				}
				nn, _ := strconv.ParseUint(string(buf), 8, 8)
				d[c] = byte(nn)
				c++
				i += 1 + j
			}
		case i+1 < inputLen:
			cc := input[i+1]
			switch cc {
			case 'a':
				cc = '\a'
			case 'b':
				cc = '\b'
			case 'f':
				cc = '\f'
			case 'n':
				cc = '\n'
			case 'r':
				cc = '\r'
			case 't':
				cc = '\t'
			case 'v':
				cc = '\v'
			}
			d[c] = cc
			c++
			i += 2
		default:
			for i < inputLen {
				d[c] = input[i]
				c++
				i++
			}
		}
	}
	return string(d[:c])
}

func jsExtendedUnicodeEscapeLen(input string, pos int) int {
	inputLen := len(input)
	j := 0
	for j < 6 && pos+j < inputLen && validHex(input[pos+j]) {
		j++
	}
	if j == 0 || pos+j >= inputLen || input[pos+j] != '}' {
		return 0
	}
	return j
}

// removeWhitespaceExact is Coraza's t:removeWhitespace (strings.Map, so
// invalid UTF-8 becomes U+FFFD, as in Coraza).
func removeWhitespaceExact(data string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, data)
}

// replaceCommentsExact is Coraza's t:replaceComments.
func replaceCommentsExact(value string) string {
	var i, j int
	incomment := false
	input := []byte(value)
	inputLen := len(input)
	for i < inputLen {
		if !incomment {
			if input[i] == '/' && i+1 < inputLen && input[i+1] == '*' {
				incomment = true
				i += 2
			} else {
				input[j] = input[i]
				i++
				j++
			}
		} else {
			if input[i] == '*' && i+1 < inputLen && input[i+1] == '/' {
				incomment = false
				i += 2
				input[j] = ' '
				j++
			} else {
				i++
			}
		}
	}
	if incomment {
		input[j] = ' '
		j++
	}
	return string(input[0:j])
}

// utf8ToUnicodeExact is Coraza's t:utf8toUnicode: every non-ASCII rune
// (U+FFFD for an invalid byte) becomes %uHHHH.
func utf8ToUnicodeExact(input string) string {
	pos := -1
	for i, c := range input {
		if c >= utf8.RuneSelf {
			pos = i
			break
		}
	}
	if pos < 0 {
		return input
	}
	res := make([]byte, pos, len(input))
	copy(res, input[0:pos])
	for _, c := range input[pos:] {
		if c < utf8.RuneSelf {
			res = append(res, byte(c))
			continue
		}
		n := 4
		switch {
		case c <= 0xf:
			n = 1
		case c <= 0xff:
			n = 2
		case c <= 0xfff:
			n = 3
		}
		res = append(res, '%', 'u')
		for i := 0; i < 4-n; i++ {
			res = append(res, '0')
		}
		res = strconv.AppendUint(res, uint64(c), 16)
	}
	return string(res)
}

// cmdLineExact is Coraza's t:cmdLine (byte-wise, as ModSecurity's).
func cmdLineExact(input string) string {
	ret := make([]byte, 0, len(input))
	space := false
	for i := 0; i < len(input); i++ {
		a := input[i]
		switch a {
		case '"', '\'', '\\', '^':
		case ' ', ',', ';', '\t', '\r', '\n':
			if !space {
				ret = append(ret, ' ')
				space = true
			}
		case '/', '(':
			if space {
				ret = ret[:len(ret)-1]
			}
			space = false
			ret = append(ret, a)
		default:
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			ret = append(ret, a)
			space = false
		}
	}
	return string(ret)
}

// compressWhitespaceExact is Coraza's t:compressWhitespace.
func compressWhitespaceExact(input string) string {
	ret := make([]byte, 0, len(input))
	inWhiteSpace := false
	for i := 0; i < len(input); {
		r, size := utf8.DecodeRuneInString(input[i:])
		if isLatinSpace(r) || input[i] == 0xA0 {
			if !inWhiteSpace {
				inWhiteSpace = true
				ret = append(ret, ' ')
			}
		} else {
			inWhiteSpace = false
			ret = append(ret, input[i:i+size]...)
		}
		i += size
	}
	return string(ret)
}

func isLatinSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

// removeCommentsCharExact is Coraza's t:removeCommentsChar.
func removeCommentsCharExact(value string) string {
	n := len(value)
	res := make([]byte, 0, n)
	for i := 0; i < n; {
		switch {
		case value[i] == '/' && i+1 < n && value[i+1] == '*':
			i += 2
		case value[i] == '*' && i+1 < n && value[i+1] == '/':
			i += 2
		case value[i] == '<' && i+3 < n && value[i+1] == '!' && value[i+2] == '-' && value[i+3] == '-':
			i += 4
		case value[i] == '-' && i+2 < n && value[i+1] == '-' && value[i+2] == '>':
			i += 3
		case value[i] == '-' && i+1 < n && value[i+1] == '-':
			i += 2
		case value[i] == '#':
			i++
		default:
			res = append(res, value[i])
			i++
		}
	}
	return string(res)
}

// normalisePathExact is Coraza's t:normalizePath.
func normalisePathExact(data string) string {
	if len(data) < 1 {
		return data
	}
	clean := filepath.Clean(data)
	if clean == "." {
		return ""
	}
	if data[len(data)-1] == '/' {
		return clean + "/"
	}
	return clean
}

// normalisePathWinExact is Coraza's t:normalizePathWin.
func normalisePathWinExact(data string) string {
	if len(data) < 1 {
		return data
	}
	clean := normalisePathExact(strings.ReplaceAll(data, "\\", "/"))
	return stripWindowsTrailingDotsAndSpaces(stripWindowsADS(clean))
}

func stripWindowsADS(data string) string {
	prefix := ""
	if len(data) >= 2 && data[1] == ':' && isASCIILetter(data[0]) {
		prefix, data = data[:2], data[2:]
	}

	// normalisePath preserves a trailing separator, which would otherwise
	// push the ADS-bearing component out of "last segment" position and
	// leave the colon-truncation below looking at an empty final segment.
	trailingSlash := ""
	if len(data) > 0 && data[len(data)-1] == '/' {
		trailingSlash, data = "/", data[:len(data)-1]
	}

	if idx := strings.LastIndexByte(data, '/'); idx >= 0 {
		if colon := strings.IndexByte(data[idx+1:], ':'); colon >= 0 {
			data = data[:idx+1+colon]
		}
	} else if colon := strings.IndexByte(data, ':'); colon >= 0 {
		data = data[:colon]
	}

	return prefix + data + trailingSlash
}

func stripWindowsTrailingDotsAndSpaces(data string) string {
	if !hasTrimmableComponent(data) {
		return data
	}

	var buf strings.Builder
	buf.Grow(len(data))
	start := 0
	wroteAny := false
	for i := 0; i <= len(data); i++ {
		if i != len(data) && data[i] != '/' {
			continue
		}
		seg := data[start:i]
		start = i + 1

		if !isAllDots(seg) {
			trimmed := strings.TrimRight(seg, ". ")
			if trimmed == "" {
				continue
			}
			seg = trimmed
		}

		if wroteAny {
			buf.WriteByte('/')
		}
		buf.WriteString(seg)
		wroteAny = true
	}
	return buf.String()
}

func hasTrimmableComponent(data string) bool {
	start := 0
	for i := 0; i <= len(data); i++ {
		if i != len(data) && data[i] != '/' {
			continue
		}
		seg := data[start:i]
		if !isAllDots(seg) {
			if last := seg[len(seg)-1]; last == '.' || last == ' ' {
				return true
			}
		}
		start = i + 1
	}
	return false
}

func isAllDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			return false
		}
	}
	return true
}

func isASCIILetter(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}
