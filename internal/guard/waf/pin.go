package waf

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
)

// pin is what the spec says about one value: when the value conforms, it
// cannot carry an injection and is not inspected.
type pin struct {
	kind string // integer, number, boolean, enum, uuid, date, date-time, email
	enum map[string]bool
}

// opPins are the pinned values of one operation: query/path parameters
// by name and JSON body fields by dotted path (array indices dropped).
type opPins struct {
	params map[string]pin
	body   map[string]pin
}

// ok reports whether v conforms to the pin.
func (p pin) ok(v string) bool {
	switch p.kind {
	case "integer":
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil
	case "number":
		_, err := strconv.ParseFloat(v, 64)
		return err == nil && !strings.ContainsAny(v, "xXpPnN_")
	case "boolean":
		return v == "true" || v == "false"
	case "enum":
		return p.enum[v]
	case "uuid":
		if len(v) != 36 {
			return false
		}
		for i := 0; i < 36; i++ {
			c := v[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return false
				}
			} else if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f') {
				return false
			}
		}
		return true
	case "date":
		_, err := time.Parse(time.DateOnly, v)
		return err == nil
	case "date-time":
		_, err := time.Parse(time.RFC3339Nano, v)
		return err == nil
	case "email":
		local, domain, ok := strings.Cut(v, "@")
		return ok && local != "" && domain != "" && inSigma(v) && !strings.Contains(v, " ") && !strings.Contains(domain, "@")
	}
	return false
}

// pinsFor reads an operation's parameters and JSON request body schema.
func pinsFor(spec *openapi.Spec, op *openapi.Operation) *opPins {
	p := &opPins{params: map[string]pin{}, body: map[string]pin{}}
	var params []*yaml.Node
	if paths := openapi.MapGet(spec.Root, "paths"); paths != nil {
		if item := resolve(spec, openapi.MapGet(paths, op.Template)); item != nil {
			if ps := openapi.MapGet(item, "parameters"); ps != nil {
				params = append(params, ps.Content...)
			}
		}
	}
	if ps := openapi.MapGet(op.Node, "parameters"); ps != nil {
		params = append(params, ps.Content...)
	}
	for _, n := range params {
		n = resolve(spec, n)
		name := openapi.MapGet(n, "name")
		in := openapi.MapGet(n, "in")
		if name == nil || in == nil || (in.Value != "query" && in.Value != "path") {
			continue
		}
		if k, ok := schemaPin(spec, openapi.MapGet(n, "schema"), 0); ok {
			p.params[in.Value+":"+name.Value] = k
		}
	}
	rb := resolve(spec, openapi.MapGet(op.Node, "requestBody"))
	if content := openapi.MapGet(rb, "content"); content != nil {
		for i := 0; i+1 < len(content.Content); i += 2 {
			if strings.Contains(content.Content[i].Value, "json") {
				walkSchema(spec, openapi.MapGet(content.Content[i+1], "schema"), "", p.body, 0)
			}
		}
	}
	return p
}

func resolve(spec *openapi.Spec, n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 8; i++ {
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n
		}
		ptr, ok := strings.CutPrefix(ref.Value, "#/")
		if !ok {
			return nil
		}
		n = spec.Root
		for _, part := range strings.Split(ptr, "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			n = openapi.MapGet(n, part)
		}
	}
	return n
}

// schemaPin returns the pin of a scalar schema, if it has one.
func schemaPin(spec *openapi.Spec, s *yaml.Node, depth int) (pin, bool) {
	s = resolve(spec, s)
	if s == nil || depth > 16 {
		return pin{}, false
	}
	if all := openapi.MapGet(s, "allOf"); all != nil {
		for _, sub := range all.Content {
			if p, ok := schemaPin(spec, sub, depth+1); ok {
				return p, true
			}
		}
	}
	if e := openapi.MapGet(s, "enum"); e != nil && e.Kind == yaml.SequenceNode {
		p := pin{kind: "enum", enum: map[string]bool{}}
		for _, v := range e.Content {
			p.enum[v.Value] = true
		}
		return p, true
	}
	if c := openapi.MapGet(s, "const"); c != nil && c.Kind == yaml.ScalarNode {
		return pin{kind: "enum", enum: map[string]bool{c.Value: true}}, true
	}
	t := openapi.MapGet(s, "type")
	if t == nil {
		return pin{}, false
	}
	switch t.Value {
	case "integer", "number", "boolean":
		return pin{kind: t.Value}, true
	case "string":
		if f := openapi.MapGet(s, "format"); f != nil {
			switch f.Value {
			case "uuid", "date", "date-time", "email":
				return pin{kind: f.Value}, true
			}
		}
	}
	return pin{}, false
}

func walkSchema(spec *openapi.Spec, s *yaml.Node, prefix string, out map[string]pin, depth int) {
	s = resolve(spec, s)
	if s == nil || depth > 16 {
		return
	}
	if p, ok := schemaPin(spec, s, depth); ok {
		out[prefix] = p
		return
	}
	for _, key := range []string{"allOf"} {
		if all := openapi.MapGet(s, key); all != nil {
			for _, sub := range all.Content {
				walkSchema(spec, sub, prefix, out, depth+1)
			}
		}
	}
	if props := openapi.MapGet(s, "properties"); props != nil {
		for i := 0; i+1 < len(props.Content); i += 2 {
			walkSchema(spec, props.Content[i+1], join(prefix, props.Content[i].Value), out, depth+1)
		}
	}
	if items := openapi.MapGet(s, "items"); items != nil {
		walkSchema(spec, items, prefix, out, depth+1)
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
