package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// partKind is one component of a rate-limit key.
type partKind uint8

const (
	partIP partKind = iota + 1
	partAPIKey
	partPrincipal
	partClaim
	partHeader
	partOperation
	partGlobal
)

// keyPart is one parsed component of a key expression.
type keyPart struct {
	kind partKind
	name string // claim name or canonical header name
}

// needsAuth reports whether the part is only known after authentication.
func (p keyPart) needsAuth() bool {
	return p.kind == partAPIKey || p.kind == partPrincipal || p.kind == partClaim
}

// KeyExpr is a parsed key expression such as "principal+operation".
type KeyExpr []keyPart

// maxKeyParts bounds a composed key.
const maxKeyParts = 4

// ParseKey parses a key expression: parts joined by "+", each one of ip,
// apikey, principal, operation, global, claim:NAME or header:NAME.
func ParseKey(s string) (KeyExpr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("key: must not be empty (ip, apikey, principal, claim:NAME, header:NAME, operation, global, joined by +)")
	}
	raw := strings.Split(s, "+")
	if len(raw) > maxKeyParts {
		return nil, fmt.Errorf("key %q: at most %d parts", truncate(s), maxKeyParts)
	}
	var out KeyExpr
	seen := map[keyPart]bool{}
	for _, r := range raw {
		r = strings.TrimSpace(r)
		kind, name, hasName := strings.Cut(r, ":")
		var p keyPart
		switch kind {
		case "ip":
			p.kind = partIP
		case "apikey":
			p.kind = partAPIKey
		case "principal":
			p.kind = partPrincipal
		case "operation":
			p.kind = partOperation
		case "global":
			p.kind = partGlobal
		case "claim":
			if name == "" || len(name) > 64 || !isToken(name) {
				return nil, fmt.Errorf("key %q: claim needs a name (claim:tenant)", truncate(s))
			}
			p = keyPart{kind: partClaim, name: name}
		case "header":
			if name == "" || len(name) > 64 || !isToken(name) {
				return nil, fmt.Errorf("key %q: header needs a name (header:X-Client-Id)", truncate(s))
			}
			p = keyPart{kind: partHeader, name: http.CanonicalHeaderKey(name)}
		default:
			return nil, fmt.Errorf("key %q: unknown part %q (ip, apikey, principal, claim:NAME, header:NAME, operation, global)", truncate(s), truncate(kind))
		}
		if hasName && p.kind != partClaim && p.kind != partHeader {
			return nil, fmt.Errorf("key %q: %s takes no name", truncate(s), kind)
		}
		if seen[p] {
			return nil, fmt.Errorf("key %q: %s appears twice", truncate(s), r)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// NeedsAuth reports whether any part is only known after authentication.
func (k KeyExpr) NeedsAuth() bool {
	for _, p := range k {
		if p.needsAuth() {
			return true
		}
	}
	return false
}

// String writes the expression in the syntax ParseKey reads.
func (k KeyExpr) String() string {
	var b strings.Builder
	for i, p := range k {
		if i > 0 {
			b.WriteByte('+')
		}
		switch p.kind {
		case partIP:
			b.WriteString("ip")
		case partAPIKey:
			b.WriteString("apikey")
		case partPrincipal:
			b.WriteString("principal")
		case partOperation:
			b.WriteString("operation")
		case partGlobal:
			b.WriteString("global")
		case partClaim:
			b.WriteString("claim:" + p.name)
		case partHeader:
			b.WriteString("header:" + p.name)
		}
	}
	return b.String()
}

// Append appends the key's identity bytes for x to dst. Every part is
// prefixed by its kind and length, so no two different inputs compose to
// the same bytes. ok is false when a part that needs authentication is
// missing (anonymous request): the rule does not apply.
func (k KeyExpr) Append(dst []byte, x *pipeline.Exchange) (out []byte, ok bool) {
	for _, p := range k {
		start := len(dst)
		dst = append(dst, byte(p.kind), 0, 0)
		switch p.kind {
		case partIP:
			a := x.ClientIP.As16()
			dst = append(dst, a[:]...)
		case partAPIKey:
			if x.Principal == nil || x.Principal.Method != "apikey" || x.Principal.ClientID == "" {
				return dst, false
			}
			dst = append(dst, x.Principal.ClientID...)
		case partPrincipal:
			if x.Principal == nil || x.Principal.Subject == "" {
				return dst, false
			}
			dst = append(dst, x.Principal.Tenant...)
			dst = append(dst, 0)
			dst = append(dst, x.Principal.Subject...)
		case partClaim:
			if x.Principal == nil {
				return dst, false
			}
			var good bool
			dst, good = appendClaim(dst, x.Principal.Claims[p.name])
			if !good {
				return dst, false
			}
		case partHeader:
			if x.Request != nil {
				if v := x.Request.Header[p.name]; len(v) > 0 {
					dst = append(dst, v[0]...)
				}
			}
		case partOperation:
			if x.Operation != nil {
				dst = append(dst, x.Operation.ID...)
			}
		case partGlobal:
		}
		n := len(dst) - start - 3
		if n > 0xffff { // a part longer than 64 KiB cannot come from a bounded request
			n = 0xffff
		}
		dst[start+1], dst[start+2] = byte(n>>8), byte(n)
	}
	return dst, true
}

// appendClaim writes a scalar claim value; objects and arrays are not keys.
func appendClaim(dst []byte, v any) ([]byte, bool) {
	switch c := v.(type) {
	case string:
		return append(dst, c...), c != ""
	case json.Number:
		return append(dst, c...), true
	case float64:
		return strconv.AppendFloat(dst, c, 'g', -1, 64), true
	case int64:
		return strconv.AppendInt(dst, c, 10), true
	case int:
		return strconv.AppendInt(dst, int64(c), 10), true
	case bool:
		return strconv.AppendBool(dst, c), true
	}
	return dst, false
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
