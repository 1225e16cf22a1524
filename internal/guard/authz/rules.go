package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// interruptEvery is how many comprehension iterations run between checks
// of the request's context.
const interruptEvery = 64

// ruleEnv returns the CEL environment of object rules; response adds
// response.status and response.body.
func ruleEnv(response bool) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("principal.authenticated", cel.BoolType),
		cel.Variable("principal.sub", cel.StringType),
		cel.Variable("principal.tenant", cel.StringType),
		cel.Variable("principal.roles", cel.ListType(cel.StringType)),
		cel.Variable("principal.scopes", cel.ListType(cel.StringType)),
		cel.Variable("principal.claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("principal.method", cel.StringType),
		cel.Variable("principal.client_id", cel.StringType),
		cel.Variable("method", cel.StringType),
		cel.Variable("path", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("query", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("body", cel.DynType),
	}
	if response {
		opts = append(opts,
			cel.Variable("response.status", cel.IntType),
			cel.Variable("response.body", cel.DynType))
	}
	return cel.NewEnv(opts...)
}

// program is one compiled rule.
type program struct {
	prg      cel.Program
	src      string
	usesBody bool
}

// compileRule type-checks a rule (it must be a bool) and plans it with a
// cost limit. where names the rule in errors.
func compileRule(env *cel.Env, src, where string, costLimit uint64) (*program, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s: %s", where, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("%s: must evaluate to a bool, not %s", where, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(interruptEvery), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	uses := false
	if checked, err := cel.AstToCheckedExpr(ast); err == nil {
		for _, ref := range checked.GetReferenceMap() {
			if ref.GetName() == "body" {
				uses = true
			}
		}
	}
	return &program{prg: prg, src: src, usesBody: uses}, nil
}

// activation resolves a rule's variables lazily from the exchange: a
// variable a rule does not mention costs nothing.
type activation struct {
	x      *pipeline.Exchange
	p      *pipeline.Principal
	body   any
	status int
	rbody  any
}

var emptyPrincipal = &pipeline.Principal{}

func (a *activation) ResolveName(name string) (any, bool) {
	p := a.p
	switch name {
	case "principal.authenticated":
		return types.Bool(a.x.Principal != nil), true
	case "principal.sub":
		return types.String(p.Subject), true
	case "principal.tenant":
		return types.String(p.Tenant), true
	case "principal.roles":
		return p.Roles, true
	case "principal.scopes":
		return p.Scopes, true
	case "principal.claims":
		if p.Claims == nil {
			return map[string]any{}, true
		}
		return p.Claims, true
	case "principal.method":
		return types.String(p.Method), true
	case "principal.client_id":
		return types.String(p.ClientID), true
	case "method":
		return types.String(a.x.Request.Method), true
	case "path":
		m := make(map[string]string, len(a.x.PathParams))
		for _, pp := range a.x.PathParams {
			m[pp.Name] = pp.Value
		}
		return m, true
	case "query":
		return firstValues(a.x.Request.URL.Query(), false), true
	case "headers":
		return firstValues(url.Values(a.x.Request.Header), true), true
	case "body":
		return a.body, true
	case "response.status":
		return types.Int(a.status), true
	case "response.body":
		return a.rbody, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func firstValues(v url.Values, lower bool) map[string]string {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) == 0 {
			continue
		}
		if lower {
			k = strings.ToLower(k)
		}
		m[k] = vs[0]
	}
	return m
}

// eval runs a rule. It returns whether the rule allowed the exchange and,
// when it could not be evaluated, why.
func (pr *program) eval(ctx context.Context, a *activation) (bool, error) {
	out, _, err := pr.prg.ContextEval(ctx, a)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("rule result is %s, not a bool", out.Type())
	}
	return b, nil
}

// ruleVerdict is the verdict of a rule that denied or failed.
func ruleVerdict(allowed bool, err error, stage string) pipeline.Verdict {
	if err != nil {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.rule_error", Category: "API1",
			Title: "Access to this object could not be verified.", Detail: stage + " rule failed: " + err.Error()}
	}
	if !allowed {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.object_denied", Category: "API1",
			Title: "The caller may not access this object.", Detail: stage + " rule denied"}
	}
	return pipeline.Verdict{}
}
