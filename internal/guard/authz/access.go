package authz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// accessTemplate is one require_access path: literal text and
// placeholders, each a source (body, path, query, principal) and keys.
type accessTemplate struct {
	raw   string
	parts []accessPart
}

type accessPart struct {
	lit    string
	source string   // "" for a literal part
	keys   []string // body keys, or the one path/query/principal name
}

var accessSources = map[string]bool{"body": true, "path": true, "query": true, "principal": true}

// parseAccessTemplate compiles a require_access path.
func parseAccessTemplate(s string) (*accessTemplate, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("%q: must be a path starting with /", s)
	}
	t := &accessTemplate{raw: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, accessPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, accessPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unclosed {", s)
		}
		expr := rest[i+1 : i+j]
		src, keyPath, ok := strings.Cut(expr, ".")
		if !ok || !accessSources[src] || keyPath == "" {
			return nil, fmt.Errorf("%q: placeholder {%s} must be body.<keys>, path.<name>, query.<name> or principal.<sub|tenant|client_id>", s, expr)
		}
		keys := strings.Split(keyPath, ".")
		if src != "body" && len(keys) != 1 {
			return nil, fmt.Errorf("%q: placeholder {%s} takes one name", s, expr)
		}
		if src == "principal" && keys[0] != "sub" && keys[0] != "tenant" && keys[0] != "client_id" {
			return nil, fmt.Errorf("%q: placeholder {%s}: principal has sub, tenant and client_id", s, expr)
		}
		t.parts = append(t.parts, accessPart{source: src, keys: keys})
		rest = rest[i+j+1:]
	}
	return t, nil
}

// expand fills the placeholders from the exchange; ok is false when one
// has no scalar value. Values are path-escaped, so a value cannot change
// the path's shape ("../admin" stays one segment).
func (t *accessTemplate) expand(x *pipeline.Exchange, body any) (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.source == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := placeholderValue(p, x, body)
		if !ok || v == "" {
			return "", false
		}
		b.WriteString(url.PathEscape(v))
	}
	return b.String(), true
}

func placeholderValue(p accessPart, x *pipeline.Exchange, body any) (string, bool) {
	switch p.source {
	case "path":
		for _, pp := range x.PathParams {
			if pp.Name == p.keys[0] {
				return pp.Value, true
			}
		}
		return "", false
	case "query":
		q := x.Request.URL.Query()
		if len(q[p.keys[0]]) != 1 {
			return "", false // absent or repeated: ambiguous
		}
		return q.Get(p.keys[0]), true
	case "principal":
		if x.Principal == nil {
			return "", false
		}
		switch p.keys[0] {
		case "sub":
			return x.Principal.Subject, true
		case "tenant":
			return x.Principal.Tenant, true
		default:
			return x.Principal.ClientID, true
		}
	}
	cur := body
	for _, k := range p.keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[k]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// checkAccess fetches every referenced object as the caller. A guard
// failure (no subrequest support) is an error: the failure mode applies.
func checkAccess(x *pipeline.Exchange, tmpls []*accessTemplate, svc *pipeline.Services, cache *accessCache) (pipeline.Verdict, error) {
	if svc == nil || svc.Subrequest == nil {
		return pipeline.Verdict{}, fmt.Errorf("require_access needs the gateway's subrequests")
	}
	var body any
	for _, t := range tmpls {
		if body == nil {
			for _, p := range t.parts {
				if p.source == "body" {
					b, err := x.JSON()
					if err != nil {
						return bodyVerdict(err, "API1"), nil
					}
					body = b
					break
				}
			}
		}
		path, ok := t.expand(x, body)
		if !ok {
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.referenced_object_denied", Category: "API1",
				Title: "The request refers to an object the caller may not use.", Detail: "cannot resolve " + t.raw}, nil
		}
		var key string
		status, cached := 0, false
		if cache != nil {
			key = cache.key(x, path)
			status, cached = cache.get(key, svc.Now())
		}
		if !cached {
			var err error
			status, err = svc.Subrequest(x.Request, path)
			if err != nil {
				return pipeline.Verdict{}, fmt.Errorf("require_access %s: %w", path, err)
			}
			if cache != nil {
				cache.put(key, status, svc.Now())
			}
		}
		if status < 200 || status > 299 {
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.referenced_object_denied", Category: "API1",
				Title:  "The request refers to an object the caller may not use.",
				Detail: fmt.Sprintf("GET %s as the caller answered %d", path, status)}, nil
		}
	}
	return pipeline.Verdict{}, nil
}
