package scan

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Schema is a JSON schema of the spec, resolved for checks: $refs
// followed, allOf merged, the first alternative of oneOf/anyOf taken when
// the schema says nothing else. Recursive schemas share pointers.
type Schema struct {
	// Type is the JSON type ("object", "array", "string", "integer",
	// "number", "boolean"), "" when unknown. Nullable is set by
	// "nullable: true" or a 3.1 type list containing "null".
	Type     string
	Nullable bool
	// Format and Pattern are the string constraints.
	Format, Pattern string
	// Enum lists the allowed values; Const is the const value when HasConst.
	Enum     []any
	Const    any
	HasConst bool
	// Default and Example are the schema's default and example values.
	Default    any
	HasDefault bool
	Example    any
	HasExample bool
	// Minimum and Maximum bound numbers (nil when unbounded);
	// ExclusiveMinimum/ExclusiveMaximum make them strict.
	Minimum, Maximum                   *float64
	ExclusiveMinimum, ExclusiveMaximum bool
	// MinLength, MaxLength, MinItems and MaxItems bound strings and arrays.
	MinLength, MaxLength, MinItems, MaxItems *int
	// Properties are the object's properties, in Order as written.
	Properties map[string]*Schema
	Order      []string
	// Required lists the required properties.
	Required []string
	// Items is the array item schema.
	Items *Schema
	// AdditionalProperties is the schema of undeclared properties; when
	// NoAdditional is true they are forbidden.
	AdditionalProperties *Schema
	NoAdditional         bool
	// ReadOnly, WriteOnly and Deprecated are the schema's flags.
	ReadOnly, WriteOnly, Deprecated bool
	// Name is the component name when the schema is a $ref to
	// #/components/schemas/Name.
	Name string
}

// IsRequired reports whether prop is a required property.
func (s *Schema) IsRequired(prop string) bool {
	if s == nil {
		return false
	}
	for _, r := range s.Required {
		if r == prop {
			return true
		}
	}
	return false
}

// Prop returns the schema of property name, or nil.
func (s *Schema) Prop(name string) *Schema {
	if s == nil {
		return nil
	}
	return s.Properties[name]
}

// Param is one operation parameter.
type Param struct {
	// Name and In ("path", "query", "header", "cookie") identify it.
	Name, In string
	// Required is the parameter's required flag (always true in path).
	Required bool
	// Deprecated is the parameter's deprecated flag.
	Deprecated bool
	// Schema is its schema, nil when it has none.
	Schema *Schema
	// Example is the parameter-level example, when HasExample.
	Example    any
	HasExample bool
}

// SecurityScheme is a components.securitySchemes entry.
type SecurityScheme struct {
	// Name is the scheme's key in components.securitySchemes.
	Name string
	// Type is apiKey, http, oauth2, openIdConnect or mutualTLS.
	Type string
	// Scheme is the http scheme (bearer, basic); BearerFormat its hint.
	Scheme, BearerFormat string
	// In and ParamName place an apiKey (header, query, cookie).
	In, ParamName string
}

// Operation is one spec operation as checks see it.
type Operation struct {
	*openapi.Operation
	// Params are the path-item and operation parameters, resolved
	// (operation-level ones override path-item ones).
	Params []*Param
	// Body is the JSON request body schema (nil when the operation takes
	// no JSON body); BodyMedia its media type; BodyRequired its flag.
	Body         *Schema
	BodyMedia    string
	BodyRequired bool
	// Responses maps status codes ("200", "2XX", "default") to the JSON
	// schema of the answer (nil when the response has no JSON content).
	Responses map[string]*Schema
	// Security lists the alternatives of the effective security
	// requirement (operation, else document): each alternative names the
	// schemes that must all be satisfied. An empty alternative means
	// anonymous access is allowed.
	Security [][]string
	// Scopes are the scopes named by the requirements.
	Scopes []string
	// SecurityDeclared is false when neither the operation nor the
	// document says anything about security.
	SecurityDeclared bool
	// Roles are the roles named by x-apiguard-roles.
	Roles []string
	// Tags and Description are the operation's tags and description.
	Tags        []string
	Description string
}

// Secured reports whether the spec says the operation needs credentials:
// security is declared and no alternative is empty.
func (o *Operation) Secured() bool {
	if !o.SecurityDeclared || len(o.Security) == 0 {
		return false
	}
	for _, alt := range o.Security {
		if len(alt) == 0 {
			return false
		}
	}
	return true
}

// Unsafe reports whether the method changes state (anything but GET,
// HEAD, OPTIONS and TRACE).
func (o *Operation) Unsafe() bool { return UnsafeMethod(o.Method) }

// UnsafeMethod reports whether an HTTP method changes state.
func UnsafeMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}

// PathParams returns the parameters in the path.
func (o *Operation) PathParams() []*Param { return o.paramsIn("path") }

// QueryParams returns the parameters in the query.
func (o *Operation) QueryParams() []*Param { return o.paramsIn("query") }

func (o *Operation) paramsIn(in string) []*Param {
	var out []*Param
	for _, p := range o.Params {
		if p.In == in {
			out = append(out, p)
		}
	}
	return out
}

// Param returns the parameter named name in in, or nil.
func (o *Operation) Param(in, name string) *Param {
	for _, p := range o.Params {
		if p.In == in && p.Name == name {
			return p
		}
	}
	return nil
}

// SuccessSchema returns the JSON schema of the first documented 2xx
// answer (200, 201, …, then 2XX, then default), nil when there is none.
func (o *Operation) SuccessSchema() *Schema {
	for code := 200; code < 300; code++ {
		if s, ok := o.Responses[strconv.Itoa(code)]; ok && s != nil {
			return s
		}
	}
	if s := o.Responses["2XX"]; s != nil {
		return s
	}
	return o.Responses["default"]
}

// ResponseSchema returns the JSON schema documented for status (exact
// code, then its class like 4XX, then default), nil when there is none.
func (o *Operation) ResponseSchema(status int) *Schema {
	if s, ok := o.Responses[strconv.Itoa(status)]; ok {
		return s
	}
	if s, ok := o.Responses[strconv.Itoa(status/100)+"XX"]; ok {
		return s
	}
	return o.Responses["default"]
}

// Documented reports whether status is a documented answer (exactly, by
// class, or by default).
func (o *Operation) Documented(status int) bool {
	if _, ok := o.Responses[strconv.Itoa(status)]; ok {
		return true
	}
	if _, ok := o.Responses[strconv.Itoa(status/100)+"XX"]; ok {
		return true
	}
	_, ok := o.Responses["default"]
	return ok
}

// Text is the operation's id, path, summary, description and tags in
// lower case, for name heuristics.
func (o *Operation) Text() string {
	return strings.ToLower(strings.Join(append([]string{o.ID, o.Path, o.Summary, o.Description}, o.Tags...), " "))
}

// model builds the operation model of a spec.
type model struct {
	root    *yaml.Node
	refs    *openapi.LocalRefs
	schemas map[*yaml.Node]*Schema
}

// buildModel indexes spec for checks.
func buildModel(spec *openapi.Spec) ([]*Operation, map[string]*SecurityScheme) {
	m := &model{root: spec.Root, refs: openapi.NewLocalRefs(spec.Root), schemas: map[*yaml.Node]*Schema{}}
	schemes := map[string]*SecurityScheme{}
	if ss := m.resolve(get(get(m.root, "components"), "securitySchemes")); ss != nil && ss.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ss.Content); i += 2 {
			n := m.resolve(ss.Content[i+1])
			if n == nil {
				continue
			}
			name := ss.Content[i].Value
			schemes[name] = &SecurityScheme{Name: name, Type: str(n, "type"), Scheme: strings.ToLower(str(n, "scheme")),
				BearerFormat: str(n, "bearerFormat"), In: str(n, "in"), ParamName: str(n, "name")}
		}
	}
	global, globalSet := requirements(get(m.root, "security"))
	paths := get(m.root, "paths")
	var ops []*Operation
	for _, o := range spec.Operations {
		op := &Operation{Operation: o, Responses: map[string]*Schema{}}
		item := m.resolve(get(paths, o.Template))
		seen := map[string]int{}
		add := func(list *yaml.Node) {
			if list == nil || list.Kind != yaml.SequenceNode {
				return
			}
			for _, pn := range list.Content {
				p := m.resolve(pn)
				if p == nil {
					continue
				}
				par := &Param{Name: str(p, "name"), In: str(p, "in"), Required: str(p, "required") == "true",
					Deprecated: str(p, "deprecated") == "true", Schema: m.schema(get(p, "schema"), 0)}
				if par.In == "path" {
					par.Required = true
				}
				if ex := get(p, "example"); ex != nil {
					par.Example, par.HasExample = decode(ex), true
				} else if exs := get(p, "examples"); exs != nil && exs.Kind == yaml.MappingNode && len(exs.Content) >= 2 {
					if v := get(m.resolve(exs.Content[1]), "value"); v != nil {
						par.Example, par.HasExample = decode(v), true
					}
				}
				key := par.In + "\x00" + par.Name
				if j, ok := seen[key]; ok {
					op.Params[j] = par
					continue
				}
				seen[key] = len(op.Params)
				op.Params = append(op.Params, par)
			}
		}
		add(get(item, "parameters"))
		add(get(o.Node, "parameters"))
		if sec := get(o.Node, "security"); sec != nil {
			op.Security, op.SecurityDeclared = requirements(sec)
		} else {
			op.Security, op.SecurityDeclared = global, globalSet
		}
		op.Scopes = scopesOf(o.Node, get(m.root, "security"))
		if rb := m.resolve(get(o.Node, "requestBody")); rb != nil {
			op.BodyRequired = str(rb, "required") == "true"
			op.BodyMedia, op.Body = m.jsonContent(get(rb, "content"))
		}
		if rs := get(o.Node, "responses"); rs != nil && rs.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(rs.Content); i += 2 {
				r := m.resolve(rs.Content[i+1])
				_, s := m.jsonContent(get(r, "content"))
				op.Responses[strings.ToUpper(rs.Content[i].Value)] = s
			}
		}
		if roles, ok := o.Extensions["x-apiguard-roles"].([]any); ok {
			for _, r := range roles {
				if s, ok := r.(string); ok {
					op.Roles = append(op.Roles, s)
				}
			}
		}
		if tags := get(o.Node, "tags"); tags != nil && tags.Kind == yaml.SequenceNode {
			for _, t := range tags.Content {
				op.Tags = append(op.Tags, t.Value)
			}
		}
		op.Description = str(o.Node, "description")
		ops = append(ops, op)
	}
	return ops, schemes
}

// jsonContent picks the JSON media type of a content map (application/json,
// then any +json or */json, then */*) and returns it with its schema.
func (m *model) jsonContent(content *yaml.Node) (string, *Schema) {
	if content == nil || content.Kind != yaml.MappingNode {
		return "", nil
	}
	best, bestRank := -1, 99
	for i := 0; i+1 < len(content.Content); i += 2 {
		mt := strings.ToLower(strings.TrimSpace(strings.Split(content.Content[i].Value, ";")[0]))
		rank := 99
		switch {
		case mt == "application/json":
			rank = 0
		case strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "/json"):
			rank = 1
		case mt == "*/*" || mt == "application/*":
			rank = 2
		}
		if rank < bestRank {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		return "", nil
	}
	return content.Content[best].Value, m.schema(get(m.resolve(content.Content[best+1]), "schema"), 0)
}

const maxSchemaDepth = 24

// schema converts a schema node. Named component schemas are memoised so
// recursion terminates.
func (m *model) schema(n *yaml.Node, depth int) *Schema {
	if n == nil || depth > maxSchemaDepth {
		return nil
	}
	name := ""
	if ref := get(n, "$ref"); ref != nil && strings.HasPrefix(ref.Value, "#/components/schemas/") {
		name = ref.Value[len("#/components/schemas/"):]
	}
	r := m.resolve(n)
	if r == nil {
		return nil
	}
	if s, ok := m.schemas[r]; ok {
		return s
	}
	s := &Schema{Name: name}
	m.schemas[r] = s
	m.fill(s, r, depth)
	return s
}

func (m *model) fill(s *Schema, n *yaml.Node, depth int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	// allOf first, so the schema's own keywords override its parts.
	if all := get(n, "allOf"); all != nil && all.Kind == yaml.SequenceNode {
		for _, part := range all.Content {
			if p := m.resolve(part); p != nil {
				m.fill(s, p, depth+1)
			}
		}
	}
	if t := get(n, "type"); t != nil {
		switch t.Kind {
		case yaml.ScalarNode:
			s.Type = t.Value
		case yaml.SequenceNode:
			for _, v := range t.Content {
				if v.Value == "null" {
					s.Nullable = true
				} else if s.Type == "" {
					s.Type = v.Value
				}
			}
		}
	}
	if str(n, "nullable") == "true" {
		s.Nullable = true
	}
	setStr := func(dst *string, key string) {
		if v := get(n, key); v != nil {
			*dst = v.Value
		}
	}
	setStr(&s.Format, "format")
	setStr(&s.Pattern, "pattern")
	if e := get(n, "enum"); e != nil && e.Kind == yaml.SequenceNode {
		s.Enum = nil
		for _, v := range e.Content {
			s.Enum = append(s.Enum, decode(v))
		}
	}
	if c := get(n, "const"); c != nil {
		s.Const, s.HasConst = decode(c), true
	}
	if d := get(n, "default"); d != nil {
		s.Default, s.HasDefault = decode(d), true
	}
	if e := get(n, "example"); e != nil {
		s.Example, s.HasExample = decode(e), true
	} else if es := get(n, "examples"); es != nil && es.Kind == yaml.SequenceNode && len(es.Content) > 0 {
		s.Example, s.HasExample = decode(es.Content[0]), true
	}
	num := func(key string) *float64 {
		v := get(n, key)
		if v == nil || v.Kind != yaml.ScalarNode {
			return nil
		}
		f, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			return nil
		}
		return &f
	}
	integer := func(key string) *int {
		if f := num(key); f != nil {
			i := int(*f)
			return &i
		}
		return nil
	}
	if f := num("minimum"); f != nil {
		s.Minimum = f
	}
	if f := num("maximum"); f != nil {
		s.Maximum = f
	}
	if v := get(n, "exclusiveMinimum"); v != nil {
		if v.Value == "true" {
			s.ExclusiveMinimum = true
		} else if f := num("exclusiveMinimum"); f != nil {
			s.Minimum, s.ExclusiveMinimum = f, true
		}
	}
	if v := get(n, "exclusiveMaximum"); v != nil {
		if v.Value == "true" {
			s.ExclusiveMaximum = true
		} else if f := num("exclusiveMaximum"); f != nil {
			s.Maximum, s.ExclusiveMaximum = f, true
		}
	}
	for key, dst := range map[string]**int{"minLength": &s.MinLength, "maxLength": &s.MaxLength, "minItems": &s.MinItems, "maxItems": &s.MaxItems} {
		if i := integer(key); i != nil {
			*dst = i
		}
	}
	if props := get(n, "properties"); props != nil && props.Kind == yaml.MappingNode {
		if s.Properties == nil {
			s.Properties = map[string]*Schema{}
		}
		for i := 0; i+1 < len(props.Content); i += 2 {
			k := props.Content[i].Value
			if _, ok := s.Properties[k]; !ok {
				s.Order = append(s.Order, k)
			}
			s.Properties[k] = m.schema(props.Content[i+1], depth+1)
		}
		if s.Type == "" {
			s.Type = "object"
		}
	}
	if req := get(n, "required"); req != nil && req.Kind == yaml.SequenceNode {
		for _, r := range req.Content {
			if !s.IsRequired(r.Value) {
				s.Required = append(s.Required, r.Value)
			}
		}
	}
	if it := get(n, "items"); it != nil {
		s.Items = m.schema(it, depth+1)
		if s.Type == "" {
			s.Type = "array"
		}
	}
	if ap := get(n, "additionalProperties"); ap != nil {
		switch {
		case ap.Kind == yaml.ScalarNode && ap.Value == "false":
			s.NoAdditional = true
		case ap.Kind == yaml.MappingNode:
			s.AdditionalProperties = m.schema(ap, depth+1)
		}
	}
	for key, dst := range map[string]*bool{"readOnly": &s.ReadOnly, "writeOnly": &s.WriteOnly, "deprecated": &s.Deprecated} {
		if v := get(n, key); v != nil {
			*dst = v.Value == "true"
		}
	}
	if s.Type == "" && len(s.Properties) == 0 {
		for _, alt := range []string{"oneOf", "anyOf"} {
			if l := get(n, alt); l != nil && l.Kind == yaml.SequenceNode && len(l.Content) > 0 {
				if p := m.resolve(l.Content[0]); p != nil {
					m.fill(s, p, depth+1)
				}
				break
			}
		}
	}
}

// resolve follows local $refs; nil for external or dangling ones.
func (m *model) resolve(n *yaml.Node) *yaml.Node { return m.refs.Resolve(n) }

func requirements(n *yaml.Node) ([][]string, bool) {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, false
	}
	out := [][]string{}
	for _, r := range n.Content {
		alt := []string{}
		if r.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(r.Content); i += 2 {
				alt = append(alt, r.Content[i].Value)
			}
		}
		out = append(out, alt)
	}
	return out, true
}

func scopesOf(op, global *yaml.Node) []string {
	sec := get(op, "security")
	if sec == nil {
		sec = global
	}
	var out []string
	if sec == nil || sec.Kind != yaml.SequenceNode {
		return nil
	}
	for _, r := range sec.Content {
		for i := 1; i < len(r.Content); i += 2 {
			for _, s := range r.Content[i].Content {
				out = append(out, s.Value)
			}
		}
	}
	return out
}

func get(n *yaml.Node, key string) *yaml.Node { return openapi.MapGet(n, key) }

func str(n *yaml.Node, key string) string {
	if v := get(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func decode(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil
	}
	return normalizeYAML(v)
}

// normalizeYAML turns YAML-decoded values into the shapes encoding/json
// produces (map[string]any, []any, float64 for numbers).
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeYAML(e)
		}
		return t
	case map[any]any:
		out := map[string]any{}
		for k, e := range t {
			out[strings.TrimSpace(anyString(k))] = normalizeYAML(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = normalizeYAML(e)
		}
		return t
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	}
	return v
}

func anyString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return ""
}
