package headers

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

func init() {
	pipeline.Register(pipeline.Registration{Name: "cors", Section: "headers", New: newRequest})
	pipeline.Register(pipeline.Registration{Name: "headers", Section: "headers", New: newResponse})
}

// build decodes and compiles the section; nil means disabled.
func build(b pipeline.Build) (*policy, error) {
	var c Config
	if _, err := b.Decode(&c); err != nil {
		return nil, err
	}
	return compile(c)
}

func newResponse(b pipeline.Build) (any, error) {
	p, err := build(b)
	if p == nil || err != nil {
		return nil, err
	}
	return &responseGuard{p: p}, nil
}

func newRequest(b pipeline.Build) (any, error) {
	p, err := build(b)
	if p == nil || err != nil {
		return nil, err
	}
	return &requestGuard{p: p, spec: b.Spec}, nil
}

// requestGuard is the "cors" request step: it answers CORS preflights
// from config and refuses methods the spec does not describe on a path.
type requestGuard struct {
	p    *policy
	spec *openapi.Spec
}

// SecurityHeaders are the headers of apiguard's own answers for the API,
// the preflights answered here included.
func (g *requestGuard) SecurityHeaders() pipeline.SecurityHeaders { return g.p.own }

// Rule ids of the request step.
const (
	RulePreflight        = "headers.cors_preflight"
	RuleCORSDenied       = "headers.cors_denied"
	RuleMethodNotAllowed = "headers.method_not_allowed"
)

// Request answers preflights and 405s; everything else continues.
func (g *requestGuard) Request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	r := x.Request
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h, reason := g.p.cors.preflight(r)
		if h == nil {
			vary := http.Header{}
			vary.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: RuleCORSDenied, Category: "API8",
				Title: "This cross-origin request is not allowed.", Header: vary,
				Detail: "preflight refused: " + reason + " not allowed"}, nil
		}
		// An allowed preflight is answered here and never reaches the
		// upstream.
		return pipeline.Verdict{Action: pipeline.Answer, Status: http.StatusNoContent, Rule: RulePreflight, Header: h}, nil
	}
	if g.p.cors != nil {
		// Refusals further down the pipeline carry the CORS headers of an
		// allowed origin too, so the browser lets the page read them.
		h := http.Header{}
		g.p.cors.actual(h, r)
		if len(h) > 0 {
			x.AnswerHeader = h
		}
	}
	if g.p.methodNotAllowed && x.MethodMismatch && g.spec != nil {
		allowed := g.spec.AllowedMethods(x.SpecPath())
		if len(allowed) == 0 {
			return pipeline.Verdict{}, nil
		}
		if slices.Contains(allowed, http.MethodGet) && !slices.Contains(allowed, http.MethodHead) {
			allowed = append(allowed, http.MethodHead)
		}
		h := http.Header{}
		h.Set("Allow", strings.Join(allowed, ", "))
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusMethodNotAllowed, Rule: RuleMethodNotAllowed, Category: "API8",
			Title: "This method is not allowed on this resource.", Header: h}, nil
	}
	return pipeline.Verdict{}, nil
}
