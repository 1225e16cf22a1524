package authz

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// direction says which properties a plan restricts.
type direction uint8

const (
	// write plans refuse readOnly and x-apiguard-write-roles properties
	// in request bodies.
	write direction = iota
	// read plans remove writeOnly and x-apiguard-read-roles properties
	// from answers.
	read
)

// plan is a compiled property policy for one place in a JSON document. It
// is built from a schema (with $ref, allOf, oneOf and anyOf folded in) at
// load, so a request only walks the data it has, along the plan.
type plan struct {
	// deny: the value here may never be written (readOnly) or read
	// (writeOnly).
	deny bool
	// roles: the principal needs one role of each list.
	roles [][]string
	// props are the declared properties; a nil value means nothing to do
	// for that property.
	props map[string]*plan
	// extra applies to undeclared properties (additionalProperties).
	extra *plan
	// items applies to array elements.
	items *plan
	// closed: an undeclared property may not be written or read. The
	// schema does not allow it (additionalProperties or
	// unevaluatedProperties false): in a request it is a mass-assignment
	// attempt, in an answer an undocumented exposure.
	closed bool
	// live is true when something is restricted here or below.
	live bool
}

// restricted reports whether the principal may not write (or read) the
// value this plan describes.
func (p *plan) restricted(pr *pipeline.Principal) bool {
	if p.deny {
		return true
	}
	for _, rs := range p.roles {
		if !hasAnyRole(pr, rs) {
			return true
		}
	}
	return false
}

// maxPlanStates bounds the work of compiling one schema.
const maxPlanStates = 4096

// planner compiles schemas of one spec into plans.
type planner struct {
	root  *yaml.Node
	dir   direction
	memo  map[string]*plan
	all   []*plan
	err   error
	where string
	// closed: properties a closed schema (additionalProperties or
	// unevaluatedProperties false) does not declare are refused (write)
	// or removed (read).
	closed bool
}

func newPlanner(root *yaml.Node, dir direction, closed bool) *planner {
	return &planner{root: root, dir: dir, memo: map[string]*plan{}, closed: closed}
}

// compile returns the plan of a schema, or nil when nothing in it is
// restricted for the planner's direction.
func (pl *planner) compile(schema *yaml.Node, where string) (*plan, error) {
	pl.err, pl.where = nil, where
	start := len(pl.all)
	p := pl.state([]*yaml.Node{schema})
	if pl.err != nil {
		return nil, pl.err
	}
	// Liveness over the (possibly cyclic) graph: iterate to a fixed point.
	for changed := true; changed; {
		changed = false
		for _, q := range pl.all[start:] {
			if q.live {
				continue
			}
			if q.deny || len(q.roles) > 0 || q.closed || q.extra != nil && q.extra.live || q.items != nil && q.items.live || anyLive(q.props) {
				q.live, changed = true, true
			}
		}
	}
	for _, q := range pl.all[start:] {
		for k, c := range q.props {
			if c != nil && !c.live {
				q.props[k] = nil
			}
		}
		if q.extra != nil && !q.extra.live {
			q.extra = nil
		}
		if q.items != nil && !q.items.live {
			q.items = nil
		}
	}
	if p == nil || !p.live {
		return nil, nil
	}
	return p, nil
}

func anyLive(m map[string]*plan) bool {
	for _, c := range m {
		if c != nil && c.live {
			return true
		}
	}
	return false
}

// state returns the plan of a set of schemas that all apply to one value.
func (pl *planner) state(set []*yaml.Node) *plan {
	if pl.err != nil {
		return nil
	}
	exp, mandatory := pl.expand(set)
	if len(exp) == 0 {
		return nil
	}
	key := setKey(exp, mandatory)
	if p, ok := pl.memo[key]; ok {
		return p
	}
	if len(pl.memo) >= maxPlanStates {
		pl.err = fmt.Errorf("%s: schema too complex (more than %d property plans)", pl.where, maxPlanStates)
		return nil
	}
	p := &plan{}
	pl.memo[key] = p
	pl.all = append(pl.all, p)

	flag, rolesKey := "writeOnly", "x-apiguard-read-roles"
	if pl.dir == write {
		flag, rolesKey = "readOnly", "x-apiguard-write-roles"
	}
	var addl []*yaml.Node
	var items []*yaml.Node
	names := map[string]bool{}
	var closers []*yaml.Node // schemas that refuse undeclared properties
	unevaluated := false
	for _, n := range exp {
		if pl.closed && mandatory[n] && openapi.MapGet(n, "patternProperties") == nil {
			if a := openapi.MapGet(n, "additionalProperties"); a != nil && a.Kind == yaml.ScalarNode && a.Value == "false" {
				closers = append(closers, n)
			}
			if u := openapi.MapGet(n, "unevaluatedProperties"); u != nil && u.Kind == yaml.ScalarNode && u.Value == "false" {
				unevaluated = true
			}
		}
		if v := openapi.MapGet(n, flag); v != nil && v.Value == "true" {
			p.deny = true
		}
		if v := openapi.MapGet(n, rolesKey); v != nil {
			var roles []string
			if err := v.Decode(&roles); err != nil || len(roles) == 0 {
				pl.err = fmt.Errorf("%s: %s must be a non-empty list of role names (line %d)", pl.where, rolesKey, v.Line)
				return nil
			}
			p.roles = append(p.roles, roles)
		}
		if a := openapi.MapGet(n, "additionalProperties"); a != nil && a.Kind == yaml.MappingNode {
			addl = append(addl, a)
		}
		if it := openapi.MapGet(n, "items"); it != nil && it.Kind == yaml.MappingNode {
			items = append(items, it)
		}
		if props := openapi.MapGet(n, "properties"); props != nil && props.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(props.Content); i += 2 {
				names[props.Content[i].Value] = true
			}
		}
	}
	if len(names) > 0 {
		p.props = make(map[string]*plan, len(names))
		for _, name := range sortedKeys(names) {
			// A property is checked against every schema of the set: its
			// declaration where there is one, else additionalProperties.
			var child []*yaml.Node
			for _, n := range exp {
				if c := openapi.MapGet(openapi.MapGet(n, "properties"), name); c != nil {
					child = append(child, c)
				} else if a := openapi.MapGet(n, "additionalProperties"); a != nil && a.Kind == yaml.MappingNode {
					child = append(child, a)
				}
			}
			if refusedBy(closers, name) {
				p.props[name] = deniedPlan
				continue
			}
			p.props[name] = pl.state(child)
		}
	}
	p.closed = len(closers) > 0 || unevaluated
	if len(addl) > 0 {
		p.extra = pl.state(addl)
	}
	if len(items) > 0 {
		p.items = pl.state(items)
	}
	return p
}

// deniedPlan marks a property no request may write.
var deniedPlan = &plan{deny: true, live: true}

// refusedBy reports whether a closed schema of the set does not declare
// name.
func refusedBy(closers []*yaml.Node, name string) bool {
	for _, n := range closers {
		if openapi.MapGet(openapi.MapGet(n, "properties"), name) == nil {
			return true
		}
	}
	return false
}

// expand resolves $refs and folds in allOf, oneOf and anyOf (a property
// restricted in any branch is restricted: the plan cannot know which
// branch the data takes). Cycles are cut by the visited set. mandatory
// marks the schemas every valid value satisfies (reached through $ref
// and allOf only, not through a oneOf/anyOf branch).
func (pl *planner) expand(set []*yaml.Node) ([]*yaml.Node, map[*yaml.Node]bool) {
	var out []*yaml.Node
	seen := map[*yaml.Node]bool{}
	mandatory := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, depth int, must bool)
	walk = func(n *yaml.Node, depth int, must bool) {
		if pl.err != nil || n == nil {
			return
		}
		if depth > 64 {
			pl.err = fmt.Errorf("%s: schema nests allOf/oneOf/anyOf/$ref deeper than 64", pl.where)
			return
		}
		n, err := resolveRef(pl.root, n)
		if err != nil {
			pl.err = fmt.Errorf("%s: %w", pl.where, err)
			return
		}
		if n == nil || n.Kind != yaml.MappingNode || seen[n] && (mandatory[n] || !must) {
			return
		}
		seen[n] = true
		if must {
			mandatory[n] = true
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
		for _, k := range []string{"allOf", "oneOf", "anyOf"} {
			if l := openapi.MapGet(n, k); l != nil && l.Kind == yaml.SequenceNode {
				for _, c := range l.Content {
					walk(c, depth+1, must && k == "allOf")
				}
			}
		}
	}
	for _, n := range set {
		walk(n, 0, true)
	}
	return out, mandatory
}

func setKey(set []*yaml.Node, mandatory map[*yaml.Node]bool) string {
	ids := make([]string, len(set))
	for i, n := range set {
		ids[i] = fmt.Sprintf("%p", n)
		if mandatory[n] {
			ids[i] += "!"
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// resolveRef follows local $refs ("#/components/schemas/X") from n. Other
// references are errors: the spec loader resolves files, not schemas.
func resolveRef(root, n *yaml.Node) (*yaml.Node, error) {
	for depth := 0; n != nil; depth++ {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n, nil
		}
		if depth == 32 {
			return nil, fmt.Errorf("$ref chain longer than 32 at line %d", ref.Line)
		}
		frag, ok := strings.CutPrefix(ref.Value, "#")
		if !ok {
			return nil, fmt.Errorf("$ref %q: only references inside the spec (#/...) are followed", ref.Value)
		}
		target, err := pointer(root, frag)
		if err != nil {
			return nil, fmt.Errorf("$ref %q: %w", ref.Value, err)
		}
		n = target
	}
	return nil, nil
}

// pointer evaluates a JSON pointer (RFC 6901, in a URI fragment) on a node.
func pointer(n *yaml.Node, ptr string) (*yaml.Node, error) {
	if ptr == "" {
		return n, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("not a JSON pointer")
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok, err := url.PathUnescape(tok)
		if err != nil {
			return nil, err
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.Kind {
		case yaml.MappingNode:
			n = openapi.MapGet(n, tok)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, fmt.Errorf("no element %q", tok)
			}
			n = n.Content[i]
		default:
			n = nil
		}
		if n == nil {
			return nil, fmt.Errorf("no %q", tok)
		}
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
	}
	return n, nil
}

// maxReported bounds the pointers kept for an event or a problem.
const maxReported = 16

// findings collects the JSON pointers a walk refused or removed.
type findings struct {
	pointers []string
	count    int
}

func (f *findings) add(path []string) {
	f.count++
	if len(f.pointers) < maxReported {
		var b strings.Builder
		for _, t := range path {
			b.WriteByte('/')
			b.WriteString(escapePointer(t))
		}
		f.pointers = append(f.pointers, b.String())
	}
}

// escapePointer writes one pointer token. A member name can be the
// client's own (an undeclared property), so names outside a plain
// charset, or longer than 64 bytes, are reported as "*" instead of being
// echoed.
func escapePointer(t string) string {
	if t == "" || len(t) > 64 {
		return "*"
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '$' || c == '@') {
			return "*"
		}
	}
	return t
}

// checkWrite walks a request body and reports every property the
// principal may not write.
func (p *plan) checkWrite(v any, pr *pipeline.Principal, path []string, f *findings) {
	if p.restricted(pr) {
		f.add(path)
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if p.props == nil && p.extra == nil && !p.closed {
			return
		}
		for _, k := range sortedKeys(v) {
			c, declared := p.props[k]
			if !declared {
				if p.closed {
					f.add(append(path, k))
					continue
				}
				c = p.extra
			}
			if c != nil {
				c.checkWrite(v[k], pr, append(path, k), f)
			}
		}
	case []any:
		if p.items == nil {
			return
		}
		for i, e := range v {
			p.items.checkWrite(e, pr, append(path, strconv.Itoa(i)), f)
		}
	}
}

// filterRead removes from an answer every property the principal may not
// read, in place. It returns the value to keep (an array may shrink).
func (p *plan) filterRead(v any, pr *pipeline.Principal, path []string, f *findings) any {
	switch v := v.(type) {
	case map[string]any:
		if p.props == nil && p.extra == nil && !p.closed {
			return v
		}
		for k, e := range v {
			c, declared := p.props[k]
			if !declared {
				if p.closed {
					delete(v, k)
					f.add(append(path, k))
					continue
				}
				c = p.extra
			}
			if c == nil {
				continue
			}
			if c.restricted(pr) {
				delete(v, k)
				f.add(append(path, k))
				continue
			}
			v[k] = c.filterRead(e, pr, append(path, k), f)
		}
		return v
	case []any:
		if p.items == nil {
			return v
		}
		if p.items.restricted(pr) {
			for i := range v {
				f.add(append(path, strconv.Itoa(i)))
			}
			return v[:0]
		}
		for i, e := range v {
			v[i] = p.items.filterRead(e, pr, append(path, strconv.Itoa(i)), f)
		}
		return v
	}
	return v
}

// isJSONMedia reports whether a media type (parameters allowed) is JSON.
func isJSONMedia(mt string) bool {
	mt, _, _ = strings.Cut(mt, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "*/*" || mt == "application/*"
}

// jsonSchemaOf returns the schema of the JSON media type of a content map
// (requestBody.content or a response's content), resolving refs.
func jsonSchemaOf(root, content *yaml.Node) (*yaml.Node, []string, error) {
	content, err := resolveRef(root, content)
	if err != nil || content == nil || content.Kind != yaml.MappingNode {
		return nil, nil, err
	}
	var schema *yaml.Node
	var others []string
	for i := 0; i+1 < len(content.Content); i += 2 {
		mt := content.Content[i].Value
		if isJSONMedia(mt) {
			if schema == nil {
				schema = openapi.MapGet(content.Content[i+1], "schema")
			}
		} else {
			base, _, _ := strings.Cut(mt, ";")
			others = append(others, strings.ToLower(strings.TrimSpace(base)))
		}
	}
	return schema, others, nil
}
