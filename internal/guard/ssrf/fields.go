package ssrf

import (
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Where a target is read from.
const (
	inQuery = "query"
	inPath  = "path"
	inBody  = "body"
)

// target is one place in a request that holds a URL.
type target struct {
	in   string   // inQuery, inPath or inBody
	name string   // parameter name (query, path)
	ptr  []string // body: JSON pointer tokens, "*" for any member or item
	kind Kind
}

func (t target) key() string { return t.in + "\x00" + t.name + "\x00" + strings.Join(t.ptr, "/") }

// location is the target's location for events: "query:next",
// "path:id" or "body:/items/*/url".
func (t target) location() string {
	if t.in == inBody {
		return "body:" + pointerString(t.ptr)
	}
	return t.in + ":" + t.name
}

func pointerString(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// parsePointer splits a JSON pointer (RFC 6901) into tokens.
func parsePointer(p string) ([]string, bool) {
	if p == "" {
		return nil, true
	}
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	parts := strings.Split(p[1:], "/")
	for i, t := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return parts, true
}

// specWalker finds URL-typed parameters and body fields in a spec.
type specWalker struct {
	root    *yaml.Node
	formats map[string]Kind
	out     []target
	seen    map[string]bool
}

const maxSchemaDepth = 32

// resolve follows local $refs ("#/components/..."). A reference it cannot
// follow (another file) returns nil: the loader already resolved the
// operation and path item themselves, and the schema guard reports
// unresolvable schemas.
func (w *specWalker) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < maxSchemaDepth; i++ {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n
		}
		frag, ok := strings.CutPrefix(ref.Value, "#")
		if !ok {
			return nil
		}
		tokens, ok := parsePointer(frag)
		if !ok {
			return nil
		}
		n = w.root
		for _, t := range tokens {
			switch n.Kind {
			case yaml.MappingNode:
				n = openapi.MapGet(n, t)
			default:
				return nil
			}
			if n == nil {
				return nil
			}
		}
	}
	return n
}

func (w *specWalker) add(t target) {
	if !w.seen[t.key()] {
		w.seen[t.key()] = true
		w.out = append(w.out, t)
	}
}

// formatKind returns the kind of a string schema's format, if it is a URL format.
func (w *specWalker) formatKind(schema *yaml.Node) (Kind, bool) {
	f := openapi.MapGet(schema, "format")
	if f == nil || f.Kind != yaml.ScalarNode {
		return 0, false
	}
	k, ok := w.formats[f.Value]
	return k, ok
}

// operationTargets returns the URL targets of one operation.
func operationTargets(spec *openapi.Spec, op *openapi.Operation, formats map[string]Kind) []target {
	w := &specWalker{root: spec.Root, formats: formats, seen: map[string]bool{}}
	// Parameters: the operation's own override the path item's.
	params := map[string]*yaml.Node{}
	var order []string
	collect := func(list *yaml.Node) {
		list = w.resolve(list)
		if list == nil || list.Kind != yaml.SequenceNode {
			return
		}
		for _, p := range list.Content {
			p = w.resolve(p)
			name, in := openapi.MapGet(p, "name"), openapi.MapGet(p, "in")
			if name == nil || in == nil {
				continue
			}
			k := in.Value + "\x00" + name.Value
			if _, ok := params[k]; !ok {
				order = append(order, k)
			}
			params[k] = p
		}
	}
	if paths := openapi.MapGet(spec.Root, "paths"); paths != nil {
		if item := w.resolve(openapi.MapGet(paths, op.Template)); item != nil {
			collect(openapi.MapGet(item, "parameters"))
		}
	}
	collect(openapi.MapGet(op.Node, "parameters"))
	for _, k := range order {
		p := params[k]
		in := openapi.MapGet(p, "in").Value
		if in != inQuery && in != inPath {
			continue
		}
		name := openapi.MapGet(p, "name").Value
		schema := w.resolve(openapi.MapGet(p, "schema"))
		if schema == nil {
			continue
		}
		if kind, ok := w.formatKind(schema); ok {
			w.add(target{in: in, name: name, kind: kind})
		} else if items := w.resolve(openapi.MapGet(schema, "items")); items != nil {
			if kind, ok := w.formatKind(items); ok {
				w.add(target{in: in, name: name, kind: kind})
			}
		}
	}
	// Request body: every media type's schema.
	if rb := w.resolve(openapi.MapGet(op.Node, "requestBody")); rb != nil {
		if content := openapi.MapGet(rb, "content"); content != nil && content.Kind == yaml.MappingNode {
			for i := 1; i < len(content.Content); i += 2 {
				w.walk(w.resolve(openapi.MapGet(content.Content[i], "schema")), nil, 0, map[*yaml.Node][]string{})
			}
		}
	}
	sort.SliceStable(w.out, func(i, j int) bool { return w.out[i].key() < w.out[j].key() })
	return w.out
}

// walk records the pointers of URL-formatted strings under schema.
// active maps the schemas being walked to the pointer they were entered
// at: a schema met again below itself is recursive, and its URL fields
// are recorded with a "**" token (any depth) so nesting cannot hide one.
func (w *specWalker) walk(schema *yaml.Node, ptr []string, depth int, active map[*yaml.Node][]string) {
	schema = w.resolve(schema)
	if schema == nil || schema.Kind != yaml.MappingNode || depth > maxSchemaDepth {
		return
	}
	if first, ok := active[schema]; ok {
		if depth < maxSchemaDepth/2 {
			sub := &specWalker{root: w.root, formats: w.formats, seen: map[string]bool{}}
			sub.walk(schema, nil, depth+maxSchemaDepth/2, map[*yaml.Node][]string{})
			for _, t := range sub.out {
				p := append(append(append([]string(nil), first...), "**"), t.ptr...)
				w.add(target{in: inBody, ptr: p, kind: t.kind})
			}
		}
		return
	}
	active[schema] = ptr
	defer delete(active, schema)
	if kind, ok := w.formatKind(schema); ok {
		w.add(target{in: inBody, ptr: append([]string(nil), ptr...), kind: kind})
	}
	child := func(n *yaml.Node, tok string) {
		w.walk(n, append(append([]string(nil), ptr...), tok), depth+1, active)
	}
	if props := openapi.MapGet(schema, "properties"); props != nil && props.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(props.Content); i += 2 {
			child(props.Content[i+1], props.Content[i].Value)
		}
	}
	for _, key := range []string{"additionalProperties", "items", "unevaluatedProperties", "unevaluatedItems"} {
		if n := openapi.MapGet(schema, key); n != nil && n.Kind == yaml.MappingNode {
			child(n, "*")
		}
	}
	if pp := openapi.MapGet(schema, "patternProperties"); pp != nil && pp.Kind == yaml.MappingNode {
		for i := 1; i < len(pp.Content); i += 2 {
			child(pp.Content[i], "*")
		}
	}
	if pi := openapi.MapGet(schema, "prefixItems"); pi != nil && pi.Kind == yaml.SequenceNode {
		for i, n := range pi.Content {
			child(n, strconv.Itoa(i))
		}
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if list := openapi.MapGet(schema, key); list != nil && list.Kind == yaml.SequenceNode {
			for _, n := range list.Content {
				w.walk(n, ptr, depth+1, active)
			}
		}
	}
	for _, key := range []string{"then", "else"} {
		if n := openapi.MapGet(schema, key); n != nil {
			w.walk(n, ptr, depth+1, active)
		}
	}
}

// valuesAt calls f with every string found at ptr in v ("*" matches any
// member or item), and the concrete pointer it was found at.
func valuesAt(v any, ptr []string, at []string, f func(s string, at []string) bool) bool {
	if len(ptr) == 0 {
		if s, ok := v.(string); ok {
			return f(s, at)
		}
		return true
	}
	tok := ptr[0]
	if tok == "**" {
		// Zero levels, then one level deeper keeping "**".
		if !valuesAt(v, ptr[1:], at, f) {
			return false
		}
		switch v.(type) {
		case map[string]any, []any:
			return valuesAt(v, append([]string{"*"}, ptr...), at, f)
		}
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		if tok == "*" {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !valuesAt(x[k], ptr[1:], append(at, k), f) {
					return false
				}
			}
			return true
		}
		if c, ok := x[tok]; ok {
			return valuesAt(c, ptr[1:], append(at, tok), f)
		}
	case []any:
		if tok == "*" {
			for i, c := range x {
				if !valuesAt(c, ptr[1:], append(at, strconv.Itoa(i)), f) {
					return false
				}
			}
			return true
		}
		for i, c := range x {
			if strconv.Itoa(i) == tok {
				return valuesAt(c, ptr[1:], append(at, tok), f)
			}
		}
	}
	return true
}
