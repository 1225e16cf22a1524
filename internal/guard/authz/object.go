package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// objectPlan is one operation's request-time object and property policy.
type objectPlan struct {
	rule *program
	// write is the request body's write plan, nil when no property is
	// restricted.
	write *plan
	// otherMedia are the non-JSON request media types the operation
	// declares; bodies of those types are not checked as JSON.
	otherMedia []string
	// readsAnswer is true when the property step reads this operation's
	// answers: the request then asks the upstream for an unencoded one.
	readsAnswer bool
	// access are the objects the caller must be able to read.
	access []*accessTemplate
}

// ObjectGuard is the "authz.object" step: object-level rules (OWASP API1)
// and refusal of writes to properties the caller may not write (API3,
// mass assignment).
type ObjectGuard struct {
	ops   map[*openapi.Operation]*objectPlan
	svc   *pipeline.Services
	cache *accessCache // nil when access_cache is off
}

// NewObject builds the "authz.object" step from the authz section. It
// returns nil when the section is absent.
func NewObject(b pipeline.Build) (any, error) {
	c, err := load(b)
	if err != nil || c == nil {
		return nil, err
	}
	env, err := ruleEnv(false)
	if err != nil {
		return nil, err
	}
	writes := newPlanner(b.Spec.Root, write, *c.RefuseUndeclared)
	reads, err := compileReads(b.Spec, c)
	if err != nil {
		return nil, err
	}
	g := &ObjectGuard{ops: map[*openapi.Operation]*objectPlan{}, svc: b.Services}
	if c.AccessCache.TTL > 0 {
		g.cache = newAccessCache(c.AccessCache.TTL.D(), c.AccessCache.MaxEntries)
	}
	for _, op := range b.Spec.Operations {
		p := &objectPlan{}
		r, where, err := opRules(c, op)
		if err != nil {
			return nil, err
		}
		if r.Request != "" {
			if p.rule, err = compileRule(env, r.Request, where+".request", c.CostLimit); err != nil {
				return nil, err
			}
		}
		if rb, err := resolveRef(b.Spec.Root, openapi.MapGet(op.Node, "requestBody")); err != nil {
			return nil, err
		} else if rb != nil {
			schema, others, err := jsonSchemaOf(b.Spec.Root, openapi.MapGet(rb, "content"))
			if err != nil {
				return nil, err
			}
			if schema != nil {
				if p.write, err = writes.compile(schema, "spec operation "+op.ID+" requestBody"); err != nil {
					return nil, err
				}
			}
			p.otherMedia = others
		}
		for i, raw := range r.RequireAccess {
			t, err := parseAccessTemplate(raw)
			if err != nil {
				return nil, fmt.Errorf("%s.require_access[%d]: %w", where, i, err)
			}
			p.access = append(p.access, t)
		}
		p.readsAnswer = reads[op] != nil
		if p.rule != nil || p.write != nil || p.readsAnswer || p.access != nil {
			g.ops[op] = p
		}
	}
	return g, nil
}

// Request applies the operation's object rule and write plan.
func (g *ObjectGuard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return pipeline.Verdict{}, nil
	}
	p := g.ops[x.Operation]
	if p == nil {
		return pipeline.Verdict{}, nil
	}
	if p.readsAnswer {
		// The property step must read the answer: ask for it unencoded.
		x.Request.Header.Del("Accept-Encoding")
	}
	pr := x.Principal
	if pr == nil {
		pr = emptyPrincipal
	}
	if p.rule != nil {
		a := activation{x: x, p: pr}
		if p.rule.usesBody {
			body, err := x.JSON()
			if err != nil {
				return bodyVerdict(err, "API1"), nil
			}
			a.body = body
		}
		ok, err := p.rule.eval(ctx, &a)
		if v := ruleVerdict(ok, err, "request"); v.Action != pipeline.Continue {
			return v, nil
		}
	}
	if p.write != nil {
		if v := p.checkBody(x, pr); v.Action != pipeline.Continue {
			return v, nil
		}
	}
	if p.access != nil {
		return checkAccess(x, p.access, g.svc, g.cache)
	}
	return pipeline.Verdict{}, nil
}

// checkBody refuses a body that writes properties the principal may not
// write. Any body is read as JSON unless it is of a non-JSON media type
// the operation declares: an upstream that ignores Content-Type must not
// get unchecked JSON.
func (p *objectPlan) checkBody(x *pipeline.Exchange, pr *pipeline.Principal) pipeline.Verdict {
	if ct := x.Request.Header.Get("Content-Type"); ct != "" && !isJSONMedia(ct) {
		base, _, _ := strings.Cut(ct, ";")
		if slices.Contains(p.otherMedia, strings.ToLower(strings.TrimSpace(base))) {
			return pipeline.Verdict{}
		}
	}
	body, err := x.JSON()
	if err != nil {
		return bodyVerdict(err, "API3")
	}
	if body == nil {
		return pipeline.Verdict{}
	}
	var f findings
	p.write.checkWrite(body, pr, nil, &f)
	if f.count == 0 {
		return pipeline.Verdict{}
	}
	v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Rule: "authz.readonly_property", Category: "API3",
		Title:  "The request writes a property the caller may not write.",
		Detail: "may not write " + strings.Join(f.pointers, ", ")}
	for _, ptr := range f.pointers {
		v.Errors = append(v.Errors, pipeline.ProblemError{Pointer: ptr, Detail: "This property may not be written by the caller."})
	}
	return v
}

func bodyVerdict(err error, category string) pipeline.Verdict {
	if errors.Is(err, pipeline.ErrBodyTooLarge) {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusRequestEntityTooLarge, Rule: "authz.body_too_large", Category: "API4",
			Title: "The request body is larger than this operation accepts."}
	}
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Rule: "authz.body_unparsable", Category: category,
		Title: "The request body must be JSON to be authorized.", Detail: "body: " + err.Error()}
}

// compileReads compiles every operation's response policy (read plans
// and response rules); the object step uses it to know which answers the
// property step reads, the property step to apply it.
func compileReads(spec *openapi.Spec, c *Config) (map[*openapi.Operation]*respPlan, error) {
	env, err := ruleEnv(true)
	if err != nil {
		return nil, err
	}
	return compileResponses(spec, c, env)
}
