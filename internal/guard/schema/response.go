package schema

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Response checks the upstream answer against the documented responses.
// In monitor mode (the default) drift is an Observe verdict; in enforce
// mode the answer is replaced by a 502 problem.
func (g *responseGuard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return pipeline.Verdict{}, nil
	}
	op := g.v.ops[x.Operation]
	if op == nil || len(op.responses) == 0 {
		return pipeline.Verdict{}, nil
	}
	code := strconv.Itoa(resp.StatusCode)
	s, ok := op.responses[code]
	if !ok {
		s, ok = op.responses[code[:1]+"XX"]
	}
	if !ok {
		s, ok = op.responses["DEFAULT"]
	}
	if !ok {
		return g.drift("schema.response_status", "undocumented status "+code, nil), nil
	}
	if s == nil {
		return pipeline.Verdict{}, nil
	}
	typ, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || kindOf(typ) != kindJSON {
		return g.drift("schema.response_content_type", "undocumented media type for status "+code, nil), nil
	}
	if !g.sampled(x.Operation) {
		return pipeline.Verdict{}, nil
	}
	body, err := x.ResponseBody(resp, int64(g.v.response.MaxBodyBytes))
	if errors.Is(err, pipeline.ErrResponseTooLarge) {
		return pipeline.Verdict{}, nil // too large to check; limits.response caps sizes
	}
	if err != nil {
		return pipeline.Verdict{}, err
	}
	val, err := Walk(body, Limits{MaxDepth: 256, MaxKeys: 1 << 30, MaxArray: 1 << 30, MaxString: 1 << 30})
	if err != nil {
		return g.drift("schema.response_body", "answer is not JSON: "+err.Error(), nil), nil
	}
	x.SetResponseJSON(val) // later response guards reuse the parsed answer
	if verr := s.Validate(val); verr != nil {
		errs := schemaErrors(verr, nil)
		return g.drift("schema.response_body", "status "+code+": "+problemDetail(errs), errs), nil
	}
	return pipeline.Verdict{}, nil
}

// drift is the verdict for an answer that differs from the spec.
func (g *responseGuard) drift(rule, detail string, errs []pipeline.ProblemError) pipeline.Verdict {
	v := pipeline.Verdict{Action: pipeline.Observe, Rule: rule, Category: "API10", Detail: events.RedactText(detail, 512)}
	if g.v.response.Mode == "enforce" {
		v.Action, v.Status = pipeline.Block, http.StatusBadGateway
		v.Title = "The upstream answer does not match the API description."
	}
	_ = errs // response drift details stay in the event, never in the client's answer
	return v
}
