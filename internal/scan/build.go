package scan

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ErrNoObject is returned by Build when a path parameter or body
// reference could not be filled with an object the identity owns.
var ErrNoObject = errors.New("no object of the identity for a parameter")

// Build returns a valid request for op as id: path parameters and body
// references (properties like from_account_id) take objects id owns, as
// learned from its list and create answers; required query and header
// parameters and the JSON body come from the schemas (const, example,
// default, enum, format, bounds). Destination-like references (to_…,
// target_…, recipient_…) prefer another identity's object.
//
// The request is always returned; the error wraps ErrNoObject when some
// path parameter or required reference had no owned object and was
// filled from its schema instead (which may name someone else's object).
func (s *Session) Build(op *Operation, id *Identity) (*Request, error) {
	req := &Request{Op: op, Method: op.Method, PathParams: map[string]string{}, Query: url.Values{}, Header: http.Header{}}
	var missing []string
	for _, p := range op.Params {
		switch p.In {
		case "path":
			res := ParamResource(p.Name, op.Path)
			if v := s.ownedValue(id, res, 0); v != "" {
				req.PathParams[p.Name] = v
				continue
			}
			missing = append(missing, p.Name)
			req.PathParams[p.Name] = ScalarString(s.paramSample(p))
		case "query":
			if p.Required {
				req.Query.Set(p.Name, ScalarString(s.paramSample(p)))
			}
		case "header":
			if p.Required && !strings.EqualFold(p.Name, "Authorization") {
				req.Header.Set(p.Name, ScalarString(s.paramSample(p)))
			}
		}
	}
	if op.Body != nil {
		body, miss := s.bodySample(op.Body, id)
		req.JSON = body
		missing = append(missing, miss...)
		if op.BodyMedia != "" && !strings.EqualFold(op.BodyMedia, "application/json") && strings.Contains(op.BodyMedia, "json") {
			req.ContentType = op.BodyMedia
		}
	}
	if len(missing) > 0 {
		return req, fmt.Errorf("%s as %s: %s: %w", op.ID, id.Name, strings.Join(missing, ", "), ErrNoObject)
	}
	return req, nil
}

// ownedValue returns id's i-th object of resource, the subject for
// user-like resources, or "".
func (s *Session) ownedValue(id *Identity, res string, i int) string {
	if id == nil || res == "" {
		return ""
	}
	if vs := s.Owned(id, res); len(vs) > i {
		return vs[i]
	}
	if id.Subject != "" && i == 0 {
		for _, r := range subjectResources {
			if r == res {
				return id.Subject
			}
		}
	}
	return ""
}

// otherValue returns an object of resource owned by an identity other
// than id, or "".
func (s *Session) otherValue(id *Identity, res string) string {
	for _, o := range s.Identities() {
		if o == id {
			continue
		}
		if v := s.ownedValue(o, res, 0); v != "" {
			return v
		}
	}
	return ""
}

func (s *Session) paramSample(p *Param) any {
	if p.HasExample {
		return p.Example
	}
	return Sample(p.Schema, p.Name)
}

// bodySample builds a JSON body for schema as id; it returns the names of
// required references it could not fill with owned objects.
func (s *Session) bodySample(sc *Schema, id *Identity) (any, []string) {
	if sc == nil || sc.Type != "object" && len(sc.Properties) == 0 {
		return Sample(sc, ""), nil
	}
	obj := map[string]any{}
	var missing []string
	props := append([]string(nil), sc.Required...)
	if len(props) == 0 {
		// nothing required: the first writable property (PATCH bodies
		// often need at least one)
		for _, name := range sc.Order {
			if p := sc.Properties[name]; p != nil && !p.ReadOnly {
				props = append(props, name)
				break
			}
		}
	}
	for _, name := range props {
		p := sc.Properties[name]
		if p != nil && p.ReadOnly {
			continue
		}
		if res, qual := RefResource(name); res != "" && (p == nil || p.Type == "integer" || p.Type == "string" || p.Type == "") {
			v := ""
			if destination(qual) {
				v = s.otherValue(id, res)
			}
			if v == "" {
				v = s.ownedValue(id, res, 0)
			}
			if v != "" {
				obj[name] = typed(v, p)
				continue
			}
			missing = append(missing, name)
		}
		obj[name] = Sample(p, name)
	}
	return obj, missing
}

// destination reports whether the qualifier words of a reference name
// the receiving side of a movement (to_account_id, recipientId, …).
func destination(qual []string) bool {
	for _, w := range qual {
		switch w {
		case "to", "dest", "destination", "target", "recipient", "payee", "beneficiary", "receiver", "counterparty":
			return true
		}
	}
	return false
}

// Source reports whether the qualifier words of a reference name the
// paying or originating side (from_account_id, sourceId, …).
func Source(qual []string) bool {
	for _, w := range qual {
		switch w {
		case "from", "source", "src", "origin", "debit", "payer", "sender", "owner":
			return true
		}
	}
	return false
}

// typed turns an id text into the schema's JSON type.
func typed(v string, sc *Schema) any {
	if sc != nil && (sc.Type == "integer" || sc.Type == "number") {
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			return f
		}
	}
	return v
}

// Sample returns a value valid for schema, for a property or parameter
// called name: const, example, default, first enum value, else built from
// the type, format, bounds and name.
func Sample(sc *Schema, name string) any {
	return sample(sc, name, 0)
}

func sample(sc *Schema, name string, depth int) any {
	if sc == nil {
		return "apiguard-scan"
	}
	switch {
	case sc.HasConst:
		return sc.Const
	case sc.HasExample:
		return sc.Example
	case sc.HasDefault:
		return sc.Default
	case len(sc.Enum) > 0:
		return sc.Enum[0]
	}
	switch sc.Type {
	case "integer", "number":
		v := 1.0
		if sc.Minimum != nil {
			v = *sc.Minimum
			if sc.ExclusiveMinimum {
				if sc.Type == "integer" {
					v++
				} else {
					v += 0.01
				}
			}
		}
		if sc.Maximum != nil && v > *sc.Maximum {
			v = *sc.Maximum
		}
		if sc.Type == "integer" {
			v = math.Ceil(v)
		}
		return v
	case "boolean":
		return false
	case "array":
		n := 1
		if sc.MinItems != nil && *sc.MinItems > n {
			n = *sc.MinItems
		}
		if n > 10 {
			n = 10
		}
		out := make([]any, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, sample(sc.Items, Singular(strings.ToLower(name)), depth+1))
		}
		return out
	case "object":
		obj := map[string]any{}
		if depth > 8 {
			return obj
		}
		for _, p := range sc.Required {
			if ps := sc.Properties[p]; ps == nil || !ps.ReadOnly {
				obj[p] = sample(sc.Properties[p], p, depth+1)
			}
		}
		return obj
	}
	if sc.Type == "" && len(sc.Properties) > 0 {
		return sample(&Schema{Type: "object", Properties: sc.Properties, Required: sc.Required}, name, depth)
	}
	return sampleString(sc, name)
}

func sampleString(sc *Schema, name string) string {
	var cands []string
	switch strings.ToLower(sc.Format) {
	case "email", "idn-email":
		cands = append(cands, "apiguard-scan@example.com")
	case "uri", "url", "iri", "uri-reference":
		cands = append(cands, "https://example.com/apiguard-scan")
	case "hostname", "idn-hostname":
		cands = append(cands, "example.com")
	case "date-time":
		cands = append(cands, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339))
	case "date":
		cands = append(cands, "2024-01-02")
	case "time":
		cands = append(cands, "03:04:05Z")
	case "uuid":
		cands = append(cands, "3b241101-e2bb-4255-8caf-4136c566a962")
	case "ipv4":
		cands = append(cands, "192.0.2.10")
	case "ipv6":
		cands = append(cands, "2001:db8::10")
	case "byte":
		cands = append(cands, "YXBpZ3VhcmQ=")
	case "password":
		cands = append(cands, "Apiguard-scan-1")
	}
	lname := strings.ToLower(name)
	switch {
	case strings.Contains(lname, "email") || strings.Contains(lname, "mail"):
		cands = append(cands, "apiguard-scan@example.com")
	case strings.Contains(lname, "phone") || strings.Contains(lname, "mobile"):
		cands = append(cands, "+15555550100")
	case strings.Contains(lname, "url") || strings.Contains(lname, "uri") || strings.Contains(lname, "link") || strings.Contains(lname, "callback") || strings.Contains(lname, "webhook"):
		cands = append(cands, "https://example.com/apiguard-scan")
	case strings.Contains(lname, "currency"):
		cands = append(cands, "EUR")
	case strings.Contains(lname, "country"):
		cands = append(cands, "DE")
	case strings.Contains(lname, "iban"):
		cands = append(cands, "DE89370400440532013000")
	case strings.Contains(lname, "name"):
		cands = append(cands, "apiguard scan")
	}
	cands = append(cands, "apiguard-scan", "apiguard", "scan", "a", "A", "0", "1", "a1", "AB12")
	var re *regexp.Regexp
	if sc.Pattern != "" {
		re, _ = regexp.Compile(sc.Pattern)
	}
	for _, c := range cands {
		c = fitLength(c, sc)
		if re == nil || re.MatchString(c) {
			return c
		}
	}
	return fitLength(cands[0], sc)
}

func fitLength(v string, sc *Schema) string {
	if sc.MinLength != nil && len(v) < *sc.MinLength {
		v += strings.Repeat("x", *sc.MinLength-len(v))
	}
	if sc.MaxLength != nil && *sc.MaxLength >= 0 && len(v) > *sc.MaxLength {
		v = v[:*sc.MaxLength]
	}
	return v
}

// cloneJSON deep-copies a decoded JSON value.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneJSON(e)
		}
		return out
	}
	return v
}
