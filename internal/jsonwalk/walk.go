// Package jsonwalk parses JSON request bodies in one strict pass: strict
// RFC 8259 (no trailing data, valid UTF-8, no lone surrogates), duplicate
// keys refused, and bounds on depth, total keys, array and string lengths
// enforced while parsing, so a hostile body cannot make apiguard build a
// huge value. Values come out as encoding/json's UseNumber decoding would
// give them: objects as map[string]any, arrays as []any, numbers as
// json.Number. The exchange (pipeline.Exchange.JSON) and the schema guard
// share it, so a body is parsed once.
package jsonwalk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bound the shape of a JSON body before it is validated against
// the spec. Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays. Default 32.
	MaxDepth int `yaml:"max_depth,omitempty" json:"max_depth,omitempty"`
	// MaxKeys is the number of object keys in the whole body. Default 10000.
	MaxKeys int `yaml:"max_keys,omitempty" json:"max_keys,omitempty"`
	// MaxArray is the length of any one array. Default 10000.
	MaxArray int `yaml:"max_array,omitempty" json:"max_array,omitempty"`
	// MaxString is the length in bytes of any one string or key, as sent.
	// Default 65536.
	MaxString int `yaml:"max_string,omitempty" json:"max_string,omitempty"`
}

// DefaultLimits are the limits used for fields left at zero.
var DefaultLimits = Limits{MaxDepth: 32, MaxKeys: 10000, MaxArray: 10000, MaxString: 65536}

// WithDefaults returns l with zero fields set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultLimits.MaxKeys
	}
	if l.MaxArray <= 0 {
		l.MaxArray = DefaultLimits.MaxArray
	}
	if l.MaxString <= 0 {
		l.MaxString = DefaultLimits.MaxString
	}
	return l
}

// WalkError is a JSON body refused by the walker: where, and which rule.
type WalkError struct {
	// Pointer is the JSON pointer (RFC 6901) of the offending value.
	Pointer string
	// Rule is a short, client-safe name of the rule: "syntax",
	// "duplicate_key", "depth", "keys", "array_length", "string_length".
	Rule string
	// Offset is the byte offset where the walker stopped.
	Offset int
}

func (e *WalkError) Error() string {
	return "json " + e.Rule + " at " + strconv.Quote(e.Pointer) + " (offset " + strconv.Itoa(e.Offset) + ")"
}

// frame is one open container on the walker's path, used to build the
// JSON pointer of an error (only when there is one).
type frame struct {
	key   string
	index int
	array bool
}

// walker parses JSON in one pass, enforcing the limits, and builds the
// value: objects as map[string]any, arrays as []any, numbers as
// json.Number, strings, bools and nil.
type walker struct {
	b []byte
	// s is b as one string: strings without escapes, keys and numbers are
	// substrings of it, so a body costs one copy instead of one per value.
	s     string
	i     int
	lim   Limits
	keys  int
	stack []frame
}

// Walk parses b as one JSON value under lim and returns it. Duplicate keys,
// excess depth, keys, array or string lengths, invalid UTF-8 and anything
// that is not strict RFC 8259 JSON are refused with a *WalkError.
func Walk(b []byte, lim Limits) (any, error) {
	w := walker{b: b, s: string(b), lim: lim.WithDefaults()}
	w.skipSpace()
	v, err := w.value()
	if err != nil {
		return nil, err
	}
	w.skipSpace()
	if w.i != len(w.b) {
		return nil, w.fail("syntax")
	}
	return v, nil
}

func (w *walker) fail(rule string) *WalkError {
	var sb strings.Builder
	for _, f := range w.stack {
		sb.WriteByte('/')
		if f.array {
			sb.WriteString(strconv.Itoa(f.index))
			continue
		}
		k := f.key
		if len(k) > 64 {
			k = k[:64]
			for !utf8.ValidString(k) {
				k = k[:len(k)-1]
			}
		}
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
	}
	return &WalkError{Pointer: sb.String(), Rule: rule, Offset: w.i}
}

func (w *walker) skipSpace() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *walker) value() (any, error) {
	if w.i >= len(w.b) {
		return nil, w.fail("syntax")
	}
	switch c := w.b[w.i]; {
	case c == '{':
		return w.object()
	case c == '[':
		return w.array()
	case c == '"':
		return w.str()
	case c == '-' || c >= '0' && c <= '9':
		return w.number()
	case w.lit("true"):
		return true, nil
	case w.lit("false"):
		return false, nil
	case w.lit("null"):
		return nil, nil
	}
	return nil, w.fail("syntax")
}

func (w *walker) lit(s string) bool {
	if bytes.HasPrefix(w.b[w.i:], []byte(s)) {
		w.i += len(s)
		return true
	}
	return false
}

func (w *walker) push(f frame) error {
	if len(w.stack) >= w.lim.MaxDepth {
		return w.fail("depth")
	}
	w.stack = append(w.stack, f)
	return nil
}

func (w *walker) object() (any, error) {
	if err := w.push(frame{}); err != nil {
		return nil, err
	}
	w.i++ // {
	m := map[string]any{}
	w.skipSpace()
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
		w.stack = w.stack[:len(w.stack)-1]
		return m, nil
	}
	for {
		if w.i >= len(w.b) || w.b[w.i] != '"' {
			return nil, w.fail("syntax")
		}
		k, err := w.str()
		if err != nil {
			return nil, err
		}
		key := k.(string)
		top := &w.stack[len(w.stack)-1]
		top.key = key
		w.keys++
		if w.keys > w.lim.MaxKeys {
			return nil, w.fail("keys")
		}
		if _, dup := m[key]; dup {
			return nil, w.fail("duplicate_key")
		}
		w.skipSpace()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return nil, w.fail("syntax")
		}
		w.i++
		w.skipSpace()
		v, err := w.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
		if done, err := w.next('}'); err != nil {
			return nil, err
		} else if done {
			return m, nil
		}
	}
}

func (w *walker) array() (any, error) {
	if err := w.push(frame{array: true}); err != nil {
		return nil, err
	}
	w.i++ // [
	a := []any{}
	w.skipSpace()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		w.stack = w.stack[:len(w.stack)-1]
		return a, nil
	}
	for {
		top := &w.stack[len(w.stack)-1]
		top.index = len(a)
		if len(a) >= w.lim.MaxArray {
			return nil, w.fail("array_length")
		}
		v, err := w.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if done, err := w.next(']'); err != nil {
			return nil, err
		} else if done {
			return a, nil
		}
	}
}

// next reads what follows a member or element: a comma (done false) or the
// container's closing byte (done true, the frame popped).
func (w *walker) next(closing byte) (done bool, err error) {
	w.skipSpace()
	if w.i >= len(w.b) {
		return false, w.fail("syntax")
	}
	switch w.b[w.i] {
	case ',':
		w.i++
		w.skipSpace()
		return false, nil
	case closing:
		w.i++
		w.stack = w.stack[:len(w.stack)-1]
		return true, nil
	}
	return false, w.fail("syntax")
}

// str reads a string starting at the opening quote.
func (w *walker) str() (any, error) {
	start := w.i + 1
	j := start
	escaped := false
	for {
		if j >= len(w.b) {
			w.i = j
			return nil, w.fail("syntax")
		}
		c := w.b[j]
		if c == '"' {
			break
		}
		if c < 0x20 {
			w.i = j
			return nil, w.fail("syntax")
		}
		if c == '\\' {
			escaped = true
			j++
		}
		j++
	}
	if j-start > w.lim.MaxString {
		return nil, w.fail("string_length")
	}
	raw := w.b[start:j]
	w.i = j + 1
	if !escaped {
		if !utf8.Valid(raw) {
			return nil, w.fail("syntax")
		}
		return w.s[start:j], nil
	}
	s, ok := unescape(raw)
	if !ok {
		return nil, w.fail("syntax")
	}
	return s, nil
}

// unescape decodes the body of a JSON string with escapes. It refuses
// invalid escapes, invalid UTF-8 and lone surrogates.
func unescape(raw []byte) (string, bool) {
	var sb strings.Builder
	sb.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", false
			}
			sb.Write(raw[i : i+size])
			i += size
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			sb.WriteByte(raw[i+1])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return "", false
				}
				r2, ok := hex4(raw[i+2:])
				if !ok {
					return "", false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false
				}
				i += 6
			}
			sb.WriteRune(r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return sb.String(), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number reads an RFC 8259 number and returns it as json.Number.
func (w *walker) number() (any, error) {
	start := w.i
	b := w.b
	i := w.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		w.i = i
		return nil, w.fail("syntax")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			w.i = i
			return nil, w.fail("syntax")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			w.i = i
			return nil, w.fail("syntax")
		}
	}
	if i-start > w.lim.MaxString {
		return nil, w.fail("string_length")
	}
	w.i = i
	return json.Number(w.s[start:i]), nil
}

// IsNumber reports whether s is exactly one RFC 8259 number.
func IsNumber(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	w := walker{b: []byte(s), s: s, lim: DefaultLimits}
	_, err := w.number()
	return err == nil && w.i == len(s)
}
