package openapi

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pointer evaluates a JSON pointer (RFC 6901, percent-decoded as in a URI
// fragment) against n; nil when it does not resolve.
func Pointer(n *yaml.Node, ptr string) *yaml.Node {
	if n == nil {
		return nil
	}
	v, err := pointer(n, ptr)
	if err != nil {
		return nil
	}
	return v
}

// maxRefChain bounds a chain of $refs (a $ref to a $ref ...), so a cycle
// of references ends.
const maxRefChain = 32

// LocalRefs follows the local $refs ("#/components/...") of one
// document, remembering each target. It is not safe for concurrent use.
type LocalRefs struct {
	root  *yaml.Node
	cache map[string]*yaml.Node
}

// NewLocalRefs returns a resolver for the document root.
func NewLocalRefs(root *yaml.Node) *LocalRefs {
	return &LocalRefs{root: root, cache: map[string]*yaml.Node{}}
}

// Resolve follows YAML aliases and local $refs from n to a node without
// one. It returns nil for a nil node, an external or dangling $ref, and a
// chain longer than 32.
func (r *LocalRefs) Resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil; depth++ {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		ref := mapGet(n, "$ref")
		if ref == nil {
			return n
		}
		if depth == maxRefChain || !strings.HasPrefix(ref.Value, "#") {
			return nil
		}
		t, ok := r.cache[ref.Value]
		if !ok {
			t = Pointer(r.root, ref.Value[1:])
			r.cache[ref.Value] = t
		}
		n = t
	}
	return nil
}
