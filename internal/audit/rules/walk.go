package rules

import (
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// SchemaVisit is called for each schema reached by a walk: the schema,
// its pointer and, when reached through properties, the property name.
type SchemaVisit func(s *yaml.Node, ptr, prop string)

// WalkSchema visits s and its sub-schemas written in place (properties,
// items, additionalProperties, allOf/anyOf/oneOf/not, prefixItems); it
// does not follow $refs, so walking every SchemaRoot visits each schema
// of the document once.
func WalkSchema(s *yaml.Node, ptr string, fn SchemaVisit) {
	walk(s, ptr, "", fn, 0)
}

func walk(s *yaml.Node, ptr, prop string, fn SchemaVisit, depth int) {
	if s == nil || s.Kind != yaml.MappingNode || depth > 64 || Has(s, "$ref") {
		return
	}
	fn(s, ptr, prop)
	if ps := Get(s, "properties"); ps != nil && ps.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ps.Content); i += 2 {
			walk(ps.Content[i+1], ptr+"/properties/"+Escape(ps.Content[i].Value), ps.Content[i].Value, fn, depth+1)
		}
	}
	for _, k := range []string{"items", "additionalProperties", "not"} {
		walk(Get(s, k), ptr+"/"+k, "", fn, depth+1)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf", "prefixItems"} {
		if l := Get(s, k); l != nil && l.Kind == yaml.SequenceNode {
			for i, c := range l.Content {
				walk(c, ptr+"/"+k+"/"+strconv.Itoa(i), prop, fn, depth+1)
			}
		}
	}
}

// maxResolvedNodes bounds one WalkResolved, so a huge spec cannot make a
// rule slow.
const maxResolvedNodes = 2000

// Visit is one schema reached by a walk.
type Visit struct {
	Node *yaml.Node
	// Pointer is where the schema is written.
	Pointer string
	// Prop is the property name it was reached through, or "".
	Prop string
}

// step is one schema of a cached resolved walk; its pointer is built on
// demand from its parent chain, so walks allocate no strings.
type step struct {
	node     *yaml.Node
	prop     string
	parent   int    // index of the parent step, -1 at a base
	base     string // pointer of a base step
	key, tok string // path from the parent: key ("properties", "items", ...) and optional token
}

// Ptr is the JSON pointer of a schema reached by WalkResolved, built when
// String is called.
type Ptr struct {
	steps []step
	i     int
}

// String returns the pointer.
func (p Ptr) String() string {
	var parts []string
	i := p.i
	for i >= 0 {
		st := p.steps[i]
		if st.parent < 0 {
			parts = append(parts, st.base)
			break
		}
		if st.tok != "" {
			parts = append(parts, Escape(st.tok))
		}
		parts = append(parts, st.key)
		i = st.parent
	}
	var b strings.Builder
	for j := len(parts) - 1; j >= 0; j-- {
		if j < len(parts)-1 {
			b.WriteByte('/')
		}
		b.WriteString(parts[j])
	}
	return b.String()
}

// ResolvedVisit is called for each schema reached by WalkResolved.
type ResolvedVisit func(s *yaml.Node, ptr Ptr, prop string)

// WalkResolved visits s and its sub-schemas like WalkSchema but follows
// local $refs, each target at most once per walk. Pointers are those of
// the nodes where they are written. Walks are cached per start schema,
// so rules and operations sharing a schema walk it once.
func (d *Doc) WalkResolved(s *yaml.Node, ptr string, fn ResolvedVisit) {
	steps := d.reach(s, ptr)
	for i := range steps {
		fn(steps[i].node, Ptr{steps, i}, steps[i].prop)
	}
}

func (d *Doc) reach(s *yaml.Node, ptr string) []step {
	key := s
	if Has(s, "$ref") {
		key = d.Resolve(s)
	}
	if key == nil {
		return nil
	}
	if vs, ok := d.reached[key]; ok {
		return vs
	}
	var out []step
	seen := map[*yaml.Node]bool{}
	var rec func(s *yaml.Node, st step, depth int)
	rec = func(s *yaml.Node, st step, depth int) {
		if s == nil || depth > 32 || len(out) >= maxResolvedNodes {
			return
		}
		if ref := Get(s, "$ref"); ref != nil {
			if strings.HasPrefix(ref.Value, "#/") {
				st.parent, st.base = -1, ref.Value[1:]
			}
			s = d.Resolve(s)
			if s == nil {
				return
			}
		}
		if s.Kind != yaml.MappingNode || seen[s] {
			return
		}
		seen[s] = true
		st.node = s
		out = append(out, st)
		me := len(out) - 1
		if ps := Get(s, "properties"); ps != nil && ps.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(ps.Content); i += 2 {
				name := ps.Content[i].Value
				rec(ps.Content[i+1], step{prop: name, parent: me, key: "properties", tok: name}, depth+1)
			}
		}
		for _, k := range []string{"items", "additionalProperties", "not"} {
			if c := Get(s, k); c != nil {
				rec(c, step{parent: me, key: k}, depth+1)
			}
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf", "prefixItems"} {
			if l := Get(s, k); l != nil && l.Kind == yaml.SequenceNode {
				for i, c := range l.Content {
					rec(c, step{prop: st.prop, parent: me, key: k, tok: strconv.Itoa(i)}, depth+1)
				}
			}
		}
	}
	rec(s, step{parent: -1, base: ptr}, 0)
	d.reached[key] = out
	return out
}

// Types returns a schema's type(s): "type: x" or "type: [x, null]".
func Types(s *yaml.Node) []string {
	t := Get(s, "type")
	if t == nil {
		return nil
	}
	if t.Kind == yaml.ScalarNode {
		return []string{t.Value}
	}
	var out []string
	for _, c := range t.Content {
		out = append(out, c.Value)
	}
	return out
}

// IsType reports whether s has type typ (alone or with others).
func IsType(s *yaml.Node, typ string) bool {
	for _, t := range Types(s) {
		if t == typ {
			return true
		}
	}
	return false
}

// BodySchemas returns the request body's media-type schemas (unresolved)
// with their pointers.
func BodySchemas(op *Op) ([]*yaml.Node, []string) {
	return contentSchemas(Get(op.Body, "content"), op.BodyPointer+"/content")
}

// ResponseSchemas returns the media-type schemas of one resolved response.
func ResponseSchemas(resp *yaml.Node, ptr string) ([]*yaml.Node, []string) {
	return contentSchemas(Get(resp, "content"), ptr+"/content")
}

func contentSchemas(c *yaml.Node, ptr string) ([]*yaml.Node, []string) {
	if c == nil || c.Kind != yaml.MappingNode {
		return nil, nil
	}
	var ns []*yaml.Node
	var ps []string
	for i := 0; i+1 < len(c.Content); i += 2 {
		if s := Get(c.Content[i+1], "schema"); s != nil {
			ns = append(ns, s)
			ps = append(ps, ptr+"/"+Escape(c.Content[i].Value)+"/schema")
		}
	}
	return ns, ps
}

var normCache sync.Map

// norm lower-cases a name and drops separators: "is_Admin" -> "isadmin".
// Results are cached: specs repeat the same property names.
func norm(name string) string {
	if v, ok := normCache.Load(name); ok {
		return v.(string)
	}
	n := normalize(name)
	normCache.Store(name, n)
	return n
}

func normalize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r == '_' || r == '-' || r == '.' || r == ' ' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nameIn reports whether the normalized name is one of words.
func nameIn(name string, words map[string]bool) bool { return words[norm(name)] }

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[norm(w)] = true
	}
	return m
}

// IsWrite reports whether a method changes state.
func IsWrite(method string) bool {
	switch method {
	case "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// isPublicByDesign reports operations that are expected without
// authentication: login, signup, token, health, docs.
func isPublicByDesign(op *Op) bool {
	if Has(op.Operation.Node, "x-apiguard-login") || Has(op.Operation.Node, "x-apiguard-public") {
		return true
	}
	p := strings.ToLower(op.Template + " " + op.ID)
	for _, w := range []string{"login", "signin", "sign-in", "signup", "sign-up", "register", "oauth", "token", "health", "status", "ping", "openapi", "swagger", "well-known", "jwks", "password-reset", "forgot"} {
		if strings.Contains(p, w) {
			return true
		}
	}
	return false
}

// Secured reports whether every requirement of op needs some scheme.
func (op *Op) Secured() bool {
	if len(op.Security) == 0 {
		return false
	}
	for _, r := range op.Security {
		if len(r) == 0 {
			return false
		}
	}
	return true
}

// hasCode reports whether op documents one of the codes (exact, class
// like "4XX", or default when def is true).
func (op *Op) hasCode(def bool, codes ...string) bool {
	for _, c := range codes {
		if op.Responses[c] != nil {
			return true
		}
		if len(c) == 3 && op.Responses[c[:1]+"XX"] != nil {
			return true
		}
	}
	return def && op.Responses["DEFAULT"] != nil
}

func opHit(op *Op, n *yaml.Node, ptr, evidence string) Hit {
	if n == nil {
		n = op.Operation.Node
	}
	if ptr == "" {
		ptr = op.Pointer
	}
	return Hit{Node: n, Pointer: ptr, Operation: op.ID, Evidence: evidence}
}
