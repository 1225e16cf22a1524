package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"unicode/utf8"
)

// JSON types, as bits of a TypeSet.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tInteger
	tNumber
	tString
	tObject
	tArray
)

var typeNames = [...]string{"null", "boolean", "integer", "number", "string", "object", "array"}

// TypeSet is the set of JSON types a value was seen with. It is written
// in JSON as a list of type names, such as ["string","null"].
type TypeSet uint8

// Names lists the types, in a fixed order.
func (t TypeSet) Names() []string {
	var out []string
	for i, n := range typeNames {
		if t&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Has reports whether the set holds the type named name.
func (t TypeSet) Has(name string) bool {
	for i, n := range typeNames {
		if n == name {
			return t&(1<<i) != 0
		}
	}
	return false
}

// MarshalJSON writes the type names.
func (t TypeSet) MarshalJSON() ([]byte, error) {
	n := t.Names()
	if n == nil {
		n = []string{}
	}
	return json.Marshal(n)
}

// UnmarshalJSON reads a list of type names (or one name).
func (t *TypeSet) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		var one string
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return err
		}
		names = []string{one}
	}
	*t = 0
	for _, name := range names {
		found := false
		for i, n := range typeNames {
			if n == name {
				*t |= 1 << i
				found = true
			}
		}
		if !found {
			return errors.New("unknown JSON type " + name)
		}
	}
	return nil
}

// Bounds of body schema inference. A sampled body is decoded whole (it is
// at most observe.MaxBody bytes), then walked within these bounds.
const (
	// maxProps is the most properties kept per object.
	maxProps = 128
	// maxSchemaDepth is the deepest nesting walked.
	maxSchemaDepth = 12
	// maxItems is the number of array elements walked per array.
	maxItems = 16
	// maxSchemaNodes bounds the schema nodes of one endpoint (request
	// and answers together).
	maxSchemaNodes = 1024
	// maxName is the longest property name kept, in bytes.
	maxName = 128
)

// Schema is the shape of the JSON values of a body, inferred from
// sampled bodies: types, formats, properties, and a redacted example of
// strings. No value is kept.
type Schema struct {
	// Type is the set of JSON types seen.
	Type TypeSet `json:"type"`
	// Format is the string format seen (email, uuid, date-time, ...);
	// empty when none or when they differed (FormatMixed).
	Format      string `json:"format,omitempty"`
	FormatMixed bool   `json:"format_mixed,omitempty"`
	// Properties are the members of objects.
	Properties map[string]*Schema `json:"properties,omitempty"`
	// Required lists the properties present in every object seen (in
	// reports; derived from Seen and Objects).
	Required []string `json:"required,omitempty"`
	// Items is the schema of array elements.
	Items *Schema `json:"items,omitempty"`
	// Example is a redacted example of a string: a placeholder valid for
	// its format, or its shape (0 for digits, x for letters). Never for
	// sensitive values.
	Example string `json:"example,omitempty"`
	// Sensitive is the kind of sensitive data recognized here (ssn,
	// email, password_hash, ...) by name or by value.
	Sensitive string `json:"sensitive,omitempty"`
	// Seen counts the values seen here; Objects those that were objects.
	Seen    uint32 `json:"seen,omitempty"`
	Objects uint32 `json:"objects,omitempty"`
	// Truncated is set when properties or depth went past the bounds.
	Truncated bool `json:"truncated,omitempty"`
}

// inferrer walks decoded bodies into schemas within a node budget.
type inferrer struct {
	nodes     *int
	sensitive func(kind string) // nil: not collected
}

// decodeJSON decodes a JSON body keeping numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// body infers s from a JSON body; false when it is not JSON.
func (in *inferrer) body(s *Schema, b []byte) bool {
	v, err := decodeJSON(b)
	if err != nil {
		return false
	}
	in.value(s, "", v, 0)
	return true
}

// form infers s from an application/x-www-form-urlencoded body.
func (in *inferrer) form(s *Schema, b []byte) bool {
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return false
	}
	s.Seen++
	s.Type |= TypeSet(tObject)
	s.Objects++
	for name, vs := range vals {
		c := in.prop(s, name)
		if c == nil || len(vs) == 0 {
			continue
		}
		c.Seen++
		if kind := sensitiveName(name); kind != "" {
			in.mark(c, kind)
		}
		typ, format := scalarType(vs[0])
		first := c.Type&TypeSet(tString) == 0
		c.Type |= TypeSet(typ)
		if typ == tString {
			in.string(c, name, vs[0], format, first)
		}
	}
	return true
}

// prop returns (creating within bounds) the property schema of name.
func (in *inferrer) prop(s *Schema, name string) *Schema {
	if c := s.Properties[name]; c != nil {
		return c
	}
	if len(name) > maxName || !utf8.ValidString(name) || len(s.Properties) >= maxProps || *in.nodes >= maxSchemaNodes {
		s.Truncated = true
		return nil
	}
	if s.Properties == nil {
		s.Properties = map[string]*Schema{}
	}
	c := &Schema{}
	s.Properties[name] = c
	*in.nodes++
	return c
}

// value adds one decoded value seen under the property name.
func (in *inferrer) value(s *Schema, name string, v any, depth int) {
	s.Seen++
	if kind := sensitiveName(name); kind != "" {
		in.mark(s, kind)
	}
	switch x := v.(type) {
	case nil:
		s.Type |= TypeSet(tNull)
	case bool:
		s.Type |= TypeSet(tBoolean)
	case json.Number:
		if isIntegerLiteral(string(x)) {
			s.Type |= TypeSet(tInteger)
		} else {
			s.Type |= TypeSet(tNumber)
		}
	case string:
		first := s.Type&TypeSet(tString) == 0
		s.Type |= TypeSet(tString)
		in.string(s, name, x, stringFormat(x), first)
	case map[string]any:
		s.Type |= TypeSet(tObject)
		s.Objects++
		if depth >= maxSchemaDepth {
			s.Truncated = true
			return
		}
		for k, cv := range x {
			if c := in.prop(s, k); c != nil {
				in.value(c, k, cv, depth+1)
			}
		}
	case []any:
		s.Type |= TypeSet(tArray)
		if depth >= maxSchemaDepth {
			s.Truncated = true
			return
		}
		if len(x) == 0 {
			return
		}
		if s.Items == nil {
			if *in.nodes >= maxSchemaNodes {
				s.Truncated = true
				return
			}
			s.Items = &Schema{}
			*in.nodes++
		}
		for i, cv := range x {
			if i == maxItems {
				break
			}
			in.value(s.Items, name, cv, depth+1)
		}
	}
}

// string records a string's format, example and sensitivity; first is
// true for the first string seen at s.
func (in *inferrer) string(s *Schema, name, v, format string, first bool) {
	switch {
	case first:
		s.Format = format
	case s.FormatMixed:
	case s.Format != format:
		s.Format, s.FormatMixed = "", true
	}
	if s.Example == "" && v != "" {
		s.Example = redactedExample(v, format)
	}
	if kind := sensitiveValue(v, format); kind != "" {
		in.mark(s, kind)
	}
}

func (in *inferrer) mark(s *Schema, kind string) {
	if s.Sensitive == "" {
		s.Sensitive = kind
	}
	if in.sensitive != nil {
		in.sensitive(kind)
	}
}

// isIntegerLiteral reports whether a JSON number has no fraction or
// exponent.
func isIntegerLiteral(n string) bool {
	for i := 0; i < len(n); i++ {
		if c := n[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// mergeTypeFormat adds the JSON types and string format of another
// observation (oType, oFormat, oMixed) to a parameter's or a schema's:
// the types are joined; the format is kept while every string seen had
// the same one, and marked mixed once two differ.
func mergeTypeFormat(typ *TypeSet, format *string, mixed *bool, oType TypeSet, oFormat string, oMixed bool) {
	hadStr, oStr := *typ&TypeSet(tString) != 0, oType&TypeSet(tString) != 0
	*typ |= oType
	switch {
	case !oStr:
	case *mixed || oMixed:
		*format, *mixed = "", true
	case !hadStr:
		*format = oFormat
	case *format != oFormat:
		*format, *mixed = "", true
	}
}

// merge adds o's observations to s (for endpoints merged by templating).
func (s *Schema) merge(o *Schema, nodes *int) {
	if o == nil {
		return
	}
	mergeTypeFormat(&s.Type, &s.Format, &s.FormatMixed, o.Type, o.Format, o.FormatMixed)
	if s.Example == "" {
		s.Example = o.Example
	}
	if s.Sensitive == "" {
		s.Sensitive = o.Sensitive
	}
	s.Seen += o.Seen
	s.Objects += o.Objects
	s.Truncated = s.Truncated || o.Truncated
	for name, oc := range o.Properties {
		c := s.Properties[name]
		if c == nil {
			if len(s.Properties) >= maxProps || *nodes >= maxSchemaNodes {
				s.Truncated = true
				continue
			}
			if s.Properties == nil {
				s.Properties = map[string]*Schema{}
			}
			c = &Schema{}
			s.Properties[name] = c
			*nodes++
		}
		c.merge(oc, nodes)
	}
	if o.Items != nil {
		if s.Items == nil {
			if *nodes >= maxSchemaNodes {
				s.Truncated = true
				return
			}
			s.Items = &Schema{}
			*nodes++
		}
		s.Items.merge(o.Items, nodes)
	}
}

// count returns the number of nodes of s.
func (s *Schema) count() int {
	if s == nil {
		return 0
	}
	n := 1
	for _, c := range s.Properties {
		n += c.count()
	}
	return n + s.Items.count()
}

// report returns a copy of s for a report: Required filled in, examples
// of sensitive values dropped, counters kept.
func (s *Schema) report() *Schema {
	if s == nil {
		return nil
	}
	out := &Schema{Type: s.Type, Format: s.Format, FormatMixed: s.FormatMixed, Example: s.Example, Sensitive: s.Sensitive,
		Seen: s.Seen, Objects: s.Objects, Truncated: s.Truncated, Items: s.Items.report()}
	if out.Sensitive != "" {
		out.Example = ""
	}
	if len(s.Properties) > 0 {
		out.Properties = make(map[string]*Schema, len(s.Properties))
		for name, c := range s.Properties {
			out.Properties[name] = c.report()
			if s.Objects > 0 && c.Seen >= s.Objects {
				out.Required = append(out.Required, name)
			}
		}
		sort.Strings(out.Required)
	}
	return out
}
