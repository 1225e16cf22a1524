// Package openapi loads OpenAPI descriptions (3.0, 3.1, and Swagger 2.0
// for detection) and matches requests to their operations. It is shared by
// the gateway's guards, scan, audit and discover.
//
// This package indexes what routing needs: servers' base paths, path
// templates, methods, operation ids, deprecation and x- extensions, with
// $refs resolved across files (including operation-level $refs as written
// by real-world multi-file specs). Schema validation lives in the schema
// guard.
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Methods are the HTTP methods an OpenAPI path item may describe, in the
// order they are listed in the specification.
var Methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operation is one method on one path of the spec.
type Operation struct {
	// ID is the operationId, or "METHOD template" when the spec has none.
	ID string
	// Method is the upper-case HTTP method.
	Method string
	// Path is the full path template including the server base path.
	Path string
	// Template is the path template as written under paths.
	Template string
	// Deprecated is the operation's deprecated flag.
	Deprecated bool
	// Summary is the operation's summary.
	Summary string
	// Extensions holds the operation's x- fields, decoded.
	Extensions map[string]any
	// Node is the resolved operation object, for packages that need more.
	Node *yaml.Node
}

// Param is one path template parameter and the value the request gave it.
type Param struct {
	Name  string
	Value string
}

// Spec is a loaded OpenAPI description.
type Spec struct {
	// Version is the value of openapi (or swagger for 2.0).
	Version string
	// Title is info.title.
	Title string
	// BasePaths are the distinct path prefixes of the servers ("" for /).
	BasePaths []string
	// Operations lists every operation, sorted by path then method.
	Operations []*Operation
	// Root is the parsed document, $refs unresolved.
	Root *yaml.Node

	router *router
}

// Load reads a spec from a file; $refs to other files resolve relative to it.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading spec: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("loading spec: %w", err)
	}
	return parse(data, abs, osFiles{})
}

// Parse reads a spec from bytes. $refs to other files are refused.
func Parse(data []byte) (*Spec, error) {
	return parse(data, "", nil)
}

// Swagger2Error is returned for Swagger 2.0 documents, which apiguard
// detects but does not serve: convert them to OpenAPI 3 first.
type Swagger2Error struct{}

func (Swagger2Error) Error() string {
	return "spec is Swagger 2.0: convert it to OpenAPI 3.0 or 3.1 first"
}

type fileReader interface {
	ReadFile(path string) ([]byte, error)
}

type osFiles struct{}

func (osFiles) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func parse(data []byte, file string, files fileReader) (*Spec, error) {
	root, err := decodeDoc(data)
	if err != nil {
		return nil, fmt.Errorf("parsing spec: %w", err)
	}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parsing spec: top level is not an object")
	}
	s := &Spec{Root: doc}
	if v := mapGet(doc, "swagger"); v != nil {
		return nil, Swagger2Error{}
	}
	v := mapGet(doc, "openapi")
	if v == nil || v.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("parsing spec: no openapi version field")
	}
	s.Version = v.Value
	if !strings.HasPrefix(s.Version, "3.0") && !strings.HasPrefix(s.Version, "3.1") {
		return nil, fmt.Errorf("parsing spec: openapi version %q is not 3.0 or 3.1", s.Version)
	}
	if info := mapGet(doc, "info"); info != nil {
		if t := mapGet(info, "title"); t != nil {
			s.Title = t.Value
		}
	}
	s.BasePaths = basePaths(doc)
	r := &resolver{files: files, cache: map[string]*yaml.Node{file: doc}}
	paths := mapGet(doc, "paths")
	if paths != nil && paths.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parsing spec: paths: not an object")
	}
	if paths != nil {
		for i := 0; i+1 < len(paths.Content); i += 2 {
			tmpl := paths.Content[i].Value
			if !strings.HasPrefix(tmpl, "/") {
				return nil, fmt.Errorf("parsing spec: paths: %q does not start with /", tmpl)
			}
			item, itemFile, err := r.resolve(paths.Content[i+1], file)
			if err != nil {
				return nil, fmt.Errorf("parsing spec: paths[%s]: %w", tmpl, err)
			}
			if item.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("parsing spec: paths[%s]: not an object", tmpl)
			}
			for _, m := range Methods {
				opNode := mapGet(item, m)
				if opNode == nil {
					continue
				}
				opNode, _, err = r.resolve(opNode, itemFile)
				if err != nil {
					return nil, fmt.Errorf("parsing spec: paths[%s].%s: %w", tmpl, m, err)
				}
				s.Operations = append(s.Operations, newOperation(m, tmpl, opNode))
			}
		}
	}
	sort.Slice(s.Operations, func(i, j int) bool {
		a, b := s.Operations[i], s.Operations[j]
		if a.Template != b.Template {
			return a.Template < b.Template
		}
		return a.Method < b.Method
	})
	s.router, err = newRouter(s.BasePaths, s.Operations)
	if err != nil {
		return nil, fmt.Errorf("parsing spec: %w", err)
	}
	return s, nil
}

func newOperation(method, tmpl string, n *yaml.Node) *Operation {
	op := &Operation{Method: strings.ToUpper(method), Template: tmpl, Node: n}
	if v := mapGet(n, "operationId"); v != nil && v.Value != "" {
		op.ID = v.Value
	} else {
		op.ID = op.Method + " " + tmpl
	}
	if v := mapGet(n, "deprecated"); v != nil && v.Value == "true" {
		op.Deprecated = true
	}
	if v := mapGet(n, "summary"); v != nil {
		op.Summary = v.Value
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if strings.HasPrefix(k, "x-") {
			var val any
			if err := n.Content[i+1].Decode(&val); err == nil {
				if op.Extensions == nil {
					op.Extensions = map[string]any{}
				}
				op.Extensions[k] = val
			}
		}
	}
	return op
}

// decodeDoc parses YAML or JSON into a node tree. JSON is parsed as YAML
// (JSON is a subset of YAML 1.2 for documents like these).
func decodeDoc(data []byte) (*yaml.Node, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if json.Valid(data) {
			return nil, fmt.Errorf("json: %w", err)
		}
		return nil, err
	}
	return &root, nil
}

// basePaths returns the path parts of the servers' URLs, with server
// variables replaced by their defaults, without a trailing slash.
func basePaths(doc *yaml.Node) []string {
	servers := mapGet(doc, "servers")
	seen := map[string]bool{}
	var out []string
	if servers != nil && servers.Kind == yaml.SequenceNode {
		for _, srv := range servers.Content {
			u := mapGet(srv, "url")
			if u == nil {
				continue
			}
			raw := u.Value
			if vars := mapGet(srv, "variables"); vars != nil && vars.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(vars.Content); i += 2 {
					if d := mapGet(vars.Content[i+1], "default"); d != nil {
						raw = strings.ReplaceAll(raw, "{"+vars.Content[i].Value+"}", d.Value)
					}
				}
			}
			p := raw
			if pu, err := url.Parse(raw); err == nil {
				p = pu.Path
			}
			p = strings.TrimRight(p, "/")
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// mapGet returns the value of key in a mapping node, or nil.
func mapGet(n *yaml.Node, key string) *yaml.Node {
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

// MapGet returns the value of key in a YAML mapping node, or nil. It is
// exported for guards that read operation objects.
func MapGet(n *yaml.Node, key string) *yaml.Node { return mapGet(n, key) }

// Match returns the operation for a method and canonical path. params is
// reused for the template's parameter values. pathFound is true when some
// spec path matched even if the method did not.
func (s *Spec) Match(method, path string, params []Param) (op *Operation, out []Param, pathFound bool) {
	return s.router.match(method, path, params)
}

// MatchLoose reports whether path would match a spec path when compared
// without case and without a trailing slash. The gateway rejects such
// near-misses so they cannot bypass guards keyed on the operation.
func (s *Spec) MatchLoose(path string) bool {
	return s.router.matchLoose(path)
}

// AllowedMethods returns the methods the spec describes for a path, for an
// Allow header.
func (s *Spec) AllowedMethods(path string) []string {
	return s.router.allowed(path)
}
