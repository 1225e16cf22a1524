package schema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
)

const thirdParty = `
openapi: 3.1.0
info: {title: payments provider, version: "1"}
paths:
  /v1/payments/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        '200':
          description: a payment
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                required: [id, status, amount]
                properties:
                  id: {type: string}
                  status: {enum: [pending, settled, failed]}
                  amount: {type: integer, minimum: 0}
        '404':
          description: no such payment
        default:
          description: error
          content:
            application/problem+json:
              schema: {type: object, required: [title], properties: {title: {type: string, maxLength: 200}}}
`

func TestAnswerValidator(t *testing.T) {
	spec, err := openapi.Parse([]byte(thirdParty))
	if err != nil {
		t.Fatal(err)
	}
	op := spec.Operations[0]
	decode := func(s string) any {
		if s == "" {
			return nil
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantErr string
	}{
		{"conforming", 200, "application/json", `{"id":"p1","status":"settled","amount":100}`, ""},
		{"unknown status value", 200, "application/json", `{"id":"p1","status":"refunded","amount":100}`, "/status"},
		{"member the spec does not declare", 200, "application/json", `{"id":"p1","status":"settled","amount":1,"url":"http://169.254.169.254/"}`, "url"},
		{"missing member", 200, "application/json", `{"id":"p1","status":"settled"}`, "amount"},
		{"wrong type", 200, "application/json", `{"id":"p1","status":"settled","amount":"100"}`, "/amount"},
		{"documented without a body", 404, "application/json", "", ""},
		{"default answer checked", 500, "application/problem+json", `{"title":` + `"` + strings.Repeat("x", 300) + `"}`, "/title"},
		{"JSON promised, none sent", 200, "application/json", "", "no JSON body"},
	}
	v := NewAnswerValidator()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.ValidateResponse(spec, op, tt.status, tt.ctype, decode(tt.body))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ValidateResponse(%d %s) = %v, want %q", tt.status, tt.body, err, tt.wantErr)
			}
		})
	}
	if len(v.specs) != 1 {
		t.Errorf("compiled %d specs, want 1 (compiled once, reused)", len(v.specs))
	}
}
