package schema

import (
	"fmt"
	"math"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/apiguard/apiguard/internal/openapi"
)

// maxSafeInt is the largest integer a float64 holds exactly (2^53-1).
const maxSafeInt = 1<<53 - 1

// bodyKind is how a media type's body is parsed.
type bodyKind uint8

const (
	kindOther bodyKind = iota // declared, not validated (binary, text, xml)
	kindJSON
	kindForm
	kindMultipart
)

// media is one declared request media type of an operation.
type media struct {
	typ    string // lower case, no parameters; may be "*/*" or "type/*"
	kind   bodyKind
	schema *checker
	types  map[string]string // form fields: property name -> JSON type
}

// param is one compiled parameter.
type param struct {
	name     string
	in       string // path, query, header, cookie
	style    string
	explode  bool
	required bool
	typ      string            // primitive JSON type, "array" or "object"
	itemType string            // for arrays
	props    map[string]string // for objects: property -> type
	schema   *checker
}

// operation is everything the guard checks for one spec operation,
// compiled at load.
type operation struct {
	params       []*param
	queryNames   map[string]bool
	bodyDeclared bool
	bodyRequired bool
	media        []media
	limits       Limits
	responses    map[string]*checker // "200", "2XX", "default" -> JSON body schema (nil: no JSON body)
}

// compiler turns an OpenAPI document into compiled validators.
type compiler struct {
	doc      map[string]any
	strict   bool
	c        *jsonschema.Compiler
	resource string
	base     Limits
	quicks   map[*jsonschema.Schema]*quick // quick forms, shared by the spec's operations
}

// prepare decodes the spec into a JSON Schema resource: OpenAPI 3.0
// keywords rewritten to 2020-12 (nullable, boolean exclusive bounds),
// integer bounds added so that integers a float64 cannot hold exactly are
// refused, and, when strict, unevaluatedProperties: false on objects that
// do not say whether they accept more properties.
func prepare(spec *openapi.Spec, strict bool) (map[string]any, error) {
	var raw any
	if err := spec.Root.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	doc, ok := normalizeYAML(raw).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding spec: top level is not an object")
	}
	f := fixer{is30: strings.HasPrefix(spec.Version, "3.0"), strict: strict, allOfRefs: map[string]bool{}}
	collectAllOfRefs(doc, f.allOfRefs)
	if comps, ok := doc["components"].(map[string]any); ok {
		if schemas, ok := comps["schemas"].(map[string]any); ok {
			for name, s := range schemas {
				resolveRecursiveRefs(s, "#/components/schemas/"+name)
				f.schema(s, f.allOfRefs["#/components/schemas/"+name])
			}
		}
	}
	f.walkSchemaHolders(doc)
	return doc, nil
}

// normalizeYAML turns YAML-decoded values into JSON-like ones (string keys).
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeYAML(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalizeYAML(e)
		}
		return t
	}
	return v
}

// collectAllOfRefs records the $refs used as allOf members: strictness is
// not added to them, since their properties are evaluated together.
func collectAllOfRefs(v any, out map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		if all, ok := t["allOf"].([]any); ok {
			for _, m := range all {
				if mm, ok := m.(map[string]any); ok {
					if r, ok := mm["$ref"].(string); ok {
						out[r] = true
					}
				}
			}
		}
		for _, e := range t {
			collectAllOfRefs(e, out)
		}
	case []any:
		for _, e := range t {
			collectAllOfRefs(e, out)
		}
	}
}

type fixer struct {
	is30, strict bool
	allOfRefs    map[string]bool
}

// walkSchemaHolders fixes inline schemas of paths (parameters, media
// types, headers) and components other than schemas.
func (f *fixer) walkSchemaHolders(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if k == "schemas" {
				continue // components.schemas, done
			}
			if k == "schema" {
				f.schema(e, false)
				continue
			}
			f.walkSchemaHolders(e)
		}
	case []any:
		for _, e := range t {
			f.walkSchemaHolders(e)
		}
	}
}

var subschemaMaps = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
var subschemaOne = []string{"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems"}
var subschemaLists = []string{"anyOf", "oneOf", "prefixItems"}

// schema rewrites one schema object in place, recursively.
// resolveRecursiveRefs rewrites the draft 2019-09 recursion of a
// component schema marked "$recursiveAnchor": true, which 3.1 specs still
// use (OpenAI's CompoundFilter), into 2020-12: each "$recursiveRef": "#"
// below it becomes a $ref to the component itself (what its authors
// mean: the schema recurses into itself), and the anchor is dropped (the
// 2020-12 metaschema refuses a boolean there).
func resolveRecursiveRefs(v any, self string) {
	s, ok := v.(map[string]any)
	if !ok || s["$recursiveAnchor"] != true {
		return
	}
	delete(s, "$recursiveAnchor")
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if t["$recursiveRef"] == "#" {
				delete(t, "$recursiveRef")
				t["$ref"] = self
			}
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(s)
}

// withoutRepeats returns l without the later copies of a string.
func withoutRepeats(l []any) []any {
	seen := make(map[string]bool, len(l))
	out := l[:0:0]
	for _, e := range l {
		if s, ok := e.(string); ok {
			if seen[s] {
				continue
			}
			seen[s] = true
		}
		out = append(out, e)
	}
	return out
}

func (f *fixer) schema(v any, allOfMember bool) {
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	if f.is30 {
		if n, ok := s["nullable"].(bool); ok {
			delete(s, "nullable")
			if t, ok := s["type"].(string); ok && n {
				s["type"] = []any{t, "null"}
				if e, ok := s["enum"].([]any); ok {
					s["enum"] = append(e, nil)
				}
			}
		}
	}
	// 3.0's boolean exclusive bounds; 3.1 specs that still write them
	// (OpenAI's) mean the same, and the 2020-12 metaschema refuses them.
	for _, b := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		if ex, ok := s[b[0]].(bool); ok {
			delete(s, b[0])
			if ex {
				if m, ok := s[b[1]]; ok {
					s[b[0]] = m
					delete(s, b[1])
				}
			}
		}
	}
	if req, ok := s["required"].([]any); ok {
		// A property named twice (real specs do it: OpenAI's) means the
		// same as once, but the metaschema refuses the schema.
		s["required"] = withoutRepeats(req)
	}
	if hasType(s, "integer") && !hasType(s, "number") {
		if m, ok := num(s["maximum"]); !ok || m > maxSafeInt {
			s["maximum"] = maxSafeInt
		}
		if m, ok := num(s["minimum"]); !ok || m < -maxSafeInt {
			s["minimum"] = -maxSafeInt
		}
	}
	if f.strict && !allOfMember {
		_, ap := s["additionalProperties"]
		_, up := s["unevaluatedProperties"]
		_, props := s["properties"]
		_, all := s["allOf"]
		if _, ref := s["$ref"]; !ap && !up && (props || all || hasType(s, "object")) && !ref {
			s["unevaluatedProperties"] = false
		}
	}
	for _, k := range subschemaMaps {
		if m, ok := s[k].(map[string]any); ok {
			for _, e := range m {
				f.schema(e, false)
			}
		}
	}
	for _, k := range subschemaOne {
		f.schema(s[k], false)
	}
	for _, k := range subschemaLists {
		if l, ok := s[k].([]any); ok {
			for _, e := range l {
				f.schema(e, false)
			}
		}
	}
	if l, ok := s["allOf"].([]any); ok {
		for _, e := range l {
			f.schema(e, true)
		}
	}
}

func hasType(s map[string]any, t string) bool {
	switch v := s["type"].(type) {
	case string:
		return v == t
	case []any:
		for _, e := range v {
			if e == t {
				return true
			}
		}
	}
	return false
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// escapeToken escapes a JSON pointer token.
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// resolve follows local $refs from a node. ptr is the node's JSON pointer;
// it returns the target and its pointer.
func (cp *compiler) resolve(v any, ptr string) (any, string, error) {
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, ptr, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, ptr, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, "", fmt.Errorf("$ref %q: only references inside the spec document are supported", ref)
		}
		ptr = ref[1:]
		v = cp.doc
		for _, tok := range strings.Split(ref[2:], "/") {
			tok, _ = url.PathUnescape(tok)
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, "", fmt.Errorf("$ref %q: not found", ref)
			}
			if v, ok = mm[tok]; !ok {
				return nil, "", fmt.Errorf("$ref %q: not found", ref)
			}
		}
	}
	return nil, "", fmt.Errorf("$ref chain too long at %s", ptr)
}

func (cp *compiler) compileAt(ptr string) (*checker, error) {
	s, err := cp.c.Compile(cp.resource + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("compiling schema %s: %w", ptr, err)
	}
	if cp.quicks == nil {
		cp.quicks = map[*jsonschema.Schema]*quick{}
	}
	return newChecker(s, cp.quicks), nil
}

// operation compiles one spec operation.
func (cp *compiler) operation(op *openapi.Operation) (*operation, error) {
	out := &operation{queryNames: map[string]bool{}, limits: cp.base, responses: map[string]*checker{}}
	itemPtr := "/paths/" + escapeToken(op.Template)
	paths, _ := cp.doc["paths"].(map[string]any)
	item, itemPtr, err := cp.resolve(paths[op.Template], itemPtr)
	if err != nil {
		return nil, err
	}
	itemMap, _ := item.(map[string]any)
	method := strings.ToLower(op.Method)
	opv, opPtr, err := cp.resolve(itemMap[method], itemPtr+"/"+method)
	if err != nil {
		return nil, err
	}
	opMap, _ := opv.(map[string]any)
	if opMap == nil {
		return nil, fmt.Errorf("operation %s: not found in the document", op.ID)
	}
	// Parameters: path-level first, overridden by operation-level.
	byKey := map[string]*param{}
	var order []string
	for _, src := range []struct {
		list any
		ptr  string
	}{{itemMap["parameters"], itemPtr + "/parameters"}, {opMap["parameters"], opPtr + "/parameters"}} {
		list, _ := src.list.([]any)
		for i, e := range list {
			pv, pptr, err := cp.resolve(e, src.ptr+"/"+strconv.Itoa(i))
			if err != nil {
				return nil, fmt.Errorf("operation %s: parameter %d: %w", op.ID, i, err)
			}
			p, err := cp.param(pv, pptr)
			if err != nil {
				return nil, fmt.Errorf("operation %s: %w", op.ID, err)
			}
			if p == nil {
				continue
			}
			k := p.in + ":" + strings.ToLower(p.name)
			if _, seen := byKey[k]; !seen {
				order = append(order, k)
			}
			byKey[k] = p
		}
	}
	for _, k := range order {
		p := byKey[k]
		out.params = append(out.params, p)
		if p.in == "query" {
			out.queryNames[p.name] = true
		}
	}
	// Request body.
	if rb, ok := opMap["requestBody"]; ok {
		rbv, rbPtr, err := cp.resolve(rb, opPtr+"/requestBody")
		if err != nil {
			return nil, fmt.Errorf("operation %s: requestBody: %w", op.ID, err)
		}
		rbm, _ := rbv.(map[string]any)
		out.bodyDeclared = true
		out.bodyRequired, _ = rbm["required"].(bool)
		content, _ := rbm["content"].(map[string]any)
		keys := make([]string, 0, len(content))
		for k := range content {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, mt := range keys {
			typ, _, err := mime.ParseMediaType(mt)
			if err != nil {
				typ = strings.ToLower(mt)
			}
			m := media{typ: typ, kind: kindOf(typ)}
			mtv, _ := content[mt].(map[string]any)
			if sv, ok := mtv["schema"]; ok && m.kind != kindOther {
				sptr := rbPtr + "/content/" + escapeToken(mt) + "/schema"
				if m.schema, err = cp.compileAt(sptr); err != nil {
					return nil, fmt.Errorf("operation %s: %w", op.ID, err)
				}
				if m.kind == kindForm || m.kind == kindMultipart {
					m.types = cp.propTypes(sv, sptr)
				}
				cp.raiseLimits(sv, &out.limits, 0)
			}
			out.media = append(out.media, m)
		}
	}
	// Responses: JSON bodies only.
	if rs, ok := opMap["responses"].(map[string]any); ok {
		for code, r := range rs {
			rv, rptr, err := cp.resolve(r, opPtr+"/responses/"+escapeToken(code))
			if err != nil {
				return nil, fmt.Errorf("operation %s: responses %s: %w", op.ID, code, err)
			}
			out.responses[strings.ToUpper(code)] = nil
			rm, _ := rv.(map[string]any)
			content, _ := rm["content"].(map[string]any)
			for mt, mv := range content {
				typ, _, _ := mime.ParseMediaType(mt)
				if kindOf(typ) != kindJSON {
					continue
				}
				if mvm, _ := mv.(map[string]any); mvm != nil && mvm["schema"] != nil {
					s, err := cp.compileAt(rptr + "/content/" + escapeToken(mt) + "/schema")
					if err != nil {
						return nil, fmt.Errorf("operation %s: %w", op.ID, err)
					}
					out.responses[strings.ToUpper(code)] = s
					break
				}
			}
		}
	}
	return out, nil
}

func kindOf(typ string) bodyKind {
	switch {
	case typ == "application/json" || strings.HasSuffix(typ, "+json"):
		return kindJSON
	case typ == "application/x-www-form-urlencoded":
		return kindForm
	case typ == "multipart/form-data":
		return kindMultipart
	}
	return kindOther
}

// param compiles a parameter object.
func (cp *compiler) param(v any, ptr string) (*param, error) {
	m, _ := v.(map[string]any)
	if m == nil {
		return nil, nil
	}
	p := &param{}
	p.name, _ = m["name"].(string)
	p.in, _ = m["in"].(string)
	p.required, _ = m["required"].(bool)
	if p.in == "path" {
		p.required = true
	}
	if p.in == "header" {
		switch strings.ToLower(p.name) {
		case "accept", "content-type", "authorization":
			return nil, nil // OpenAPI says these are ignored
		}
	}
	p.style, _ = m["style"].(string)
	if p.style == "" {
		p.style = map[string]string{"path": "simple", "query": "form", "header": "simple", "cookie": "form"}[p.in]
	}
	p.explode = p.style == "form"
	if e, ok := m["explode"].(bool); ok {
		p.explode = e
	}
	sv, ok := m["schema"]
	if !ok {
		p.typ = "string"
		return p, nil // content-encoded parameters: presence only
	}
	s, sptr, err := cp.resolve(sv, ptr+"/schema")
	if err != nil {
		return nil, fmt.Errorf("parameter %s: %w", p.name, err)
	}
	sm, _ := s.(map[string]any)
	p.typ = primaryType(sm)
	if p.typ == "array" {
		items, _, _ := cp.resolve(sm["items"], "")
		im, _ := items.(map[string]any)
		p.itemType = primaryType(im)
	}
	if p.typ == "object" {
		p.props = cp.propTypes(s, sptr)
	}
	if p.schema, err = cp.compileAt(sptr); err != nil {
		return nil, fmt.Errorf("parameter %s: %w", p.name, err)
	}
	return p, nil
}

// primaryType is the schema's type other than null; "string" when absent.
func primaryType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if e != "null" {
				if str, ok := e.(string); ok {
					return str
				}
			}
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return "string"
}

// propTypes maps an object schema's properties to their types (for
// form bodies and object parameters).
func (cp *compiler) propTypes(v any, ptr string) map[string]string {
	s, _, err := cp.resolve(v, ptr)
	if err != nil {
		return nil
	}
	sm, _ := s.(map[string]any)
	props, _ := sm["properties"].(map[string]any)
	out := make(map[string]string, len(props))
	for k, pv := range props {
		r, _, err := cp.resolve(pv, "")
		if err != nil {
			continue
		}
		rm, _ := r.(map[string]any)
		out[k] = primaryType(rm)
		if out[k] == "array" {
			items, _, _ := cp.resolve(rm["items"], "")
			im, _ := items.(map[string]any)
			out[k] = "array:" + primaryType(im)
		}
	}
	return out
}

// raiseLimits lets the spec's maxItems and maxLength take precedence over
// the walker's defaults: the walker never refuses what the schema allows
// (the schema then enforces its own, tighter, bounds).
func (cp *compiler) raiseLimits(v any, l *Limits, depth int) {
	if depth > 64 {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		if r, ok := t["$ref"].(string); ok {
			target, _, err := cp.resolve(map[string]any{"$ref": r}, "")
			if err == nil && depth < 16 {
				cp.raiseLimits(target, l, depth+4)
			}
		}
		if n, ok := num(t["maxItems"]); ok && n > float64(l.MaxArray) && n < math.MaxInt32 {
			l.MaxArray = int(n)
		}
		if n, ok := num(t["maxLength"]); ok && n > float64(l.MaxString) && n < math.MaxInt32 {
			// maxLength counts characters; the walker counts bytes as sent.
			l.MaxString = int(min(n*6, math.MaxInt32-1))
		}
		for k, e := range t {
			if k != "$ref" && k != "enum" && k != "const" && k != "examples" && k != "example" && k != "default" {
				cp.raiseLimits(e, l, depth+1)
			}
		}
	case []any:
		for _, e := range t {
			cp.raiseLimits(e, l, depth+1)
		}
	}
}
