package schema

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// FuzzParamParsers checks the parameter parsers never panic on any input.
func FuzzParamParsers(f *testing.F) {
	f.Add(".a,b", ";id=3;id=4", "a=1&b[x]=2")
	f.Fuzz(func(t *testing.T, path, matrix, query string) {
		for _, p := range []*param{
			{name: "id", style: "simple", typ: "array", itemType: "integer"},
			{name: "id", style: "label", explode: true, typ: "object", props: map[string]string{"a": "integer"}},
			{name: "id", style: "matrix", explode: true, typ: "array", itemType: "string"},
			{name: "id", style: "matrix", typ: "object"},
			{name: "b", style: "deepObject", typ: "object", props: map[string]string{"x": "number"}},
			{name: "a", style: "pipeDelimited", typ: "array", itemType: "boolean"},
			{name: "a", style: "form", explode: true, typ: "object", props: map[string]string{"a": "integer"}},
		} {
			_, _ = parsePath(p, path)
			_, _ = parsePath(p, matrix)
			_, _ = parseHeader(p, path)
			q := map[string][]string{}
			for _, kv := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(kv, "=")
				q[k] = append(q[k], v)
			}
			_, _, _ = parseQuery(p, q)
		}
	})
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		p    param
		in   string
		want string
	}{
		{param{name: "id", style: "simple", typ: "integer"}, "5", "5"},
		{param{name: "id", style: "simple", typ: "array", itemType: "integer"}, "3,4,5", "[3 4 5]"},
		{param{name: "id", style: "label", typ: "array", itemType: "string"}, ".a,b", "[a b]"},
		{param{name: "id", style: "matrix", typ: "integer"}, ";id=5", "5"},
		{param{name: "id", style: "matrix", explode: true, typ: "array", itemType: "integer"}, ";id=3;id=4", "[3 4]"},
		{param{name: "id", style: "simple", explode: true, typ: "object", props: map[string]string{"a": "integer"}}, "a=1,b=x", "map[a:1 b:x]"},
	}
	for _, tt := range tests {
		got, err := parsePath(&tt.p, tt.in)
		if err != nil || fmt.Sprint(got) != tt.want {
			t.Errorf("parsePath(%s %q) = %v, %v, want %s", tt.p.style, tt.in, got, err, tt.want)
		}
	}
}

const strictSpec = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    post:
      operationId: x
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                n: {type: integer, nullable: true}
                e: {type: number, minimum: 0, exclusiveMinimum: true}
                all: {allOf: [{$ref: '#/components/schemas/A'}, {properties: {b: {type: string}}}]}
      responses:
        '200': {description: ok}
components:
  schemas:
    A: {type: object, properties: {a: {type: string}}}
`

func TestStrictAnd30(t *testing.T) {
	spec, err := openapi.Parse([]byte(strictSpec))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		strict bool
		body   string
		want   string
	}{
		{false, `{"n":null,"zz":1}`, ""},
		{true, `{"n":null,"zz":1}`, "schema.body"},
		{true, `{"n":5}`, ""},
		{true, `{"e":0}`, "schema.body"},
		{true, `{"all":{"a":"x","b":"y"}}`, ""},
		{true, `{"all":{"a":"x","c":"y"}}`, "schema.body"},
	}
	for _, tt := range tests {
		v, err := New(spec, tt.strict, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		g := &requestGuard{v: v}
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
		x.Request.Header.Set("Content-Type", "application/json")
		x.Operation = spec.Operations[0]
		verdict, err := g.Request(t.Context(), x)
		if err != nil || verdict.Rule != tt.want {
			t.Errorf("Request(strict=%v, %s) = %q %v (%s), want %q", tt.strict, tt.body, verdict.Rule, err, verdict.Detail, tt.want)
		}
		x.Release()
	}
}

// body1k is a valid 1 KiB createTransfer body: pretty-printed, its memo
// 140 characters of which 70 are \u escapes.
func body1k() []byte {
	var memo strings.Builder
	for i := range 140 {
		if i%2 == 0 {
			memo.WriteString(`\u00e9`)
		} else {
			memo.WriteByte('a')
		}
	}
	b := fmt.Sprintf("{\n  \"from_account_id\": 101,\n  \"to_account_id\": 201,\n  \"amount\": 12.5,\n  \"currency\": \"EUR\",\n  \"memo\": \"%s\"\n}", memo.String())
	return []byte(b + strings.Repeat(" ", 1024-len(b)))
}

// BenchmarkValidateTransfer1KiB is the schema.request guard on demobank's
// createTransfer with a 1 KiB JSON body: content type, walk, validation.
func BenchmarkValidateTransfer1KiB(b *testing.B) {
	benchRequestGuard(b, "createTransfer", "/api/v1/transfers", string(body1k()))
}

// BenchmarkValidateTransferOrder is the schema.request guard on demobank's
// createTransferOrder with the load bench's 1 KiB JSON POST (nested
// objects, IBANs, UUIDs, dates, an e-mail, an array).
func BenchmarkValidateTransferOrder(b *testing.B) {
	benchRequestGuard(b, "createTransferOrder", "/api/v1/transfer-orders", string(demobank.ExampleTransferOrder))
}

// benchRequestGuard measures the schema.request guard (strict) on a JSON
// POST of body to demobank's operation opID at path.
func benchRequestGuard(b *testing.B, opID, path, body string) {
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(spec, true, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	var op *openapi.Operation
	for _, o := range spec.Operations {
		if o.ID == opID {
			op = o
		}
	}
	if op == nil {
		b.Fatalf("no %s in demobank's spec", opID)
	}
	g := &requestGuard{v: v}
	r := httptest.NewRequest("POST", path, nil)
	r.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		x := pipeline.NewExchange()
		rr := *r
		rr.Body = nopCloser{strings.NewReader(body)}
		rr.ContentLength = int64(len(body))
		x.Request = &rr
		x.Operation = op
		if verdict, err := g.Request(b.Context(), x); err != nil || verdict.Action != pipeline.Continue {
			b.Fatalf("Request() = %+v, %v", verdict, err)
		}
		x.Release()
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
