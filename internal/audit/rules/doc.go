package rules

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Doc is the view of a spec that rules read: operations with their
// parameters, responses and effective security resolved.
type Doc struct {
	// Spec is the loaded description.
	Spec *openapi.Spec
	// Root is the top-level mapping node.
	Root *yaml.Node
	// Ops are the operations, in the spec's order.
	Ops []*Op
	// Schemes are the security schemes by name, resolved.
	Schemes map[string]*yaml.Node
	// SchemaRoots are the schemas written in the document: each component
	// schema and each inline schema of a parameter, body, response or header.
	SchemaRoots []SchemaRoot

	refs    *openapi.LocalRefs
	reached map[*yaml.Node][]step
	all     []rootVisit
	allDone bool
}

type rootVisit struct {
	Visit
	root *SchemaRoot
}

// SchemaRoot is a schema written in place (not a $ref).
type SchemaRoot struct {
	Node    *yaml.Node
	Pointer string
	// Op is the operation it belongs to, "" for components.
	Op string
	// Request is true for request bodies and parameters.
	Request bool
}

// Op is one operation with what rules need resolved.
type Op struct {
	*openapi.Operation
	// Pointer is the operation's JSON pointer, e.g. /paths/~1users/get.
	Pointer string
	// Params are the path-item and operation parameters, resolved.
	Params []Param
	// Security is the effective requirement list (operation, else global).
	Security []Requirement
	// SecurityDeclared is false when neither the operation nor the document
	// says anything about security.
	SecurityDeclared bool
	// Responses maps status codes ("200", "4XX", "default") to resolved
	// response objects.
	Responses map[string]*yaml.Node
	// ResponsesNode is the responses mapping, nil when absent.
	ResponsesNode *yaml.Node
	// Body is the resolved request body, nil when absent.
	Body *yaml.Node
	// BodyPointer is the pointer of Body.
	BodyPointer string
	// File is the file the operation object is written in, relative to the
	// spec's directory, when it is an external $ref; "" otherwise.
	File string
}

// Param is one resolved parameter.
type Param struct {
	Name, In string
	Node     *yaml.Node
	Schema   *yaml.Node // resolved, may be nil
	Pointer  string
}

// Requirement is one security requirement object: the schemes that must
// all be satisfied, with their scopes. An empty Requirement is {} (no
// authentication).
type Requirement []SchemeUse

// SchemeUse names a scheme and its scopes in a requirement.
type SchemeUse struct {
	Name   string
	Scopes []string
}

// NewDoc indexes a loaded spec for the rules.
func NewDoc(spec *openapi.Spec) *Doc {
	d := &Doc{Spec: spec, Root: spec.Root, Schemes: map[string]*yaml.Node{}, refs: openapi.NewLocalRefs(spec.Root), reached: map[*yaml.Node][]step{}}
	comps := Get(d.Root, "components")
	if ss := d.Resolve(Get(comps, "securitySchemes")); ss != nil && ss.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ss.Content); i += 2 {
			if n := d.Resolve(ss.Content[i+1]); n != nil {
				d.Schemes[ss.Content[i].Value] = n
			}
		}
	}
	global, globalSet := requirements(Get(d.Root, "security"))
	paths := Get(d.Root, "paths")
	for _, o := range spec.Operations {
		op := &Op{Operation: o, Pointer: "/paths/" + Escape(o.Template) + "/" + strings.ToLower(o.Method), Responses: map[string]*yaml.Node{}}
		rawItem := Get(paths, o.Template)
		if ref := Str(rawItem, "$ref"); ref != "" && !strings.HasPrefix(ref, "#") {
			op.File, _, _ = strings.Cut(ref, "#")
		} else if ref := Str(Get(rawItem, strings.ToLower(o.Method)), "$ref"); ref != "" && !strings.HasPrefix(ref, "#") {
			op.File, _, _ = strings.Cut(ref, "#")
		}
		item := d.Resolve(rawItem)
		var params []Param
		seen := map[string]int{}
		add := func(list *yaml.Node, ptr string) {
			if list == nil || list.Kind != yaml.SequenceNode {
				return
			}
			for i, pn := range list.Content {
				p := d.Resolve(pn)
				if p == nil {
					continue
				}
				pr := Param{Name: Str(p, "name"), In: Str(p, "in"), Node: p, Schema: d.Resolve(Get(p, "schema")), Pointer: ptr + "/" + strconv.Itoa(i)}
				key := pr.In + "\x00" + pr.Name
				if j, ok := seen[key]; ok {
					params[j] = pr
					continue
				}
				seen[key] = len(params)
				params = append(params, pr)
			}
		}
		add(Get(item, "parameters"), "/paths/"+Escape(o.Template)+"/parameters")
		add(Get(o.Node, "parameters"), op.Pointer+"/parameters")
		op.Params = params
		if sec := Get(o.Node, "security"); sec != nil {
			op.Security, op.SecurityDeclared = requirements(sec)
		} else {
			op.Security, op.SecurityDeclared = global, globalSet
		}
		if rs := Get(o.Node, "responses"); rs != nil && rs.Kind == yaml.MappingNode {
			op.ResponsesNode = rs
			for i := 0; i+1 < len(rs.Content); i += 2 {
				if r := d.Resolve(rs.Content[i+1]); r != nil {
					op.Responses[strings.ToUpper(rs.Content[i].Value)] = r
				}
			}
		}
		if rb := Get(o.Node, "requestBody"); rb != nil {
			op.Body = d.Resolve(rb)
			op.BodyPointer = op.Pointer + "/requestBody"
		}
		d.Ops = append(d.Ops, op)
	}
	d.collectSchemaRoots()
	return d
}

func requirements(n *yaml.Node) ([]Requirement, bool) {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, false
	}
	out := []Requirement{}
	for _, r := range n.Content {
		req := Requirement{}
		if r.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(r.Content); i += 2 {
				u := SchemeUse{Name: r.Content[i].Value}
				for _, s := range r.Content[i+1].Content {
					u.Scopes = append(u.Scopes, s.Value)
				}
				req = append(req, u)
			}
		}
		out = append(out, req)
	}
	return out, true
}

func (d *Doc) collectSchemaRoots() {
	comps := Get(d.Root, "components")
	if schemas := Get(comps, "schemas"); schemas != nil && schemas.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(schemas.Content); i += 2 {
			d.SchemaRoots = append(d.SchemaRoots, SchemaRoot{Node: schemas.Content[i+1], Pointer: "/components/schemas/" + Escape(schemas.Content[i].Value)})
		}
	}
	addInline := func(n *yaml.Node, ptr, op string, req bool) {
		if n == nil || Get(n, "$ref") != nil {
			return
		}
		d.SchemaRoots = append(d.SchemaRoots, SchemaRoot{Node: n, Pointer: ptr, Op: op, Request: req})
	}
	content := func(c *yaml.Node, ptr, op string, req bool) {
		if c == nil || c.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(c.Content); i += 2 {
			mt := c.Content[i+1]
			addInline(Get(mt, "schema"), ptr+"/"+Escape(c.Content[i].Value)+"/schema", op, req)
		}
	}
	for _, op := range d.Ops {
		for _, p := range op.Params {
			if raw := Get(p.Node, "schema"); raw != nil && Get(raw, "$ref") == nil && !strings.HasPrefix(p.Pointer, "/components") {
				addInline(raw, p.Pointer+"/schema", op.ID, true)
			}
		}
		if op.Body != nil && Get(Get(op.Operation.Node, "requestBody"), "$ref") == nil {
			content(Get(op.Body, "content"), op.BodyPointer+"/content", op.ID, true)
		}
		if op.ResponsesNode != nil {
			rs := op.ResponsesNode
			for i := 0; i+1 < len(rs.Content); i += 2 {
				if Get(rs.Content[i+1], "$ref") != nil {
					continue
				}
				ptr := op.Pointer + "/responses/" + Escape(rs.Content[i].Value)
				content(Get(rs.Content[i+1], "content"), ptr+"/content", op.ID, false)
			}
		}
	}
}

// Resolve follows local $refs ("#/components/...") until a node without
// one. It returns nil for a nil node, an external or a dangling $ref.
func (d *Doc) Resolve(n *yaml.Node) *yaml.Node { return d.refs.Resolve(n) }

// RefName returns the last token of n's $ref, or "".
func RefName(n *yaml.Node) string {
	ref := Get(n, "$ref")
	if ref == nil {
		return ""
	}
	return ref.Value[strings.LastIndexByte(ref.Value, '/')+1:]
}

// Escape escapes a JSON pointer token.
func Escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// Get returns the value of key in a mapping node, or nil.
func Get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Str returns the scalar value of key in a mapping node, or "".
func Str(n *yaml.Node, key string) string {
	v := Get(n, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

// Has reports whether a mapping node has key.
func Has(n *yaml.Node, key string) bool { return Get(n, key) != nil }
