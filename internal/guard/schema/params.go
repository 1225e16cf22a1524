package schema

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/jsonwalk"
)

// errStyle is a parameter value that does not follow its declared style.
var errStyle = errors.New("value does not follow the parameter's style")

// parsePath decodes a path parameter value (already percent-decoded by the
// router) for the styles simple, label and matrix.
func parsePath(p *param, raw string) (any, error) {
	switch p.style {
	case "label":
		rest, ok := strings.CutPrefix(raw, ".")
		if !ok {
			return nil, errStyle
		}
		sep := ","
		if p.explode {
			sep = "."
		}
		return shape(p, splitNonEmpty(rest, sep), sep == "." && p.typ == "object")
	case "matrix":
		prefix := ";" + p.name
		rest, ok := strings.CutPrefix(raw, prefix)
		if !ok {
			if p.typ == "object" && p.explode && strings.HasPrefix(raw, ";") {
				return shape(p, splitNonEmpty(raw[1:], ";"), true)
			}
			return nil, errStyle
		}
		if rest == "" {
			return shape(p, nil, false)
		}
		rest, ok = strings.CutPrefix(rest, "=")
		if !ok {
			return nil, errStyle
		}
		if p.explode && p.typ == "array" {
			parts := strings.Split(rest, prefix+"=")
			for i, s := range parts {
				parts[i] = strings.TrimSuffix(s, ";")
			}
			return shape(p, parts, false)
		}
		return shape(p, splitNonEmpty(rest, ","), false)
	default: // simple
		return shape(p, splitNonEmpty(raw, ","), p.explode && p.typ == "object")
	}
}

// parseHeader decodes a header parameter (style simple).
func parseHeader(p *param, raw string) (any, error) {
	parts := splitNonEmpty(raw, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return shape(p, parts, p.explode && p.typ == "object")
}

// parseQuery decodes a query parameter from the parsed query for the
// styles form, spaceDelimited, pipeDelimited and deepObject. present is
// false when the request does not carry the parameter.
func parseQuery(p *param, q map[string][]string) (v any, present bool, err error) {
	switch {
	case p.typ == "object" && p.style == "deepObject":
		obj := map[string]any{}
		prefix := p.name + "["
		for k, vals := range q {
			inner, ok := strings.CutPrefix(k, prefix)
			if !ok {
				continue
			}
			inner, ok = strings.CutSuffix(inner, "]")
			if !ok || inner == "" || strings.ContainsAny(inner, "[]") {
				return nil, true, errStyle
			}
			if len(vals) != 1 {
				return nil, true, errDuplicate
			}
			obj[inner] = coerce(p.props[inner], vals[0])
		}
		return obj, len(obj) > 0, nil
	case p.typ == "object" && p.explode:
		obj := map[string]any{}
		for name, typ := range p.props {
			if vals, ok := q[name]; ok {
				if len(vals) != 1 {
					return nil, true, errDuplicate
				}
				obj[name] = coerce(typ, vals[0])
			}
		}
		return obj, len(obj) > 0, nil
	}
	vals, ok := q[p.name]
	if !ok {
		return nil, false, nil
	}
	if p.typ == "array" && p.explode && p.style == "form" {
		out := make([]any, len(vals))
		for i, s := range vals {
			out[i] = coerce(p.itemType, s)
		}
		return out, true, nil
	}
	if len(vals) != 1 {
		return nil, true, errDuplicate
	}
	sep := ","
	switch p.style {
	case "spaceDelimited":
		sep = " "
	case "pipeDelimited":
		sep = "|"
	}
	v, err = shape(p, splitNonEmpty(vals[0], sep), false)
	return v, true, err
}

// errDuplicate is a parameter given more times than its schema allows
// (HTTP parameter pollution).
var errDuplicate = errors.New("parameter given more than once")

// shape turns the parts of a serialized value into the parameter's type:
// one primitive, an array, or an object (from k,v,k,v or, when kv, from
// k=v items).
func shape(p *param, parts []string, kv bool) (any, error) {
	switch p.typ {
	case "array":
		out := make([]any, len(parts))
		for i, s := range parts {
			out[i] = coerce(p.itemType, s)
		}
		return out, nil
	case "object":
		obj := make(map[string]any, len(parts)/2)
		if kv {
			for _, s := range parts {
				k, v, ok := strings.Cut(s, "=")
				if !ok {
					return nil, errStyle
				}
				obj[k] = coerce(p.props[k], v)
			}
			return obj, nil
		}
		if len(parts)%2 != 0 {
			return nil, errStyle
		}
		for i := 0; i+1 < len(parts); i += 2 {
			obj[parts[i]] = coerce(p.props[parts[i]], parts[i+1])
		}
		return obj, nil
	}
	return coerce(p.typ, strings.Join(parts, ",")), nil
}

// splitNonEmpty splits s by sep; an empty s gives no parts.
func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// coerce converts a string to the JSON type a schema expects, when it is a
// valid literal of that type; otherwise it stays a string and validation
// reports the type mismatch.
func coerce(typ, s string) any {
	switch typ {
	case "integer", "number":
		if isJSONNumber(s) {
			return json.Number(s)
		}
	case "boolean":
		if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
			return b
		}
	case "null":
		if s == "" {
			return nil
		}
	}
	return s
}

// isJSONNumber reports whether s is an RFC 8259 number.
func isJSONNumber(s string) bool { return jsonwalk.IsNumber(s) }
