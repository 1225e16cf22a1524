package schema

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// checker validates values against one compiled schema. The library's
// validator builds scopes, location slices and sets of unevaluated
// properties for every value it visits, which made it the largest cost of
// a JSON request through the full protection profile (27 µs and 220
// allocations for a 1 KiB body with 40 values). Most API schemas only use
// the plain keywords (types, properties, required, additionalProperties or
// unevaluatedProperties: false, items, lengths, patterns, bounds, enums,
// formats, $ref, allOf, anyOf, oneOf), so each schema made only of those
// also gets a quick form that
// answers "valid" without allocating. The quick form never has the last
// word on an invalid value: anything it does not prove valid (a failed
// keyword, a keyword or a value it does not handle) goes to the library,
// whose answer, and error, stands. It is therefore exact for valid values
// by construction: TestQuickAgreesWithLibrary and FuzzQuick check that a
// value it accepts is one the library accepts.
type checker struct {
	schema *jsonschema.Schema
	quick  *quick // nil: the schema uses a keyword the quick form lacks
}

// Validate returns nil when v is valid, else the library's error.
func (c *checker) Validate(v any) error {
	if c.quick != nil && c.quick.valid(v) {
		return nil
	}
	return c.schema.Validate(v)
}

// newChecker wraps s; quicks memoizes the quick forms of the schemas
// already seen, shared by every operation of a spec.
func newChecker(s *jsonschema.Schema, quicks map[*jsonschema.Schema]*quick) *checker {
	if s == nil {
		return nil
	}
	return &checker{schema: s, quick: quickOf(s, quicks)}
}

// JSON types, as bits.
const (
	qNull = 1 << iota
	qBool
	qNumber
	qInteger
	qString
	qArray
	qObject
)

// quick is the quick form of one schema.
type quick struct {
	bool_ *bool
	types int // 0: any type
	// const and enum: values are proven valid only against strings,
	// booleans and null (numbers, arrays and objects go to the library,
	// whose equality is numeric and deep).
	hasConst, constSimple bool
	constant              any
	hasEnum               bool
	enumStrings           map[string]bool
	enumTrue, enumFalse   bool
	enumNull              bool
	enumSimple            bool // every enum value is a string, a boolean or null
	format                func(any) error
	ref                   *quick
	allOf, anyOf          []*quick // anyOf: one branch proven valid is enough
	// oneOf: one branch proven valid and every other one proven invalid
	// (refutes), as with a discriminator property.
	oneOf []*quick
	// objectsToLibrary: unevaluatedProperties beside an in-place applicator
	// ($ref, allOf, anyOf, oneOf), whose annotations decide what was evaluated;
	// object values go to the library (other values are not affected).
	objectsToLibrary bool

	// object
	minProps, maxProps int // -1: none
	required           []string
	props              map[string]*quick
	patternProps       []patternQuick
	hasAdditional      bool   // additionalProperties present: every property is evaluated
	noAdditional       bool   // additionalProperties: false
	additional         *quick // additionalProperties as a schema
	noUnevaluated      bool   // unevaluatedProperties: false
	unevaluated        *quick // unevaluatedProperties as a schema
	propertyNames      *quick
	dependentRequired  map[string][]string

	// array
	minItems, maxItems int // -1: none
	unique             bool
	prefixItems        []*quick
	items              *quick

	// string
	minLen, maxLen int // -1: none
	pattern        jsonschema.Regexp

	// number
	min, max, exMin, exMax, multipleOf *bound
}

type patternQuick struct {
	re jsonschema.Regexp
	q  *quick
}

// bound is a numeric keyword: the library's exact rational, and the same
// as an int64 when it is one, so that integer values compare without
// allocating.
type bound struct {
	rat   *big.Rat
	i     int64
	isInt bool
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	b := &bound{rat: r}
	if r.IsInt() && r.Num().IsInt64() {
		b.i, b.isInt = r.Num().Int64(), true
	}
	return b
}

// quickOf returns the quick form of s, or nil when s, or a schema its
// validation can reach, uses a keyword the quick form does not handle, or
// when a chain of $refs loops back without descending into the value
// (the library reports that; the quick form must not loop on it). quicks
// holds the forms built so far, and nil for the schemas found not to
// qualify: a form is only built when everything its schema reaches
// qualifies, so a form in it never leads to one that does not.
func quickOf(s *jsonschema.Schema, quicks map[*jsonschema.Schema]*quick) *quick {
	if q, ok := quicks[s]; ok {
		return q
	}
	var reach []*jsonschema.Schema
	seen := map[*jsonschema.Schema]bool{s: true}
	stack := []*jsonschema.Schema{s}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if q, built := quicks[n]; built {
			if q == nil {
				quicks[s] = nil
				return nil
			}
			continue // built: everything it reaches qualifies
		}
		if !quickable(n) {
			quicks[s] = nil
			return nil
		}
		reach = append(reach, n)
		for _, sub := range subschemas(n) {
			if !seen[sub] {
				seen[sub] = true
				stack = append(stack, sub)
			}
		}
	}
	if inPlaceLoop(reach) {
		quicks[s] = nil
		return nil
	}
	for _, n := range reach {
		quicks[n] = &quick{}
	}
	for _, n := range reach {
		fill(quicks[n], n, quicks)
	}
	return quicks[s]
}

// subschemas are the schemas the quick form of s validates with.
func subschemas(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	add := func(sub *jsonschema.Schema) {
		if sub != nil {
			out = append(out, sub)
		}
	}
	add(s.Ref)
	for _, sub := range s.AllOf {
		add(sub)
	}
	for _, sub := range s.AnyOf {
		add(sub)
	}
	for _, sub := range s.OneOf {
		add(sub)
	}
	for _, sub := range s.Properties {
		add(sub)
	}
	for _, sub := range s.PatternProperties {
		add(sub)
	}
	if sub, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		add(sub)
	}
	add(s.UnevaluatedProperties)
	add(s.PropertyNames)
	for _, sub := range s.PrefixItems {
		add(sub)
	}
	add(s.Items2020)
	return out
}

// inPlaceLoop reports whether the in-place applicators ($ref, allOf,
// anyOf, oneOf) of the schemas in reach loop back without descending into the
// value (a schema that, through them, applies itself to the same value).
// Schemas outside reach are built already, so loop-free.
func inPlaceLoop(reach []*jsonschema.Schema) bool {
	const (
		unseen = iota
		open
		done
	)
	state := make(map[*jsonschema.Schema]int, len(reach))
	for _, n := range reach {
		state[n] = unseen
	}
	var visit func(n *jsonschema.Schema) bool
	visit = func(n *jsonschema.Schema) bool {
		st, inReach := state[n]
		if !inReach || st == done {
			return false
		}
		if st == open {
			return true
		}
		state[n] = open
		for _, m := range inPlace(n) {
			if visit(m) {
				return true
			}
		}
		state[n] = done
		return false
	}
	for _, n := range reach {
		if visit(n) {
			return true
		}
	}
	return false
}

// inPlace are the schemas s applies to the same value.
func inPlace(s *jsonschema.Schema) []*jsonschema.Schema {
	out := append(append(append([]*jsonschema.Schema{}, s.AllOf...), s.AnyOf...), s.OneOf...)
	if s.Ref != nil {
		out = append(out, s.Ref)
	}
	return out
}

// fill builds q, the quick form of s; the forms of its subschemas are in
// quicks already (allocated, maybe not yet filled).
func fill(q *quick, s *jsonschema.Schema, quicks map[*jsonschema.Schema]*quick) {
	*q = quick{}
	if s.Bool != nil {
		q.bool_ = s.Bool
		return
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			q.types |= typeBits[t]
		}
	}
	if s.Const != nil {
		q.hasConst, q.constant = true, *s.Const
		switch q.constant.(type) {
		case string, bool, nil:
			q.constSimple = true
		}
	}
	if s.Enum != nil {
		q.hasEnum, q.enumStrings, q.enumSimple = true, map[string]bool{}, true
		for _, v := range s.Enum.Values {
			switch t := v.(type) {
			case string:
				q.enumStrings[t] = true
			case bool:
				q.enumTrue, q.enumFalse = q.enumTrue || t, q.enumFalse || !t
			case nil:
				q.enumNull = true
			default:
				q.enumSimple = false
			}
		}
	}
	if s.Format != nil {
		q.format = s.Format.Validate
	}
	q.ref = quicks[s.Ref]
	for _, sub := range s.AllOf {
		q.allOf = append(q.allOf, quicks[sub])
	}
	for _, sub := range s.AnyOf {
		q.anyOf = append(q.anyOf, quicks[sub])
	}
	for _, sub := range s.OneOf {
		q.oneOf = append(q.oneOf, quicks[sub])
	}
	q.objectsToLibrary = s.UnevaluatedProperties != nil && (s.Ref != nil || len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0)
	// object
	q.minProps, q.maxProps = orNone(s.MinProperties), orNone(s.MaxProperties)
	q.required = s.Required
	if len(s.Properties) > 0 {
		q.props = make(map[string]*quick, len(s.Properties))
		for name, sub := range s.Properties {
			q.props[name] = quicks[sub]
		}
	}
	for re, sub := range s.PatternProperties {
		q.patternProps = append(q.patternProps, patternQuick{re: re, q: quicks[sub]})
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		q.hasAdditional, q.noAdditional = true, !a
	case *jsonschema.Schema:
		q.hasAdditional, q.additional = true, quicks[a]
	}
	if u := s.UnevaluatedProperties; u != nil {
		if u.Bool != nil && !*u.Bool {
			q.noUnevaluated = true
		} else {
			q.unevaluated = quicks[u]
		}
	}
	q.propertyNames = quicks[s.PropertyNames]
	q.dependentRequired = s.DependentRequired
	// array
	q.minItems, q.maxItems = orNone(s.MinItems), orNone(s.MaxItems)
	q.unique = s.UniqueItems
	for _, sub := range s.PrefixItems {
		q.prefixItems = append(q.prefixItems, quicks[sub])
	}
	q.items = quicks[s.Items2020]
	// string
	q.minLen, q.maxLen = orNone(s.MinLength), orNone(s.MaxLength)
	q.pattern = s.Pattern
	// number
	q.min, q.max = newBound(s.Minimum), newBound(s.Maximum)
	q.exMin, q.exMax = newBound(s.ExclusiveMinimum), newBound(s.ExclusiveMaximum)
	q.multipleOf = newBound(s.MultipleOf)
}

// orNone is a count keyword's value, or -1 when it is absent.
func orNone(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// typeBits are the JSON type names as bits.
var typeBits = map[string]int{"null": qNull, "boolean": qBool, "number": qNumber, "integer": qInteger,
	"string": qString, "array": qArray, "object": qObject}

// quickable reports whether s uses only keywords the quick form handles,
// under the 2020-12 rules it implements. not needs its schema proven
// invalid, which the quick form only does for oneOf's branches (refutes);
// unevaluatedProperties
// beside an in-place applicator is left to the library for objects (see
// objectsToLibrary).
func quickable(s *jsonschema.Schema) bool {
	switch {
	case s.Bool != nil:
		return true
	case s.DraftVersion < 2020,
		s.RecursiveRef != nil, s.DynamicRef != nil,
		s.Not != nil,
		s.If != nil, s.Then != nil, s.Else != nil,
		len(s.Dependencies) > 0, len(s.DependentSchemas) > 0,
		s.Contains != nil, s.MinContains != nil, s.MaxContains != nil,
		s.Items != nil, s.AdditionalItems != nil, s.UnevaluatedItems != nil,
		s.ContentEncoding != nil, s.ContentMediaType != nil, s.ContentSchema != nil,
		len(s.Extensions) > 0,
		s.Format != nil && (s.Format.Name == "regex" || s.Format.Validate == nil):
		return false
	}
	if _, ok := s.AdditionalProperties.(bool); !ok && s.AdditionalProperties != nil {
		if _, ok := s.AdditionalProperties.(*jsonschema.Schema); !ok {
			return false
		}
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			if typeBits[t] == 0 {
				return false
			}
		}
	}
	return true
}

// valid reports whether v is proven valid; false means "ask the library".
func (q *quick) valid(v any) bool {
	if q.bool_ != nil {
		return *q.bool_
	}
	var ok bool
	switch t := v.(type) {
	case string:
		ok = q.typeIs(qString) && q.str(t)
	case json.Number:
		ok = q.number(t)
	case map[string]any:
		ok = !q.objectsToLibrary && q.typeIs(qObject) && q.object(t)
	case []any:
		ok = q.typeIs(qArray) && q.array(t)
	case bool:
		ok = q.typeIs(qBool)
	case nil:
		ok = q.typeIs(qNull)
	default:
		return false // float64 and other Go types: the library knows them
	}
	if !ok || !q.constEnumOK(v) || q.format != nil && q.format(v) != nil {
		return false
	}
	if q.ref != nil && !q.ref.valid(v) {
		return false
	}
	for _, sub := range q.allOf {
		if !sub.valid(v) {
			return false
		}
	}
	if len(q.oneOf) > 0 && !q.oneValid(v) {
		return false
	}
	if len(q.anyOf) == 0 {
		return true
	}
	for _, sub := range q.anyOf {
		if sub.valid(v) {
			return true
		}
	}
	return false
}

// oneValid reports whether one branch of oneOf is proven valid for v and
// every other one proven invalid.
func (q *quick) oneValid(v any) bool {
	found := false
	for _, sub := range q.oneOf {
		switch {
		case sub.refutes(v):
		case !found && sub.valid(v):
			found = true
		default:
			return false // valid too, or undecided: the library decides
		}
	}
	return found
}

// refutes reports whether v is proven invalid, by the cheap keywords a
// discriminated oneOf branch fails on: a false schema, the type, a
// required property, a simple const or enum, and the same in the
// properties present and through $ref, allOf, anyOf and oneOf. false
// means "not proven": it is never an answer on its own.
func (q *quick) refutes(v any) bool {
	if q.bool_ != nil {
		return !*q.bool_
	}
	if q.types != 0 && !q.typeMaybe(v) {
		return true
	}
	if q.hasConst && q.constSimple && !simpleEqual(q.constant, v) {
		return true
	}
	if q.hasEnum && q.enumSimple && !q.enumHas(v) {
		return true
	}
	if o, ok := v.(map[string]any); ok {
		for _, name := range q.required {
			if _, ok := o[name]; !ok {
				return true
			}
		}
		for name, pq := range q.props {
			if pv, ok := o[name]; ok && pq.refutes(pv) {
				return true
			}
		}
	}
	if q.ref != nil && q.ref.refutes(v) {
		return true
	}
	for _, sub := range q.allOf {
		if sub.refutes(v) {
			return true
		}
	}
	if len(q.anyOf) > 0 && allRefute(q.anyOf, v) {
		return true
	}
	return len(q.oneOf) > 0 && allRefute(q.oneOf, v)
}

func allRefute(qs []*quick, v any) bool {
	for _, sub := range qs {
		if !sub.refutes(v) {
			return false
		}
	}
	return true
}

// typeMaybe reports whether v may have one of q's types. A number may be
// an integer (1.0 is one), so numbers are refuted only when neither
// number nor integer is allowed.
func (q *quick) typeMaybe(v any) bool {
	switch v.(type) {
	case string:
		return q.types&qString != 0
	case json.Number:
		return q.types&(qNumber|qInteger) != 0
	case map[string]any:
		return q.types&qObject != 0
	case []any:
		return q.types&qArray != 0
	case bool:
		return q.types&qBool != 0
	case nil:
		return q.types&qNull != 0
	}
	return true // other Go types: not proven
}

// simpleEqual reports whether v equals c, a string, boolean or null
// constant (a value of another JSON type never does).
func simpleEqual(c, v any) bool {
	switch c := c.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == c
	case bool:
		b, ok := v.(bool)
		return ok && b == c
	case nil:
		return v == nil
	}
	return false
}

func (q *quick) typeIs(bit int) bool { return q.types == 0 || q.types&bit != 0 }

// constEnumOK reports whether v is proven to satisfy const and enum.
func (q *quick) constEnumOK(v any) bool {
	if q.hasConst && (!q.constSimple || !simpleEqual(q.constant, v)) {
		return false
	}
	return !q.hasEnum || q.enumHas(v)
}

// enumHas reports whether v is one of the enum's strings, booleans or
// null (the only values it can be proven to hold).
func (q *quick) enumHas(v any) bool {
	switch t := v.(type) {
	case string:
		return q.enumStrings[t]
	case bool:
		return t && q.enumTrue || !t && q.enumFalse
	case nil:
		return q.enumNull
	}
	return false
}

func (q *quick) str(s string) bool {
	if q.minLen >= 0 || q.maxLen >= 0 {
		n := utf8.RuneCountInString(s)
		if q.minLen >= 0 && n < q.minLen || q.maxLen >= 0 && n > q.maxLen {
			return false
		}
	}
	return q.pattern == nil || q.pattern.MatchString(s)
}

func (q *quick) object(o map[string]any) bool {
	if q.minProps >= 0 && len(o) < q.minProps || q.maxProps >= 0 && len(o) > q.maxProps {
		return false
	}
	for _, name := range q.required {
		if _, ok := o[name]; !ok {
			return false
		}
	}
	for name, val := range o {
		evaluated := false
		if pq, ok := q.props[name]; ok {
			if !pq.valid(val) {
				return false
			}
			evaluated = true
		}
		for _, pp := range q.patternProps {
			if pp.re.MatchString(name) {
				if !pp.q.valid(val) {
					return false
				}
				evaluated = true
			}
		}
		if !evaluated && q.hasAdditional {
			if q.noAdditional || q.additional != nil && !q.additional.valid(val) {
				return false
			}
			evaluated = true
		}
		if !evaluated && (q.noUnevaluated || q.unevaluated != nil && !q.unevaluated.valid(val)) {
			return false
		}
		if q.propertyNames != nil && !q.propertyNames.valid(name) {
			return false
		}
	}
	for name, deps := range q.dependentRequired {
		if _, ok := o[name]; ok {
			for _, d := range deps {
				if _, ok := o[d]; !ok {
					return false
				}
			}
		}
	}
	return true
}

func (q *quick) array(a []any) bool {
	if q.minItems >= 0 && len(a) < q.minItems || q.maxItems >= 0 && len(a) > q.maxItems {
		return false
	}
	if q.unique && len(a) > 1 && !distinctStrings(a) {
		return false
	}
	n := min(len(q.prefixItems), len(a))
	for i := range n {
		if !q.prefixItems[i].valid(a[i]) {
			return false
		}
	}
	if q.items != nil {
		for _, e := range a[n:] {
			if !q.items.valid(e) {
				return false
			}
		}
	}
	return true
}

// distinctStrings reports whether a holds only strings, all different
// (other items are left to the library's notion of equality).
func distinctStrings(a []any) bool {
	if len(a) > 32 {
		seen := make(map[string]bool, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok || seen[s] {
				return false
			}
			seen[s] = true
		}
		return true
	}
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return false
		}
		for _, f := range a[:i] {
			if s == f.(string) {
				return false
			}
		}
	}
	return true
}

func (q *quick) number(n json.Number) bool {
	i, small := smallInt(string(n))
	if !q.typeIs(qNumber) {
		if q.types&qInteger == 0 || !small && !ratIsInt(string(n)) {
			return false
		}
	}
	if q.min == nil && q.max == nil && q.exMin == nil && q.exMax == nil && q.multipleOf == nil {
		return true
	}
	var r *big.Rat // the value as the library sees it, made when needed
	for _, c := range [...]struct {
		b    *bound
		sign int  // the comparison result that fails
		eq   bool // equal fails too
	}{{q.min, -1, false}, {q.max, 1, false}, {q.exMin, -1, true}, {q.exMax, 1, true}} {
		if c.b == nil {
			continue
		}
		var got int
		if small && c.b.isInt {
			got = cmpInt(i, c.b.i)
		} else {
			if r == nil {
				var ok bool
				if r, ok = new(big.Rat).SetString(string(n)); !ok {
					return false
				}
			}
			got = r.Cmp(c.b.rat)
		}
		if got == c.sign || c.eq && got == 0 {
			return false
		}
	}
	if m := q.multipleOf; m != nil {
		if small && m.isInt && m.i != 0 {
			return i%m.i == 0
		}
		return false // the library's rational division decides
	}
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// smallInt parses s when it is a plain integer literal of at most 18
// digits (which an int64 holds exactly).
func smallInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 18 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// ratIsInt is the library's test for "integer" on other literals (1.0,
// 1e3).
func ratIsInt(s string) bool {
	r, ok := new(big.Rat).SetString(s)
	return ok && r.IsInt()
}
