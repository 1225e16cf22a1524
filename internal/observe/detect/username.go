package detect

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
)

// Bounds of the login bodies read for a username: a login body is small;
// anything bigger is not read at all.
const (
	maxLoginBody    = 8 << 10
	maxUsernameLen  = 256
	maxPointerDepth = 8
)

// usernameOf returns the username a login request body names: the first
// of fields (member names, or JSON pointers such as /user/email) holding a
// string, trimmed and lower-cased, at most 256 bytes; "" when none does.
// Bodies are JSON or form-encoded. Nothing else is read from the body (it
// holds the password) and nothing is kept.
func usernameOf(contentType string, body []byte, fields []string) string {
	if len(body) == 0 || len(body) > maxLoginBody {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return ""
		}
		for _, f := range fields {
			if i := strings.LastIndexByte(f, '/'); i >= 0 {
				f = unescapePointer(f[i+1:])
			}
			if v := q.Get(f); v != "" {
				return normalizeUsername(v)
			}
		}
		return ""
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || (mt == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))):
		var root map[string]json.RawMessage
		if json.Unmarshal(body, &root) != nil {
			return ""
		}
		for _, f := range fields {
			if v := jsonString(root, f); v != "" {
				return normalizeUsername(v)
			}
		}
	}
	return ""
}

// jsonString returns the string at field (a member name or a JSON
// pointer) of a decoded object, or "".
func jsonString(root map[string]json.RawMessage, field string) string {
	if !strings.HasPrefix(field, "/") {
		return rawString(root[field])
	}
	parts := strings.Split(field[1:], "/")
	if len(parts) > maxPointerDepth {
		return ""
	}
	obj := root
	for i, p := range parts {
		raw, ok := obj[unescapePointer(p)]
		if !ok {
			return ""
		}
		if i == len(parts)-1 {
			return rawString(raw)
		}
		obj = nil
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return ""
		}
	}
	return ""
}

// rawString decodes a JSON string, or returns "".
func rawString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// unescapePointer decodes a JSON pointer token (~1 is /, ~0 is ~).
func unescapePointer(p string) string {
	if !strings.Contains(p, "~") {
		return p
	}
	return strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
}

// normalizeUsername trims and lower-cases a username and bounds it.
func normalizeUsername(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) > maxUsernameLen {
		v = v[:maxUsernameLen]
	}
	return v
}
