package openapi

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// resolver follows $refs within and across files, caching parsed files.
type resolver struct {
	files fileReader
	cache map[string]*yaml.Node
}

const maxRefDepth = 32

// resolve follows n's $ref (if any) until it reaches a node without one. It
// returns the node and the file it lives in.
func (r *resolver) resolve(n *yaml.Node, file string) (*yaml.Node, string, error) {
	for depth := 0; ; depth++ {
		ref := mapGet(n, "$ref")
		if ref == nil {
			return n, file, nil
		}
		if depth == maxRefDepth {
			return nil, "", fmt.Errorf("$ref chain longer than %d", maxRefDepth)
		}
		var err error
		n, file, err = r.follow(ref.Value, file)
		if err != nil {
			return nil, "", err
		}
	}
}

func (r *resolver) follow(ref, file string) (*yaml.Node, string, error) {
	target, frag, _ := strings.Cut(ref, "#")
	if target != "" {
		if r.files == nil || file == "" {
			return nil, "", fmt.Errorf("$ref %q: references to other files need a spec loaded from a file", ref)
		}
		if u, err := url.Parse(target); err != nil || u.Scheme != "" || u.Host != "" {
			return nil, "", fmt.Errorf("$ref %q: only relative file references are followed", ref)
		}
		unescaped, err := url.PathUnescape(target)
		if err != nil {
			return nil, "", fmt.Errorf("$ref %q: %w", ref, err)
		}
		file = filepath.Join(filepath.Dir(file), filepath.FromSlash(unescaped))
	}
	doc, ok := r.cache[file]
	if !ok && r.files == nil {
		return nil, "", fmt.Errorf("$ref %q: references to other files need a spec loaded from a file", ref)
	}
	if !ok {
		data, err := r.files.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("$ref %q: %w", ref, err)
		}
		root, err := decodeDoc(data)
		if err != nil {
			return nil, "", fmt.Errorf("$ref %q: %w", ref, err)
		}
		doc = root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
			doc = doc.Content[0]
		}
		r.cache[file] = doc
	}
	if doc == nil {
		return nil, "", fmt.Errorf("$ref %q: no document", ref)
	}
	n, err := pointer(doc, frag)
	if err != nil {
		return nil, "", fmt.Errorf("$ref %q: %w", ref, err)
	}
	return n, file, nil
}

// pointer evaluates a JSON pointer (RFC 6901) against a node.
func pointer(n *yaml.Node, ptr string) (*yaml.Node, error) {
	if ptr == "" || ptr == "/" && len(n.Content) == 0 {
		return n, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("fragment %q is not a JSON pointer", ptr)
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok, err := url.PathUnescape(tok)
		if err != nil {
			return nil, err
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.Kind {
		case yaml.MappingNode:
			next := mapGet(n, tok)
			if next == nil {
				return nil, fmt.Errorf("no %q in %q", tok, ptr)
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, fmt.Errorf("bad index %q in %q", tok, ptr)
			}
			n = n.Content[i]
		default:
			return nil, fmt.Errorf("cannot descend into %q in %q", tok, ptr)
		}
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
	}
	return n, nil
}
