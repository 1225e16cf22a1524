package schema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/jsonwalk"
	"github.com/apiguard/apiguard/internal/openapi"
)

// compileTestSchema compiles one JSON Schema (2020-12) into a checker.
func compileTestSchema(t testing.TB, src string) *checker {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatalf("schema %s: %v", src, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("test.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("test.json")
	if err != nil {
		t.Fatalf("schema %s: %v", src, err)
	}
	return newChecker(s, map[*jsonschema.Schema]*quick{})
}

// TestQuick checks the quick form keyword by keyword: it must prove valid
// what the library accepts (or the quick form would be useless) and must
// never prove valid what the library refuses (or it would let bad input
// through). wantQuick false marks values the quick form leaves to the
// library on purpose (numeric enums, rational multipleOf, ...).
func TestQuick(t *testing.T) {
	tests := []struct {
		name, schema string
		wantForm     bool // the schema has a quick form
		values       []string
		wantQuick    []bool // per value: proven valid by the quick form
	}{
		{"types", `{"type":["string","null"]}`, true,
			[]string{`"a"`, `null`, `1`, `true`, `{}`, `[]`}, []bool{true, true, false, false, false, false}},
		{"integer", `{"type":"integer"}`, true,
			[]string{`1`, `-7`, `1.0`, `1e3`, `1.5`, `"1"`, `123456789012345678901234567890`}, []bool{true, true, true, true, false, false, true}},
		{"bounds", `{"type":"integer","minimum":1,"maximum":10,"exclusiveMaximum":10}`, true,
			[]string{`1`, `9`, `10`, `0`, `9.0`, `9.5`, `-1e400`}, []bool{true, true, false, false, true, false, false}},
		{"rational bounds", `{"type":"number","minimum":0.01,"maximum":1e3}`, true,
			[]string{`0.01`, `0.001`, `1000`, `1000.0000001`, `5`}, []bool{true, false, true, false, true}},
		{"multipleOf", `{"type":"number","multipleOf":5}`, true,
			[]string{`10`, `11`, `10.0`}, []bool{true, false, false}},
		{"strings", `{"type":"string","minLength":2,"maxLength":3,"pattern":"^[a-zé]+$"}`, true,
			[]string{`"ab"`, `"éé"`, `"ééé"`, `"éééé"`, `"a"`, `"AB"`}, []bool{true, true, true, false, false, false}},
		{"const and enum", `{"properties":{"c":{"const":"EUR"},"b":{"const":true},"e":{"enum":["a",null,false]},"n":{"enum":[1,2]}}}`, true,
			[]string{`{"c":"EUR"}`, `{"c":"USD"}`, `{"b":true}`, `{"b":false}`, `{"b":"true"}`, `{"e":null}`, `{"e":false}`, `{"e":true}`, `{"e":"a"}`, `{"n":1}`, `{"n":3}`},
			[]bool{true, false, true, false, false, true, true, false, true, false, false}},
		{"object", `{"type":"object","required":["a"],"minProperties":1,"maxProperties":2,"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"additionalProperties":false}`, true,
			[]string{`{"a":1}`, `{"a":1,"b":"x"}`, `{"b":"x"}`, `{"a":1,"c":2}`, `{"a":"1"}`, `{}`},
			[]bool{true, true, false, false, false, false}},
		{"additionalProperties schema", `{"properties":{"a":{}},"additionalProperties":{"type":"integer"}}`, true,
			[]string{`{"a":"x","b":1}`, `{"b":"x"}`}, []bool{true, false}},
		{"patternProperties", `{"patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false}`, true,
			[]string{`{"x-a":"v"}`, `{"x-a":1}`, `{"y":"v"}`}, []bool{true, false, false}},
		{"unevaluatedProperties false", `{"properties":{"a":{}},"unevaluatedProperties":false}`, true,
			[]string{`{"a":1}`, `{"a":1,"b":2}`}, []bool{true, false}},
		{"unevaluatedProperties with additionalProperties true", `{"additionalProperties":true,"unevaluatedProperties":false}`, true,
			[]string{`{"a":1}`}, []bool{true}},
		{"unevaluatedProperties with $ref: objects to the library", `{"$ref":"#/$defs/a","unevaluatedProperties":false,"$defs":{"a":{"type":["object","integer"],"properties":{"a":{}}}}}`, true,
			[]string{`{"a":1}`, `{"b":1}`, `5`, `"x"`}, []bool{false, false, true, false}},
		{"allOf and anyOf", `{"allOf":[{"type":"integer"},{"minimum":1}],"anyOf":[{"maximum":5},{"multipleOf":10}]}`, true,
			[]string{`3`, `20`, `7`, `0`, `"3"`}, []bool{true, true, false, false, false}},
		{"anyOf with a branch left to the library", `{"anyOf":[{"enum":[1,2]},{"type":"string"}]}`, true,
			[]string{`1`, `"a"`, `3`}, []bool{false, true, false}},
		{"allOf of one $ref beside readOnly (strict mode)", `{"properties":{"balance":{"allOf":[{"$ref":"#/$defs/m"}],"readOnly":true,"unevaluatedProperties":false}},"$defs":{"m":{"type":"number","minimum":-100}}}`, true,
			[]string{`{"balance":12.5}`, `{"balance":-200}`, `{"balance":{}}`}, []bool{true, false, false}},
		{"in-place loop through allOf and anyOf", `{"$ref":"#/$defs/a","$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"anyOf":[{"$ref":"#/$defs/a"}]}}}`, false,
			[]string{`1`}, []bool{false}},
		{"propertyNames and dependentRequired", `{"propertyNames":{"maxLength":3},"dependentRequired":{"a":["b"]}}`, true,
			[]string{`{"a":1,"b":2}`, `{"a":1}`, `{"long":1}`}, []bool{true, false, false}},
		{"arrays", `{"type":"array","minItems":1,"maxItems":3,"uniqueItems":true,"prefixItems":[{"type":"integer"}],"items":{"type":"string"}}`, true,
			[]string{`[1]`, `[1,"a","b"]`, `[1,"a","a"]`, `[]`, `["a"]`, `[1,2]`, `[1,"a","b","c"]`},
			[]bool{true, false, false, false, false, false, false}}, // unique mixed items: the library's equality
		{"uniqueItems of numbers", `{"uniqueItems":true}`, true,
			[]string{`[1,2]`, `["a","b"]`, `[1,1.0]`}, []bool{false, true, false}},
		{"recursive tree", `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"additionalProperties":false}}}`, true,
			[]string{`{"children":[{"children":[]},{}]}`, `{"children":[{"x":1}]}`}, []bool{true, false}},
		{"$ref loop without descending", `{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}`, false,
			[]string{`1`}, []bool{false}},
		{"oneOf by type", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, true,
			[]string{`"a"`, `1`, `true`, `1.5`}, []bool{true, true, false, false}},
		{"oneOf with overlapping branches", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, true,
			[]string{`1.5`, `1`}, []bool{false, false}}, // 1.5: integer not refuted (a number may be one); 1: both valid, invalid
		{"oneOf with a discriminator", `{"oneOf":[{"$ref":"#/$defs/card"},{"$ref":"#/$defs/iban"}],"discriminator":{"propertyName":"kind"},
			"$defs":{"base":{"type":"object","required":["kind"],"properties":{"kind":{"type":"string"}}},
			"card":{"allOf":[{"$ref":"#/$defs/base"},{"properties":{"kind":{"const":"card"},"pan":{"type":"string"}},"required":["pan"]}]},
			"iban":{"allOf":[{"$ref":"#/$defs/base"},{"properties":{"kind":{"enum":["iban","sepa"]},"iban":{"type":"string"}},"required":["iban"]}]}}}`, true,
			[]string{`{"kind":"card","pan":"4111"}`, `{"kind":"sepa","iban":"DE89"}`, `{"kind":"card","iban":"DE89"}`, `{"kind":"cash"}`, `{"pan":"4111"}`, `{"kind":"card","pan":4111}`, `"card"`},
			[]bool{true, true, false, false, false, false, false}},
		{"oneOf where both branches hold", `{"oneOf":[{"required":["a"]},{"required":["b"]}]}`, true,
			[]string{`{"a":1}`, `{"b":1}`, `{"a":1,"b":1}`, `{}`}, []bool{true, true, false, false}},
		{"oneOf with a branch left to the library", `{"oneOf":[{"enum":[1,2]},{"type":"string"}]}`, true,
			[]string{`"a"`, `1`, `3`}, []bool{false, false, false}}, // the number enum refutes nothing
		{"oneOf with a non-simple const", `{"oneOf":[{"const":5,"enum":["x"]},{"type":"string","minLength":2}]}`, true,
			[]string{`"xy"`, `"x"`}, []bool{true, false}}, // "xy" fails the enum; "x" passes it, and the const 5 is not proven
		{"oneOf under not stays with the library", `{"not":{"oneOf":[{"type":"string"}]}}`, false,
			[]string{`1`}, []bool{false}},
		{"oneOf in-place loop", `{"$ref":"#/$defs/a","$defs":{"a":{"oneOf":[{"$ref":"#/$defs/a"},{"type":"string"}]}}}`, false,
			[]string{`"a"`}, []bool{false}},
		{"false schema", `{"properties":{"a":false}}`, true,
			[]string{`{}`, `{"a":1}`}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compileTestSchema(t, tt.schema)
			if (c.quick != nil) != tt.wantForm {
				t.Fatalf("quick form = %v, want %v", c.quick != nil, tt.wantForm)
			}
			for i, src := range tt.values {
				v, err := jsonwalk.Walk([]byte(src), jsonwalk.Limits{})
				if err != nil {
					t.Fatalf("value %s: %v", src, err)
				}
				quick := c.quick != nil && c.quick.valid(v)
				libErr := c.schema.Validate(v)
				if quick && libErr != nil {
					t.Errorf("%s: quick form says valid, library says %v", src, libErr)
				}
				if quick != tt.wantQuick[i] {
					t.Errorf("%s: quick = %v, want %v (library: %v)", src, quick, tt.wantQuick[i], libErr)
				}
				if err := c.Validate(v); (err == nil) != (libErr == nil) {
					t.Errorf("%s: checker = %v, library = %v", src, err, libErr)
				}
			}
		})
	}
}

// quickSpecs are the specs whose every schema the differential test
// below exercises: demobank and the shared real-world ones the schema
// guard loads.
var quickSpecs = []string{"oai-petstore.yaml", "learn-tictactoe.yaml", "redocly-museum.yaml",
	"crapi-openapi-spec.json", "twilio-api_v2010.yaml", "box-openapi.json", "openai-openapi.json", "stripe-spec3.json"}

// TestQuickAgreesWithLibrary generates values from every schema of the
// specs (valid ones, and ones with wrong types, extra properties and
// out-of-range numbers and strings) and checks that whatever the quick
// form accepts, the library accepts too. It also checks that the quick
// form is taken often: for every request body of demobank, and for a
// large share of the generated values overall.
func TestQuickAgreesWithLibrary(t *testing.T) {
	specs := map[string]*openapi.Spec{}
	var err error
	if specs["demobank"], err = openapi.Parse(demobank.Spec); err != nil {
		t.Fatal(err)
	}
	if !testing.Short() {
		for _, name := range quickSpecs {
			s, err := openapi.Load(filepath.Join("..", "..", "..", "..", "shared", "specs", name))
			if err != nil {
				t.Fatalf("loading %s: %v", name, err)
			}
			specs[name] = s
		}
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			v, err := New(spec, true, Limits{})
			if err != nil {
				t.Fatalf("New(%s): %v", name, err)
			}
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			var checkers, withForm, values, accepted int
			try := func(where string, c *checker) {
				if c == nil {
					return
				}
				checkers++
				if c.quick == nil {
					return
				}
				withForm++
				g := &generator{r: r}
				for range 25 {
					val := g.value(c.schema, 0)
					values++
					if !c.quick.valid(val) {
						continue
					}
					accepted++
					if err := c.schema.Validate(val); err != nil {
						b, _ := json.Marshal(val)
						t.Errorf("%s: quick form accepts %s, library refuses: %v", where, b, err)
					}
				}
			}
			for op, o := range v.ops {
				for _, m := range o.media {
					try(op.ID+" body "+m.typ, m.schema)
					if name == "demobank" && m.schema != nil && m.schema.quick == nil {
						t.Errorf("%s body %s: no quick form", op.ID, m.typ)
					}
				}
				for _, p := range o.params {
					try(op.ID+" "+p.in+" "+p.name, p.schema)
				}
				for code, c := range o.responses {
					try(op.ID+" answer "+code, c)
				}
			}
			t.Logf("%s: %d schemas, %d with a quick form; %d values, %d proven valid by it", name, checkers, withForm, values, accepted)
			if accepted == 0 || accepted*20 < values {
				t.Errorf("%s: the quick form proved %d of %d values valid; the generator or the quick form is broken", name, accepted, values)
			}
		})
	}
}

// generator makes values for a schema: mostly conforming, sometimes not.
type generator struct{ r *rand.Rand }

var (
	genStrings = []string{"", "a", "EUR", "DE89370400440532013000", "2024-03-15", "2024-03-14T18:22:05Z",
		"5f0c6a2e-8f5d-4c1e-9a59-6b1f4d2c9e11", "alice@example.com", "https://example.com/x", "week", "ñandú ✓",
		strings.Repeat("x", 300), "GB", "1250.40", "+44 20 7946 0958", "x-custom"}
	genNumbers = []string{"0", "1", "-1", "42", "101", "2147483647", "2147483648", "1.5", "1.0", "1e3", "0.01",
		"9007199254740993", "-0", "100000000000000000000"}
)

func (g *generator) value(s *jsonschema.Schema, depth int) any {
	if s == nil || s.Bool != nil || depth > 8 {
		return g.scalar()
	}
	if g.r.IntN(12) == 0 {
		return g.scalar() // often the wrong type
	}
	if s.Ref != nil && g.r.IntN(4) != 0 {
		return g.value(s.Ref, depth+1)
	}
	switch {
	case s.Const != nil && g.r.IntN(5) != 0:
		return jsonish(*s.Const)
	case s.Enum != nil && len(s.Enum.Values) > 0 && g.r.IntN(6) != 0:
		return jsonish(s.Enum.Values[g.r.IntN(len(s.Enum.Values))])
	case len(s.Examples) > 0 && g.r.IntN(3) == 0:
		return jsonish(s.Examples[g.r.IntN(len(s.Examples))])
	}
	for _, alts := range [][]*jsonschema.Schema{s.OneOf, s.AnyOf, s.AllOf} {
		if len(alts) > 0 && g.r.IntN(2) == 0 {
			return g.value(alts[g.r.IntN(len(alts))], depth+1)
		}
	}
	types := []string{"object", "array", "string", "number", "integer", "boolean", "null"}
	if s.Types != nil && len(s.Types.ToStrings()) > 0 {
		types = s.Types.ToStrings()
	} else if len(s.Properties) > 0 {
		types = []string{"object"}
	}
	switch types[g.r.IntN(len(types))] {
	case "object":
		o := map[string]any{}
		for _, name := range s.Required {
			o[name] = g.value(s.Properties[name], depth+1)
		}
		for name, ps := range s.Properties {
			if g.r.IntN(2) == 0 {
				o[name] = g.value(ps, depth+1)
			}
		}
		if g.r.IntN(8) == 0 {
			o["unexpected_"+fmt.Sprint(g.r.IntN(3))] = g.scalar()
		}
		if g.r.IntN(10) == 0 && len(o) > 0 {
			for k := range o {
				delete(o, k) // a missing required property, sometimes
				break
			}
		}
		return o
	case "array":
		n := g.r.IntN(4)
		a := make([]any, n)
		for i := range a {
			switch {
			case i < len(s.PrefixItems):
				a[i] = g.value(s.PrefixItems[i], depth+1)
			default:
				a[i] = g.value(s.Items2020, depth+1)
			}
		}
		return a
	case "string":
		return g.pick(s, genStrings, func(x string) any { return x })
	case "number", "integer":
		return g.pick(s, genNumbers, func(x string) any { return json.Number(x) })
	case "boolean":
		return g.r.IntN(2) == 0
	}
	return nil
}

// pick returns one of pool, mostly one that s accepts (by the library)
// when there is one.
func (g *generator) pick(s *jsonschema.Schema, pool []string, conv func(string) any) any {
	if g.r.IntN(6) != 0 {
		var fits []any
		for _, x := range pool {
			if v := conv(x); s.Validate(v) == nil {
				fits = append(fits, v)
			}
		}
		if len(fits) > 0 {
			return fits[g.r.IntN(len(fits))]
		}
	}
	return conv(pool[g.r.IntN(len(pool))])
}

func (g *generator) scalar() any {
	switch g.r.IntN(5) {
	case 0:
		return genStrings[g.r.IntN(len(genStrings))]
	case 1:
		return json.Number(genNumbers[g.r.IntN(len(genNumbers))])
	case 2:
		return g.r.IntN(2) == 0
	case 3:
		return map[string]any{}
	}
	return nil
}

// jsonish turns a value decoded from a spec (ints, floats) into what the
// request walker produces (json.Number).
func jsonish(v any) any {
	switch t := v.(type) {
	case int, int64, float64, uint64:
		return json.Number(fmt.Sprint(t))
	case map[string]any:
		o := make(map[string]any, len(t))
		for k, e := range t {
			o[k] = jsonish(e)
		}
		return o
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = jsonish(e)
		}
		return a
	}
	return v
}

// FuzzQuick feeds arbitrary JSON to every demobank request and answer
// schema: whatever the quick form accepts, the library must accept.
func FuzzQuick(f *testing.F) {
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		f.Fatal(err)
	}
	v, err := New(spec, true, Limits{})
	if err != nil {
		f.Fatal(err)
	}
	var checkers []*checker
	for _, o := range v.ops {
		for _, m := range o.media {
			if m.schema != nil && m.schema.quick != nil {
				checkers = append(checkers, m.schema)
			}
		}
		for _, c := range o.responses {
			if c != nil && c.quick != nil {
				checkers = append(checkers, c)
			}
		}
	}
	// oneOf and anyOf shapes demobank lacks, with values of their own.
	for _, src := range []string{
		`{"oneOf":[{"$ref":"#/$defs/card"},{"$ref":"#/$defs/iban"}],"$defs":{"base":{"type":"object","required":["kind"],"properties":{"kind":{"type":"string"}}},` +
			`"card":{"allOf":[{"$ref":"#/$defs/base"},{"properties":{"kind":{"const":"card"},"pan":{"type":"string"}},"required":["pan"]}]},` +
			`"iban":{"allOf":[{"$ref":"#/$defs/base"},{"properties":{"kind":{"enum":["iban","sepa",null,true]},"iban":{"type":"string"}},"required":["iban"]}]}}}`,
		`{"oneOf":[{"type":"number"},{"type":"integer"},{"required":["a"]},{"properties":{"a":{"const":null}}}]}`,
		`{"anyOf":[{"oneOf":[{"type":"string","maxLength":2},{"type":"string","minLength":2}]},{"oneOf":[{"enum":[1,"x"]},false]}]}`,
	} {
		checkers = append(checkers, compileTestSchema(f, src))
	}
	for _, seed := range []string{`{"kind":"card","pan":"4111"}`, `{"kind":null,"iban":"x"}`, `{"a":null}`, `"ab"`, `"x"`, `1.0`} {
		f.Add([]byte(seed))
	}
	for _, seed := range []string{string(demobank.ExampleTransferOrder),
		`{"from_account_id":101,"to_account_id":201,"amount":12.5,"currency":"EUR","memo":"rent"}`,
		`{"username":"alice","password":"alice-pass"}`, `{"email":"a@example.com","display_name":"A"}`,
		`{"url":"https://example.com/a.png"}`, `[]`, `{"id":1.0}`, `{"amount":"1e400"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		val, err := jsonwalk.Walk(data, jsonwalk.Limits{})
		if err != nil {
			return
		}
		for _, c := range checkers {
			if c.quick.valid(val) {
				if err := c.schema.Validate(val); err != nil {
					t.Fatalf("quick form of %s accepts %s, library refuses: %v", c.schema.Location, data, err)
				}
			}
		}
	})
}
