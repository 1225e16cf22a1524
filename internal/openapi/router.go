package openapi

import (
	"fmt"
	"sort"
	"strings"
)

// router matches canonical request paths to operations with a segment
// trie. Concrete segments win over templated ones, as OpenAPI asks.
// Matching is exact: case and trailing slashes count.
type router struct {
	root  *node
	loose *node // the same templates, lower-cased, without trailing slash
}

type node struct {
	literal map[string]*node
	params  []*paramNode
	ops     map[string]*Operation
}

// paramNode is a templated segment such as "{id}" or "{name}.json": its
// literal parts around one or more parameters.
type paramNode struct {
	parts []segPart
	next  *node
	key   string
}

type segPart struct {
	lit   string
	param bool
}

func newRouter(bases []string, ops []*Operation) (*router, error) {
	r := &router{root: &node{}, loose: &node{}}
	for _, op := range ops {
		for _, base := range bases {
			full := base + op.Template
			if op.Path == "" {
				op.Path = full
			}
			if err := r.root.insert(full, op, false); err != nil {
				return nil, fmt.Errorf("paths[%s]: %w", op.Template, err)
			}
			_ = r.loose.insert(strings.TrimSuffix(strings.ToLower(full), "/"), op, true)
		}
	}
	return r, nil
}

func (n *node) insert(path string, op *Operation, loose bool) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := n
	for _, seg := range segs {
		if !strings.Contains(seg, "{") {
			if cur.literal == nil {
				cur.literal = map[string]*node{}
			}
			next := cur.literal[seg]
			if next == nil {
				next = &node{}
				cur.literal[seg] = next
			}
			cur = next
			continue
		}
		parts, key, err := parseSegment(seg)
		if err != nil {
			return err
		}
		var pn *paramNode
		for _, p := range cur.params {
			if p.key == key {
				pn = p
				break
			}
		}
		if pn == nil {
			pn = &paramNode{parts: parts, next: &node{}, key: key}
			cur.params = append(cur.params, pn)
			// Most literal text first: "{id}.json" before "{id}".
			sort.SliceStable(cur.params, func(i, j int) bool {
				return litLen(cur.params[i].parts) > litLen(cur.params[j].parts)
			})
		}
		cur = pn.next
	}
	if cur.ops == nil {
		cur.ops = map[string]*Operation{}
	}
	if _, dup := cur.ops[op.Method]; dup && !loose {
		// Two templates of the same shape with one method (for example
		// /a/{x} and /a/{y}): the first one listed wins, as in most routers.
		return nil
	}
	cur.ops[op.Method] = op
	return nil
}

func litLen(parts []segPart) int {
	n := 0
	for _, p := range parts {
		n += len(p.lit)
	}
	return n
}

// parseSegment splits a templated segment into literal and parameter
// parts; key is its shape, with parameter names erased.
func parseSegment(seg string) ([]segPart, string, error) {
	var parts []segPart
	var key strings.Builder
	for seg != "" {
		i := strings.IndexByte(seg, '{')
		if i < 0 {
			parts = append(parts, segPart{lit: seg})
			key.WriteString(seg)
			break
		}
		if i > 0 {
			parts = append(parts, segPart{lit: seg[:i]})
			key.WriteString(seg[:i])
		}
		j := strings.IndexByte(seg[i:], '}')
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed { in %q", seg)
		}
		if j == 1 {
			return nil, "", fmt.Errorf("empty parameter name in %q", seg)
		}
		if len(parts) > 0 && parts[len(parts)-1].param {
			return nil, "", fmt.Errorf("two adjacent parameters in %q cannot be told apart", seg)
		}
		parts = append(parts, segPart{param: true, lit: seg[i+1 : i+j]})
		key.WriteString("{}")
		seg = seg[i+j+1:]
	}
	return parts, key.String(), nil
}

// matchSegment matches one path segment against templated parts, appending
// parameter values to params.
func matchSegment(parts []segPart, seg string, params []Param) ([]Param, bool) {
	start := len(params)
	for i, p := range parts {
		if !p.param {
			if !strings.HasPrefix(seg, p.lit) {
				return params[:start], false
			}
			seg = seg[len(p.lit):]
			continue
		}
		// A parameter runs up to the next literal part, or to the end.
		end := len(seg)
		if i+1 < len(parts) {
			end = strings.Index(seg, parts[i+1].lit)
			if end < 0 {
				return params[:start], false
			}
		}
		if end == 0 {
			return params[:start], false
		}
		params = append(params, Param{Name: p.lit, Value: seg[:end]})
		seg = seg[end:]
	}
	if seg != "" {
		return params[:start], false
	}
	return params, true
}

func (r *router) match(method, path string, params []Param) (*Operation, []Param, bool) {
	if len(path) == 0 || path[0] != '/' {
		return nil, params, false
	}
	params = params[:0]
	var found bool
	op, params, ok := r.root.find(method, path[1:], params, &found)
	if !ok && method == "HEAD" {
		op, params, ok = r.root.find("GET", path[1:], params[:0], &found)
	}
	if !ok {
		return nil, params[:0], found
	}
	return op, params, true
}

// find walks the trie for rest (the path after its leading slash). It sets
// *found when some node matched the whole path, whatever its methods.
func (n *node) find(method, rest string, params []Param, found *bool) (*Operation, []Param, bool) {
	seg, tail, more := strings.Cut(rest, "/")
	if next := n.literal[seg]; next != nil {
		if op, p, ok := next.step(method, tail, more, params, found); ok {
			return op, p, true
		}
	}
	for _, pn := range n.params {
		p, ok := matchSegment(pn.parts, seg, params)
		if !ok {
			continue
		}
		if op, p2, ok := pn.next.step(method, tail, more, p, found); ok {
			return op, p2, true
		}
		params = p[:len(params)]
	}
	return nil, params, false
}

func (n *node) step(method, tail string, more bool, params []Param, found *bool) (*Operation, []Param, bool) {
	if more {
		return n.find(method, tail, params, found)
	}
	if len(n.ops) == 0 {
		return nil, params, false
	}
	*found = true
	op, ok := n.ops[method]
	return op, params, ok
}

func (r *router) matchLoose(path string) bool {
	p := strings.TrimSuffix(strings.ToLower(path), "/")
	if p == "" {
		p = "/"
	}
	var found bool
	r.loose.find("", strings.TrimPrefix(p, "/"), nil, &found)
	return found
}

func (r *router) allowed(path string) []string {
	if len(path) == 0 || path[0] != '/' {
		return nil
	}
	var out []string
	for _, m := range Methods {
		var found bool
		if _, _, ok := r.root.find(strings.ToUpper(m), path[1:], nil, &found); ok {
			out = append(out, strings.ToUpper(m))
		}
	}
	return out
}
