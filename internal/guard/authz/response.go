package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/apiguard/apiguard/internal/jsonwalk"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// respPlan is one operation's response-time policy.
type respPlan struct {
	// rule is the response rule, checked on 2xx answers.
	rule *program
	// byStatus holds read plans by response key: "200", "2XX", "default".
	byStatus map[string]*plan
}

// readPlan returns the read plan for a status: the exact code, else its
// class ("2XX"), else "default".
func (p *respPlan) readPlan(status int) *plan {
	if len(p.byStatus) == 0 {
		return nil
	}
	code := strconv.Itoa(status)
	if rp, ok := p.byStatus[code]; ok {
		return rp
	}
	if rp, ok := p.byStatus[code[:1]+"XX"]; ok {
		return rp
	}
	return p.byStatus["default"]
}

// compileResponses builds the response plans of every operation that has
// a response rule or a response property to remove.
func compileResponses(spec *openapi.Spec, c *Config, env *cel.Env) (map[*openapi.Operation]*respPlan, error) {
	reads := newPlanner(spec.Root, read, *c.RemoveUndeclared)
	out := map[*openapi.Operation]*respPlan{}
	for _, op := range spec.Operations {
		p := &respPlan{}
		r, where, err := opRules(c, op)
		if err != nil {
			return nil, err
		}
		if r.Response != "" {
			if p.rule, err = compileRule(env, r.Response, where+".response", c.CostLimit); err != nil {
				return nil, err
			}
		}
		responses, err := resolveRef(spec.Root, openapi.MapGet(op.Node, "responses"))
		if err != nil {
			return nil, fmt.Errorf("spec operation %s: responses: %w", op.ID, err)
		}
		if responses != nil {
			for i := 0; i+1 < len(responses.Content); i += 2 {
				key := strings.ToUpper(responses.Content[i].Value)
				resp, err := resolveRef(spec.Root, responses.Content[i+1])
				if err != nil {
					return nil, fmt.Errorf("spec operation %s: responses.%s: %w", op.ID, key, err)
				}
				schema, _, err := jsonSchemaOf(spec.Root, openapi.MapGet(resp, "content"))
				if err != nil {
					return nil, fmt.Errorf("spec operation %s: responses.%s: %w", op.ID, key, err)
				}
				if schema == nil {
					continue
				}
				rp, err := reads.compile(schema, "spec operation "+op.ID+" responses."+key)
				if err != nil {
					return nil, err
				}
				if rp != nil {
					if p.byStatus == nil {
						p.byStatus = map[string]*plan{}
					}
					if key == "DEFAULT" {
						key = "default"
					}
					p.byStatus[key] = rp
				}
			}
		}
		if p.rule != nil || p.byStatus != nil {
			out[op] = p
		}
	}
	return out, nil
}

// PropertyGuard is the "authz.property" step: response rules (OWASP
// API1, when ownership is only known from the object) and removal of
// properties the caller may not read (API3).
type PropertyGuard struct {
	ops      map[*openapi.Operation]*respPlan
	max      int64
	oversize string
	report   bool
	monitor  bool
}

// NewProperty builds the "authz.property" step from the authz section. It
// returns nil when the section is absent.
func NewProperty(b pipeline.Build) (any, error) {
	c, err := load(b)
	if err != nil || c == nil {
		return nil, err
	}
	ops, err := compileReads(b.Spec, c)
	if err != nil {
		return nil, err
	}
	return &PropertyGuard{ops: ops, max: int64(c.MaxResponseBytes), oversize: c.OversizeResponse,
		report: *c.ReportRemoved, monitor: c.Mode == pipeline.Monitor}, nil
}

// Response checks the answer with the response rule and removes the
// properties the principal may not read.
func (g *PropertyGuard) Response(ctx context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return pipeline.Verdict{}, nil
	}
	p := g.ops[x.Operation]
	if p == nil {
		return pipeline.Verdict{}, nil
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	rule := p.rule
	if !ok2xx {
		rule = nil
	}
	rp := p.readPlan(resp.StatusCode)
	if rule == nil && rp == nil {
		return pipeline.Verdict{}, nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: "authz.response_encoded", Category: "API3",
			Title: "The upstream answer could not be checked.", Detail: "answer has Content-Encoding " + ce}, nil
	}
	raw, err := x.ResponseBody(resp, g.max)
	if errors.Is(err, pipeline.ErrResponseTooLarge) {
		if g.oversize == oversizePass {
			return pipeline.Verdict{Action: pipeline.Observe, Rule: "authz.response_unchecked", Category: "API3",
				Detail: fmt.Sprintf("answer larger than %d bytes passed unchecked", g.max)}, nil
		}
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: "authz.response_too_large", Category: "API3",
			Title: "The upstream answer could not be checked.", Detail: fmt.Sprintf("answer larger than %d bytes", g.max)}, nil
	}
	if err != nil {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: "authz.response_unreadable", Category: "API3",
			Title: "The upstream answer could not be checked.", Detail: "reading the answer: " + err.Error()}, nil
	}
	var doc any
	var parseErr error
	if v, ok := x.ResponseJSON(); ok {
		doc = v // parsed by an earlier guard (schema.response)
	} else if len(bytes.TrimSpace(raw)) > 0 {
		doc, parseErr = decodeJSON(raw)
	}
	pr := x.Principal
	if pr == nil {
		pr = emptyPrincipal
	}
	if rule != nil {
		if parseErr != nil {
			return ruleVerdict(false, fmt.Errorf("answer is not JSON: %w", parseErr), "response"), nil
		}
		a := activation{x: x, p: pr, status: resp.StatusCode, rbody: doc}
		if rule.usesBody {
			if a.body, err = x.JSON(); err != nil {
				return ruleVerdict(false, err, "response"), nil
			}
		}
		ok, err := rule.eval(ctx, &a)
		if v := ruleVerdict(ok, err, "response"); v.Action != pipeline.Continue {
			return v, nil
		}
	}
	if rp == nil || doc == nil && parseErr == nil {
		return pipeline.Verdict{}, nil
	}
	if parseErr != nil {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: "authz.response_unparsable", Category: "API3",
			Title: "The upstream answer could not be checked.", Detail: "answer is not JSON: " + parseErr.Error()}, nil
	}
	var f findings
	if rp.restricted(pr) {
		f.add(nil)
		doc = nil
	} else {
		doc = rp.filterRead(doc, pr, nil, &f)
	}
	if f.count == 0 {
		return pipeline.Verdict{}, nil
	}
	v := pipeline.Verdict{Action: pipeline.Observe, Rule: "authz.property_removed", Category: "API3",
		Detail: fmt.Sprintf("removed %d properties: %s", f.count, strings.Join(f.pointers, ", "))}
	if g.monitor || x.Mode == pipeline.Monitor {
		x.ForgetResponseJSON() // doc was filtered in place; the body was not
		v.Detail = fmt.Sprintf("would remove %d properties: %s", f.count, strings.Join(f.pointers, ", "))
		return v, nil
	}
	out, err := encodeJSON(doc)
	if err != nil { // cannot happen for decoded JSON; fail closed anyway
		return pipeline.Verdict{}, fmt.Errorf("encoding the filtered answer: %w", err)
	}
	x.ReplaceResponseBody(resp, out)
	x.SetResponseJSON(doc)
	if !g.report {
		return pipeline.Verdict{}, nil
	}
	return v, nil
}

// answerLimits let the strict walker take any answer encoding/json would:
// an upstream's answer is not bounded like a client's request.
var answerLimits = jsonwalk.Limits{MaxDepth: 10000, MaxKeys: math.MaxInt, MaxArray: math.MaxInt, MaxString: math.MaxInt}

// decodeJSON parses one JSON value, numbers kept exact. The one-pass
// walker does it with a third of encoding/json's allocations; what it
// refuses (a repeated key, invalid UTF-8) goes to encoding/json, which
// takes the last of repeated keys and replaces invalid bytes, as before.
func decodeJSON(b []byte) (any, error) {
	if v, err := jsonwalk.Walk(b, answerLimits); err == nil {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// encodeJSON writes a value without HTML escaping and without the
// encoder's trailing newline.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
