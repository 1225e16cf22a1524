package dlp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// action is what happens to a finding.
type action uint8

const (
	actOff action = iota
	actDetect
	actMask
	actBlock
	actAllow // field rules only: the value is not scanned
)

var actionNames = [...]string{"off", "detect", "mask", "block", "allow"}

func (a action) String() string { return actionNames[a] }

func parseAction(s string, field bool) (action, bool) {
	for i, n := range actionNames {
		a := action(i)
		if n == s && (a != actAllow || field) && (a != actOff || !field) {
			return a, true
		}
	}
	return actOff, false
}

// pointerRule is a field rule written as a JSON pointer; "*" matches any
// key or index.
type pointerRule struct {
	segs []string
	act  action
}

// ruleset is the compiled field rules that apply to one operation.
type ruleset struct {
	names    map[string]action
	pointers []pointerRule
	skip     bool
}

func (rs *ruleset) empty() bool { return len(rs.names) == 0 && len(rs.pointers) == 0 }

// finding is one reported finding.
type finding struct {
	kind Kind
	act  action
	ptr  string
}

// maxReported bounds the findings listed in an event.
const maxReported = 8

// maxDepth bounds JSON nesting; deeper answers are scanned as text.
const maxDepth = 256

// result is what a scan found.
type result struct {
	out      []byte // the masked answer, or nil when nothing was masked
	total    int
	worst    action
	worstK   Kind
	findings []finding
}

func (r *result) add(k Kind, a action, w *walker) {
	r.total++
	if a > r.worst {
		r.worst, r.worstK = a, k
	}
	if len(r.findings) < maxReported {
		p := ""
		if w != nil {
			p = w.pointer()
		}
		r.findings = append(r.findings, finding{k, a, p})
	}
}

// edit is one change to the answer: an in-place mask of a span (repl nil)
// or the replacement of a whole token.
type edit struct {
	start, end int
	kind       Kind
	repl       []byte
}

type frame struct {
	array     bool
	expectKey bool
	keyEsc    bool
	key       []byte
	idx       int
	act       action // field action inherited from the container's key
	h         hint
}

// walker scans one answer. Walkers are pooled.
type walker struct {
	enabled uint32
	acts    *[numKinds]action
	rs      *ruleset
	body    []byte
	frames  []frame
	spans   []span
	edits   []edit
	scratch []byte
	res     result
}

var errNotJSON = errors.New("not JSON")

func (w *walker) reset() {
	w.body, w.rs, w.acts = nil, nil, nil
	w.frames, w.spans, w.edits, w.scratch = w.frames[:0], w.spans[:0], w.edits[:0], w.scratch[:0]
	w.res = result{findings: w.res.findings[:0]}
}

// scanText scans the whole body as text.
func (w *walker) scanText() {
	w.spans = scan(w.spans[:0], w.body, w.enabled, 0)
	for _, sp := range w.spans {
		a := w.acts[sp.kind]
		w.res.add(sp.kind, a, nil)
		if a >= actMask {
			w.edits = append(w.edits, edit{start: sp.start, end: sp.end, kind: sp.kind})
		}
	}
}

// scanJSON walks the body as JSON, scanning every string and long number.
// It returns errNotJSON for bodies that are not JSON (the caller then
// scans them as text).
func (w *walker) scanJSON() error {
	s := w.body
	n := len(s)
	i := 0
	for i < n {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r', ':':
			i++
		case ',':
			if len(w.frames) == 0 {
				return errNotJSON
			}
			top := &w.frames[len(w.frames)-1]
			if top.array {
				top.idx++
			} else {
				top.expectKey = true
			}
			i++
		case '{', '[':
			if len(w.frames) >= maxDepth {
				return errNotJSON
			}
			act := w.fieldAction()
			w.frames = append(w.frames, frame{array: c == '[', expectKey: c == '{', act: act})
			i++
		case '}', ']':
			if len(w.frames) == 0 || w.frames[len(w.frames)-1].array != (c == ']') {
				return errNotJSON
			}
			w.frames = w.frames[:len(w.frames)-1]
			i++
		case '"':
			end, esc := stringEnd(s, i)
			if end < 0 {
				return errNotJSON
			}
			if k := len(w.frames); k > 0 && w.frames[k-1].expectKey {
				top := &w.frames[k-1]
				top.key, top.keyEsc, top.expectKey = s[i+1:end-1], esc, false
				if esc {
					top.h = keyHint(decodeString(nil, top.key))
				} else {
					top.h = keyHint(top.key)
				}
			} else {
				w.value(i, end, esc, false)
			}
			i = end
		default:
			j := i
			for j < n && !isDelim(s[j]) {
				j++
			}
			if j == i {
				return errNotJSON
			}
			if c == '-' || isDigit(c) {
				w.value(i, j, false, true)
			} else if lit := string(s[i:j]); lit != "true" && lit != "false" && lit != "null" {
				return errNotJSON
			}
			i = j
		}
	}
	if len(w.frames) != 0 {
		return errNotJSON
	}
	return nil
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == '"' || c == '{' || c == '['
}

// stringEnd returns the index after the closing quote of the string that
// starts at s[i], and whether it has escapes; -1 when unterminated.
func stringEnd(s []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(s[j:], '"')
		if k < 0 {
			return -1, false
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && s[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1, bytes.IndexByte(s[i+1:q], '\\') >= 0
		}
		j = q + 1
	}
}

// keyHint derives detector hints from a property name.
func keyHint(k []byte) hint {
	var h hint
	for i := 0; i+3 <= len(k); i++ {
		if lower(k[i]) != 's' {
			continue
		}
		rest := k[i+1:]
		switch {
		case hasPrefixFold(rest, "sn"), hasPrefixFold(rest, "ocial"):
			h |= hintSSN
		case hasPrefixFold(rest, "ecret"):
			h |= hintSecret
		}
	}
	return h
}

func hasPrefixFold(s []byte, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lower(s[i]) != p[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// fieldAction returns the field rule for the value at the current
// position: the value's own property name or pointer, else what its
// container inherited.
func (w *walker) fieldAction() action {
	k := len(w.frames)
	if k == 0 {
		return actOff
	}
	top := &w.frames[k-1]
	if w.rs != nil && !w.rs.empty() {
		if !top.array && len(w.rs.names) > 0 {
			key := top.key
			if top.keyEsc {
				key = decodeString(nil, key)
			}
			if a, ok := w.rs.names[string(key)]; ok {
				return a
			}
		}
		for _, p := range w.rs.pointers {
			if w.matchPointer(p.segs) {
				return p.act
			}
		}
	}
	return top.act
}

// matchPointer compares the current position with a pointer's segments.
func (w *walker) matchPointer(segs []string) bool {
	if len(segs) != len(w.frames) {
		return false
	}
	for d, seg := range segs {
		if seg == "*" {
			continue
		}
		f := &w.frames[d]
		if f.array {
			if seg != strconv.Itoa(f.idx) {
				return false
			}
			continue
		}
		key := f.key
		if f.keyEsc {
			key = decodeString(nil, key)
		}
		if string(key) != seg {
			return false
		}
	}
	return true
}

// pointer returns the JSON pointer of the current position.
func (w *walker) pointer() string {
	var b strings.Builder
	for d := range w.frames {
		f := &w.frames[d]
		b.WriteByte('/')
		if f.array {
			b.WriteString(strconv.Itoa(f.idx))
			continue
		}
		key := f.key
		if f.keyEsc {
			key = decodeString(nil, key)
		}
		for _, c := range key {
			switch c {
			case '~':
				b.WriteString("~0")
			case '/':
				b.WriteString("~1")
			default:
				b.WriteByte(c)
			}
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// value scans one scalar: s[start:end] is a string token (with quotes) or
// a number.
func (w *walker) value(start, end int, esc, num bool) {
	act := w.fieldAction()
	if act == actAllow {
		return
	}
	tok := w.body[start:end]
	if act != actOff {
		w.res.add(KindField, act, w)
		if act == actMask {
			if num || esc {
				n := len(tok)
				if !num {
					n = utf8.RuneCount(decodeString(w.scratch[:0], tok[1:len(tok)-1]))
				}
				w.edits = append(w.edits, edit{start: start, end: end, repl: quotedStars(n)})
			} else {
				w.edits = append(w.edits, edit{start: start + 1, end: end - 1, kind: KindField})
			}
		}
		return
	}
	var h hint
	if k := len(w.frames); k > 0 && !w.frames[k-1].array {
		h = w.frames[k-1].h
	}
	if num {
		if len(tok) < 13 || w.enabled&(1<<KindCard) == 0 {
			return
		}
		w.spans = scan(w.spans[:0], tok, 1<<KindCard, 0)
		if len(w.spans) == 0 {
			return
		}
		a := w.acts[KindCard]
		w.res.add(KindCard, a, w)
		if a >= actMask {
			masked := append([]byte{'"'}, tok...)
			for _, sp := range w.spans {
				maskSpan(masked[1:], sp)
			}
			w.edits = append(w.edits, edit{start: start, end: end, repl: append(masked, '"')})
		}
		return
	}
	content := tok[1 : len(tok)-1]
	if esc {
		w.scratch = decodeString(w.scratch[:0], content)
		content = w.scratch
	}
	w.spans = scan(w.spans[:0], content, w.enabled, h)
	masked := false
	for _, sp := range w.spans {
		a := w.acts[sp.kind]
		w.res.add(sp.kind, a, w)
		if a < actMask {
			continue
		}
		if esc {
			maskSpan(content, sp)
			masked = true
		} else {
			w.edits = append(w.edits, edit{start: start + 1 + sp.start, end: start + 1 + sp.end, kind: sp.kind})
		}
	}
	if masked {
		w.edits = append(w.edits, edit{start: start, end: end, repl: appendQuoted(nil, content)})
	}
}

func quotedStars(n int) []byte {
	b := make([]byte, n+2)
	for i := range b {
		b[i] = maskByte
	}
	b[0], b[n+1] = '"', '"'
	return b
}

// apply builds the masked answer from the edits, or returns nil when
// there are none.
func (w *walker) apply() []byte {
	if len(w.edits) == 0 {
		return nil
	}
	body := w.body
	out := make([]byte, 0, len(body)+64)
	pos := 0
	for _, e := range w.edits {
		if e.repl != nil {
			if e.start < pos { // cannot happen: tokens do not overlap
				continue
			}
			out = append(out, body[pos:e.start]...)
			out = append(out, e.repl...)
			pos = e.end
			continue
		}
		if e.end > pos {
			if e.start > pos {
				out = append(out, body[pos:e.start]...)
				pos = e.start
			}
			out = append(out, body[pos:e.end]...)
			pos = e.end
		}
		delta := len(out) - pos
		maskSpan(out, span{e.start + delta, e.end + delta, e.kind})
	}
	return append(out, body[pos:]...)
}

// decodeString appends the JSON-unescaped form of s (the inside of a
// string token) to dst. Invalid escapes are kept as they are.
func decodeString(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := decodeU(s[i+1:])
			if n == 0 {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += n
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, '\\', s[i])
		}
	}
	return dst
}

// decodeU decodes the hex digits after \u (and a following low surrogate
// escape); n is the number of bytes used.
func decodeU(s []byte) (rune, int) {
	r1, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r1) {
		if len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
			if r2, ok := hex4(s[6:]); ok {
				if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
					return r, 10
				}
			}
		}
		return utf8.RuneError, 4
	}
	return r1, 4
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r*16 + rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r*16 + rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r*16 + rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendQuoted appends s as a JSON string token.
func appendQuoted(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
