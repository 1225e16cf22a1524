package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fixedGuard struct {
	v     Verdict
	err   error
	panic bool
	calls int
}

func (g *fixedGuard) Request(context.Context, *Exchange) (Verdict, error) {
	g.calls++
	if g.panic {
		panic("boom")
	}
	return g.v, g.err
}

func (g *fixedGuard) Response(context.Context, *Exchange, *http.Response) (Verdict, error) {
	g.calls++
	return g.v, g.err
}

func TestRequestVerdicts(t *testing.T) {
	block := Verdict{Action: Block, Status: 401, Rule: "authn.expired", Category: "API2"}
	observe := Verdict{Action: Observe, Rule: "waf.941100", Category: "API8"}
	tests := []struct {
		name        string
		steps       []Step
		apiMode     Mode
		wantBlocked string // rule of the returned decision, "" for none
		wantActions []Action
		wantCalls   []int // calls per step, in the order given
	}{
		{"all continue", []Step{{Name: "waf", Request: &fixedGuard{}}, {Name: "authn", Request: &fixedGuard{}}}, Enforce, "", nil, []int{1, 1}},
		{"block stops later guards", []Step{{Name: "authn", Request: &fixedGuard{v: block}}, {Name: "flows", Request: &fixedGuard{}}}, Enforce, "authn.expired", []Action{Block}, []int{1, 0}},
		{"observe continues", []Step{{Name: "waf", Request: &fixedGuard{v: observe}}, {Name: "authn", Request: &fixedGuard{}}}, Enforce, "", []Action{Observe}, []int{1, 1}},
		{"guard monitor mode", []Step{{Name: "authn", Mode: Monitor, Request: &fixedGuard{v: block}}, {Name: "flows", Request: &fixedGuard{}}}, Enforce, "", []Action{Observe}, []int{1, 1}},
		{"api monitor mode", []Step{{Name: "authn", Request: &fixedGuard{v: block}}}, Monitor, "", []Action{Observe}, []int{1}},
		{"failure closed by default", []Step{{Name: "authn", Request: &fixedGuard{err: errors.New("jwks down")}}, {Name: "flows", Request: &fixedGuard{}}}, Enforce, "authn.failure", []Action{Block}, []int{1, 0}},
		{"failure open", []Step{{Name: "authn", Fail: FailOpen, Request: &fixedGuard{err: errors.New("jwks down")}}, {Name: "flows", Request: &fixedGuard{}}}, Enforce, "", []Action{Observe}, []int{1, 1}},
		{"panic is a failure", []Step{{Name: "waf", Request: &fixedGuard{panic: true}}}, Enforce, "waf.failure", []Action{Block}, []int{1}},
		{"order follows RequestOrder, not the list", []Step{{Name: "flows", Request: &fixedGuard{v: Verdict{Action: Block, Rule: "flows.x"}}}, {Name: "denylist", Request: &fixedGuard{v: Verdict{Action: Block, Rule: "denylist.ip"}}}}, Enforce, "denylist.ip", []Action{Block}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.steps)
			if err != nil {
				t.Fatal(err)
			}
			x := NewExchange()
			defer x.Release()
			d := p.Request(context.Background(), x, tt.apiMode)
			got := ""
			if d != nil {
				got = d.Verdict.Rule
			}
			if got != tt.wantBlocked {
				t.Errorf("Request() blocked by %q, want %q", got, tt.wantBlocked)
			}
			var actions []Action
			for _, dd := range x.Decisions {
				actions = append(actions, dd.Verdict.Action)
			}
			if len(actions) != len(tt.wantActions) {
				t.Fatalf("decisions = %v, want %v", actions, tt.wantActions)
			}
			for i := range actions {
				if actions[i] != tt.wantActions[i] {
					t.Errorf("decision[%d] = %v, want %v", i, actions[i], tt.wantActions[i])
				}
			}
			for i, s := range tt.steps {
				if c := s.Request.(*fixedGuard).calls; c != tt.wantCalls[i] {
					t.Errorf("step %s calls = %d, want %d", s.Name, c, tt.wantCalls[i])
				}
			}
		})
	}
}

func TestNewRejectsUnknownStep(t *testing.T) {
	if _, err := New([]Step{{Name: "nosuch", Request: &fixedGuard{}}}); err == nil {
		t.Error("New(unknown step) error = nil, want an error")
	}
	if _, err := New([]Step{{Name: "headers", Request: &fixedGuard{}}}); err == nil {
		t.Error("New(response step with only a request guard) error = nil, want an error")
	}
}

func TestResponseGuards(t *testing.T) {
	g := &fixedGuard{v: Verdict{Action: Block, Status: 502, Rule: "schema.response_drift"}}
	p, err := New([]Step{{Name: "schema.response", Response: g}})
	if err != nil {
		t.Fatal(err)
	}
	x := NewExchange()
	defer x.Release()
	if d := p.Response(context.Background(), x, &http.Response{}, Enforce); d == nil || d.Verdict.Status != 502 {
		t.Errorf("Response() = %v, want a 502 block", d)
	}
}

func TestRegisterPanicsOnUnknownName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Register(unknown) did not panic")
		}
	}()
	Register(Registration{Name: "not-in-order", Section: "x", New: func(Build) (any, error) { return nil, nil }})
}

func TestWriteProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	d := &Decision{Guard: "authn", Verdict: Verdict{Action: Block, Status: 401, Rule: "authn.expired", Title: "The token has expired.", Detail: "exp=123 secret-internal"}}
	WriteProblem(rec, ProblemFor(d, "req-1"))
	if rec.Code != 401 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("WriteProblem() = %d %q, want 401 application/problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
	body, _ := io.ReadAll(rec.Body)
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p["type"] != ProblemTypeBase+"authn.expired" || p["request_id"] != "req-1" || p["status"] != float64(401) {
		t.Errorf("problem = %v", p)
	}
	if strings.Contains(string(body), "secret-internal") {
		t.Errorf("problem body leaks the operator detail: %s", body)
	}
}

func TestExchangeBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		limit   int64
		wantErr error
	}{
		{"small", `{"a":1}`, 100, nil},
		{"exactly the limit", "12345", 5, nil},
		{"over the limit", "123456", 5, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			x.BodyLimit = tt.limit
			b, err := x.Body()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Body() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if string(b) != tt.body {
					t.Errorf("Body() = %q, want %q", b, tt.body)
				}
				again, _ := io.ReadAll(x.Request.Body)
				if string(again) != tt.body {
					t.Errorf("request body after Body() = %q, want %q for the upstream", again, tt.body)
				}
			}
		})
	}
}

// BenchmarkPipelineNoGuards is the cost of the runner itself, per request:
// exchange from the pool, an empty request and response phase, release.
func BenchmarkPipelineNoGuards(b *testing.B) {
	p, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v1/accounts/101", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := NewExchange()
		x.Request = r
		if p.Request(ctx, x, Enforce) != nil {
			b.Fatal("blocked")
		}
		x.Release()
	}
}

// BenchmarkPipelineThreeGuards adds three allowing guards.
func BenchmarkPipelineThreeGuards(b *testing.B) {
	p, err := New([]Step{{Name: "denylist", Request: &fixedGuard{}}, {Name: "waf", Request: &fixedGuard{}}, {Name: "authn", Request: &fixedGuard{}}})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v1/accounts/101", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := NewExchange()
		x.Request = r
		p.Request(ctx, x, Enforce)
		x.Release()
	}
}
