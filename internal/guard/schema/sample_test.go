package schema

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// build constructs the schema.response step from a section.
func buildResponseStep(t *testing.T, spec *openapi.Spec, section string) (*responseGuard, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(section), &n); err != nil {
		t.Fatal(err)
	}
	g, err := newGuard(pipeline.Build{API: "demobank", Spec: spec, Services: pipeline.NewServices(pipeline.Services{}),
		Decode: func(v any) (bool, error) {
			dec := n.Content[0]
			return true, dec.Decode(v)
		}}, true)
	if err != nil {
		return nil, err
	}
	return g.(*responseGuard), nil
}

func TestResponseSampling(t *testing.T) {
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		t.Fatal(err)
	}
	op, _, _ := spec.Match("GET", "/api/v1/accounts/101", nil)
	drifting := `{"id":101,"owner_id":1,"balance":2500,"iban":"DE78370400440532013101","currency":"EUR","ssn":"x"}`
	tests := []struct {
		name, section string
		answers       int
		want          int // answers reported as drift
	}{
		{"every answer by default", `{response: {mode: monitor}}`, 300, 300},
		{"warm-up then one in ten", `{response: {mode: monitor, sample_rate: 0.1}}`, 300, 100 + 20},
		{"one in four", `{response: {mode: monitor, sample_rate: 0.25}}`, 140, 100 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := buildResponseStep(t, spec, tt.section)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for range tt.answers {
				x := pipeline.NewExchange()
				x.Request = httptest.NewRequest("GET", "/api/v1/accounts/101", nil)
				x.Operation = op
				resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(drifting))}
				v, err := g.Response(context.Background(), x, resp)
				if err != nil {
					t.Fatal(err)
				}
				if v.Rule == "schema.response_body" {
					got++
				}
				x.Release()
			}
			if got != tt.want {
				t.Errorf("drift reported for %d of %d answers, want %d", got, tt.answers, tt.want)
			}
		})
	}
	// Status codes are checked on every answer, sampled or not.
	g, _ := buildResponseStep(t, spec, `{response: {mode: monitor, sample_rate: 0.01}}`)
	for i := range 200 {
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("GET", "/api/v1/accounts/101", nil)
		x.Operation = op
		resp := &http.Response{StatusCode: 418, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{}`))}
		if v, _ := g.Response(context.Background(), x, resp); v.Rule != "schema.response_status" {
			t.Fatalf("answer %d with status 418 = %q, want schema.response_status", i, v.Rule)
		}
		x.Release()
	}
}

func TestResponseSamplingConfig(t *testing.T) {
	spec, _ := openapi.Parse(demobank.Spec)
	for _, tt := range []struct{ section, wantErr string }{
		{`{response: {sample_rate: 1.5}}`, "response.sample_rate"},
		{`{response: {sample_rate: -0.1}}`, "response.sample_rate"},
		{`{response: {mode: enforce, sample_rate: 0.5}}`, "response.sample_rate: enforce mode"},
		{`{response: {mode: enforce}}`, ""},
	} {
		_, err := buildResponseStep(t, spec, tt.section)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("section %s: error %v, want %q", tt.section, err, tt.wantErr)
		}
	}
}
