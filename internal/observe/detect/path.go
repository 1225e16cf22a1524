package detect

import (
	"hash/maphash"
	"strconv"
	"strings"
)

// Bounds of the undocumented path shapes: longer paths are cut, more
// segments are folded into the last one.
const (
	maxShapePath     = 1024
	maxShapeSegments = 32
)

// pathShape is an undocumented path generalised into a template: numeric
// segments become {n}, UUIDs {uuid}, long hexadecimal ids {hex}.
type pathShape struct {
	// template is the generalised path, such as /a/{n}/b.
	template string
	// vars is the number of variable segments; values the hash of their
	// values, in order.
	vars   int
	values uint64
	// last is the value of the last numeric segment, when numeric.
	last    int64
	numeric bool
}

// shape generalises path. It only reads path.
func shape(seed maphash.Seed, path string) pathShape {
	if len(path) > maxShapePath {
		path = path[:maxShapePath]
	}
	var (
		out pathShape
		b   strings.Builder
		h   maphash.Hash
	)
	h.SetSeed(seed)
	b.Grow(len(path))
	rest := path
	for n := 0; rest != ""; n++ {
		var seg string
		if rest[0] == '/' {
			b.WriteByte('/')
			rest = rest[1:]
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 && n < maxShapeSegments-1 {
			seg, rest = rest[:i], rest[i:]
		} else {
			seg, rest = rest, ""
		}
		kind := segmentKind(seg)
		if kind == "" {
			b.WriteString(seg)
			continue
		}
		b.WriteString(kind)
		out.vars++
		h.WriteString(seg)
		h.WriteByte(0)
		if kind == "{n}" {
			if v, err := strconv.ParseInt(seg, 10, 64); err == nil {
				out.last, out.numeric = v, true
			}
		}
	}
	out.template = b.String()
	if out.vars > 0 {
		out.values = h.Sum64()
	}
	return out
}

// segmentKind is the placeholder of a variable path segment, or "".
func segmentKind(seg string) string {
	switch {
	case seg == "":
		return ""
	case len(seg) <= 19 && allDigits(seg):
		return "{n}"
	case isUUID(seg):
		return "{uuid}"
	case len(seg) >= 16 && len(seg) <= 128 && allHex(seg):
		return "{hex}"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isUUID reports whether s is 8-4-4-4-12 hexadecimal digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
