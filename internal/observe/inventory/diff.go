package inventory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Kinds of differences between an observed document and a spec.
const (
	// DiffUndocumentedOperation: called, not in the spec (shadow).
	DiffUndocumentedOperation = "undocumented_operation"
	// DiffUnusedOperation: in the spec, not called.
	DiffUnusedOperation = "unused_operation"
	// DiffUndocumentedParameter: a parameter sent that the spec lacks.
	DiffUndocumentedParameter = "undocumented_parameter"
	// DiffMissingParameter: a required parameter never sent.
	DiffMissingParameter = "missing_required_parameter"
	// DiffUndocumentedStatus: a status code answered that the spec lacks.
	DiffUndocumentedStatus = "undocumented_status"
	// DiffUndocumentedMediaType: a media type sent or answered that the
	// spec lacks.
	DiffUndocumentedMediaType = "undocumented_media_type"
	// DiffUndocumentedField: a body member the spec's schema lacks.
	DiffUndocumentedField = "undocumented_field"
	// DiffMissingField: a required body member never seen.
	DiffMissingField = "missing_field"
	// DiffTypeMismatch: a value of a type the spec does not allow.
	DiffTypeMismatch = "type_mismatch"
)

// Difference is one way the observed API differs from its spec.
type Difference struct {
	Kind      string `json:"kind"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Operation string `json:"operation,omitempty"`
	// Where locates it in the operation: "query parameter limit",
	// "response 200 application/json /items/*/ssn".
	Where  string `json:"where,omitempty"`
	Detail string `json:"detail"`
}

// String is the difference on one line.
func (d Difference) String() string {
	s := d.Kind + " " + d.Method + " " + d.Path
	if d.Where != "" {
		s += " " + d.Where
	}
	return s + ": " + d.Detail
}

// DiffOptions tune Diff.
type DiffOptions struct {
	// IgnoreUnused leaves out the spec operations that were not called
	// (traffic of a test suite rarely covers all of them).
	IgnoreUnused bool
}

// Diff compares an observed document (Export's, loaded back) with the
// spec: operations called but undocumented, operations never called, and
// for the operations in both, the parameters, status codes, media types
// and body fields that differ. Only local $refs ("#/...") of the spec are
// followed; a schema behind another $ref is not compared.
func Diff(observed, spec *openapi.Spec, o DiffOptions) []Difference {
	d := &differ{spec: spec}
	idx := newSpecIndex(spec)
	used := map[*openapi.Operation]bool{}
	for _, oop := range observed.Operations {
		sop := idx.lookup(oop.Method, oop.Path)
		if sop == nil {
			detail := "called, not in the spec"
			if x, ok := oop.Extensions["x-apiguard"].(map[string]any); ok {
				if cs, ok := x["classes"].([]any); ok && len(cs) > 0 {
					var names []string
					for _, c := range cs {
						names = append(names, fmt.Sprint(c))
					}
					detail += " (" + strings.Join(names, ", ") + ")"
				}
			}
			d.add(DiffUndocumentedOperation, oop, "", detail)
			continue
		}
		used[sop] = true
		d.operation(oop, sop)
	}
	if !o.IgnoreUnused {
		for _, sop := range spec.Operations {
			if !used[sop] {
				d.out = append(d.out, Difference{Kind: DiffUnusedOperation, Method: sop.Method, Path: sop.Path, Operation: sop.ID,
					Detail: "in the spec, not called"})
			}
		}
	}
	sort.SliceStable(d.out, func(i, j int) bool {
		a, b := d.out[i], d.out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Where < b.Where
	})
	return d.out
}

type differ struct {
	spec *openapi.Spec
	// inResponse is set while comparing answer bodies (writeOnly members
	// must not be answered; readOnly ones must not be sent).
	inResponse bool
	out        []Difference
	cur        *openapi.Operation // the spec operation being compared
	obs        *openapi.Operation
}

func (d *differ) add(kind string, op *openapi.Operation, where, detail string) {
	diff := Difference{Kind: kind, Method: op.Method, Path: op.Path, Where: where, Detail: detail}
	if d.cur != nil {
		diff.Operation = d.cur.ID
	}
	d.out = append(d.out, diff)
}

func (d *differ) note(kind, where, detail string) {
	d.out = append(d.out, Difference{Kind: kind, Method: d.obs.Method, Path: d.obs.Path, Operation: d.cur.ID, Where: where, Detail: detail})
}

// resolve follows local $refs of the spec; nil for other refs.
func (d *differ) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && hops < 32; hops++ {
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n
		}
		if !strings.HasPrefix(ref.Value, "#/") {
			return nil
		}
		cur := d.spec.Root
		for _, tok := range strings.Split(ref.Value[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch {
			case cur == nil:
			case cur.Kind == yaml.MappingNode:
				cur = openapi.MapGet(cur, tok)
			case cur.Kind == yaml.SequenceNode:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(cur.Content) {
					cur = nil
				} else {
					cur = cur.Content[i]
				}
			default:
				cur = nil
			}
		}
		n = cur
	}
	if n != nil && openapi.MapGet(n, "$ref") != nil {
		return nil
	}
	return n
}

// pathItem returns the spec's path item of an operation.
func (d *differ) pathItem(op *openapi.Operation) *yaml.Node {
	return d.resolve(openapi.MapGet(openapi.MapGet(d.spec.Root, "paths"), op.Template))
}

type paramKey struct{ in, name string }

// specParams lists the spec's parameters of op (path item's and the
// operation's).
func (d *differ) specParams(op *openapi.Operation) map[paramKey]*yaml.Node {
	out := map[paramKey]*yaml.Node{}
	for _, owner := range []*yaml.Node{d.pathItem(op), op.Node} {
		ps := openapi.MapGet(owner, "parameters")
		if ps == nil || ps.Kind != yaml.SequenceNode {
			continue
		}
		for _, p := range ps.Content {
			p = d.resolve(p)
			name, in := openapi.MapGet(p, "name"), openapi.MapGet(p, "in")
			if name == nil || in == nil {
				continue
			}
			k := paramKey{in.Value, name.Value}
			if in.Value == "header" {
				k.name = strings.ToLower(k.name)
			}
			out[k] = p
		}
	}
	return out
}

// operation compares an observed operation with the spec's.
func (d *differ) operation(obs, sop *openapi.Operation) {
	d.cur, d.obs = sop, obs
	defer func() { d.cur, d.obs = nil, nil }()
	documented := d.specParams(sop)
	seen := map[paramKey]bool{}
	if ps := openapi.MapGet(obs.Node, "parameters"); ps != nil {
		for _, p := range ps.Content {
			name, in := openapi.MapGet(p, "name"), openapi.MapGet(p, "in")
			if name == nil || in == nil || in.Value == "path" {
				continue
			}
			k := paramKey{in.Value, name.Value}
			if in.Value == "header" {
				k.name = strings.ToLower(k.name)
			}
			seen[k] = true
			sp := documented[k]
			if sp == nil {
				d.note(DiffUndocumentedParameter, in.Value+" parameter "+name.Value, "sent, not in the spec")
				continue
			}
			d.schema(in.Value+" parameter "+name.Value, "", openapi.MapGet(p, "schema"), openapi.MapGet(sp, "schema"), 0, false)
		}
	}
	for k, sp := range documented {
		if k.in == "query" && !seen[k] {
			if r := openapi.MapGet(sp, "required"); r != nil && r.Value == "true" {
				d.note(DiffMissingParameter, "query parameter "+k.name, "required by the spec, never sent")
			}
		}
	}
	d.content("request", openapi.MapGet(openapi.MapGet(obs.Node, "requestBody"), "content"),
		openapi.MapGet(d.resolve(openapi.MapGet(sop.Node, "requestBody")), "content"))
	obsResp := openapi.MapGet(obs.Node, "responses")
	specResp := openapi.MapGet(sop.Node, "responses")
	if obsResp == nil {
		return
	}
	for i := 0; i+1 < len(obsResp.Content); i += 2 {
		code := obsResp.Content[i].Value
		if code == "default" {
			continue
		}
		sr := d.response(specResp, code)
		if sr == nil {
			d.note(DiffUndocumentedStatus, "response "+code, "answered, not in the spec")
			continue
		}
		d.content("response "+code, openapi.MapGet(obsResp.Content[i+1], "content"), openapi.MapGet(sr, "content"))
	}
}

// response finds the spec's response for a status code: exact, range
// (2XX) or default.
func (d *differ) response(responses *yaml.Node, code string) *yaml.Node {
	if responses == nil {
		return nil
	}
	if r := openapi.MapGet(responses, code); r != nil {
		return d.resolve(r)
	}
	if len(code) == 3 {
		for _, k := range []string{code[:1] + "XX", code[:1] + "xx"} {
			if r := openapi.MapGet(responses, k); r != nil {
				return d.resolve(r)
			}
		}
	}
	if r := openapi.MapGet(responses, "default"); r != nil {
		return d.resolve(r)
	}
	return nil
}

// content compares observed media types (and their schemas) with the
// spec's content map.
func (d *differ) content(where string, obs, spec *yaml.Node) {
	if obs == nil {
		return
	}
	for i := 0; i+1 < len(obs.Content); i += 2 {
		mt := obs.Content[i].Value
		sm := mediaMatch(spec, mt)
		if sm == nil {
			d.note(DiffUndocumentedMediaType, where+" "+mt, "not in the spec")
			continue
		}
		obsSchema := openapi.MapGet(obs.Content[i+1], "schema")
		if obsSchema == nil {
			continue
		}
		d.inResponse = strings.HasPrefix(where, "response")
		d.schema(where+" "+mt, "", obsSchema, openapi.MapGet(d.resolve(sm), "schema"), 0, true)
		d.inResponse = false
	}
}

// mediaMatch finds the spec's media type object for mt, exact or by
// wildcard (type/*, */*).
func mediaMatch(content *yaml.Node, mt string) *yaml.Node {
	if content == nil {
		return nil
	}
	if m := openapi.MapGet(content, mt); m != nil {
		return m
	}
	for i := 0; i+1 < len(content.Content); i += 2 {
		k := strings.ToLower(content.Content[i].Value)
		if k == mt {
			return content.Content[i+1]
		}
		if typ, _, _ := strings.Cut(mt, "/"); k == typ+"/*" || k == "*/*" {
			return content.Content[i+1]
		}
	}
	return nil
}

// specView is a spec schema seen through allOf, oneOf and anyOf.
type specView struct {
	types     map[string]bool // nil: any type
	props     map[string]*yaml.Node
	hasProps  bool
	open      bool // members beyond props are fine (a map, or composite without properties)
	required  map[string]bool
	items     []*yaml.Node
	composite bool
}

func (d *differ) view(n *yaml.Node, v *specView, depth int, inAllOf bool) {
	n = d.resolve(n)
	if n == nil || depth > 16 {
		v.open, v.types = true, nil
		return
	}
	if t := openapi.MapGet(n, "type"); t != nil {
		if v.types == nil && !v.composite {
			v.types = map[string]bool{}
		}
		if v.types != nil {
			if t.Kind == yaml.SequenceNode {
				for _, c := range t.Content {
					v.types[c.Value] = true
				}
			} else {
				v.types[t.Value] = true
			}
		}
	}
	if nb := openapi.MapGet(n, "nullable"); nb != nil && nb.Value == "true" && v.types != nil {
		v.types["null"] = true
	}
	if ps := openapi.MapGet(n, "properties"); ps != nil && ps.Kind == yaml.MappingNode {
		v.hasProps = true
		for i := 0; i+1 < len(ps.Content); i += 2 {
			v.props[ps.Content[i].Value] = ps.Content[i+1]
		}
	}
	if ap := openapi.MapGet(n, "additionalProperties"); ap != nil && !(ap.Kind == yaml.ScalarNode && ap.Value == "false") {
		v.open = true
	}
	if pp := openapi.MapGet(n, "patternProperties"); pp != nil {
		v.open = true
	}
	if r := openapi.MapGet(n, "required"); r != nil && r.Kind == yaml.SequenceNode && inAllOf {
		for _, c := range r.Content {
			v.required[c.Value] = true
		}
	}
	if it := openapi.MapGet(n, "items"); it != nil {
		v.items = append(v.items, it)
	}
	for _, kw := range []string{"allOf", "oneOf", "anyOf"} {
		list := openapi.MapGet(n, kw)
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		if kw != "allOf" {
			v.composite, v.types = true, nil
		}
		for _, c := range list.Content {
			d.view(c, v, depth+1, inAllOf && kw == "allOf")
		}
	}
}

// schema compares an observed schema with the spec's at a location.
func (d *differ) schema(where, ptr string, obs, spec *yaml.Node, depth int, body bool) {
	if obs == nil || spec == nil || depth > 16 {
		return
	}
	v := &specView{props: map[string]*yaml.Node{}, required: map[string]bool{}}
	d.view(spec, v, 0, true)
	loc := where
	if ptr != "" {
		loc += " " + ptr
	}
	if len(v.types) > 0 {
		var bad []string
		for _, t := range typeList(openapi.MapGet(obs, "type")) {
			switch {
			case v.types[t]:
			case t == "integer" && v.types["number"]:
			case t == "number" && v.types["integer"]:
				// Integers written with a fraction (1.0) are rare; a
				// number where an integer is documented is a difference.
				bad = append(bad, t)
			default:
				bad = append(bad, t)
			}
		}
		if len(bad) > 0 {
			d.note(DiffTypeMismatch, loc, "seen as "+strings.Join(bad, ", ")+", the spec allows "+strings.Join(keys(v.types), ", "))
		}
	}
	if !body {
		return
	}
	obsProps := openapi.MapGet(obs, "properties")
	if obsProps != nil && obsProps.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(obsProps.Content); i += 2 {
			name := obsProps.Content[i].Value
			sp, ok := v.props[name]
			child := ptr + "/" + escapePointer(name)
			if !ok {
				if v.hasProps && !v.open {
					detail := "not in the spec's schema"
					if s := openapi.MapGet(obsProps.Content[i+1], "x-apiguard-sensitive"); s != nil {
						detail += " (sensitive: " + s.Value + ")"
					}
					d.note(DiffUndocumentedField, where+" "+child, detail)
				}
				continue
			}
			if rs := d.resolve(sp); rs != nil {
				if d.inResponse && isTrue(openapi.MapGet(rs, "writeOnly")) {
					d.note(DiffUndocumentedField, where+" "+child, "writeOnly in the spec, but answered")
				} else if !d.inResponse && isTrue(openapi.MapGet(rs, "readOnly")) {
					d.note(DiffUndocumentedField, where+" "+child, "readOnly in the spec, but sent")
				}
			}
			d.schema(where, child, obsProps.Content[i+1], sp, depth+1, true)
		}
		truncated := openapi.MapGet(obs, "x-apiguard-truncated") != nil
		if !truncated {
			for name := range v.required {
				if openapi.MapGet(obsProps, name) == nil {
					d.note(DiffMissingField, where+" "+ptr+"/"+escapePointer(name), "required by the spec, never seen")
				}
			}
		}
	}
	if it := openapi.MapGet(obs, "items"); it != nil {
		for _, sit := range v.items {
			d.schema(where, ptr+"/*", it, sit, depth+1, true)
		}
	}
}

func isTrue(n *yaml.Node) bool { return n != nil && n.Kind == yaml.ScalarNode && n.Value == "true" }

func typeList(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return []string{n.Value}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
