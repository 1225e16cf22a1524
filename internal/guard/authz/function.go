package authz

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// requirement is one security requirement object: every listed scope and
// role is needed (AND).
type requirement struct {
	scopes []string
	roles  []string
}

// funcPlan is one operation's function-level policy.
type funcPlan struct {
	// secured is true when the operation needs an authenticated caller.
	secured bool
	// alts are the security requirements, any one of which suffices (OR).
	// Empty when secured is false.
	alts []requirement
	// roles lists the roles that may call the operation (any one of
	// them); nil means any caller.
	roles []string
	// wwwAuth is the WWW-Authenticate value for an insufficient scope.
	wwwAuth string
}

// FunctionGuard is the "authz.function" step: function-level
// authorization (OWASP API5) and refusal of undescribed operations (API9).
type FunctionGuard struct {
	spec       *openapi.Spec
	unknown    string
	deprecated string
	plans      map[*openapi.Operation]*funcPlan
}

// deprecatedVerdict is the answer to a call of a deprecated (zombie)
// operation: 410 Gone when denied, an observation when monitored.
func deprecatedVerdict(id string, a pipeline.Action) pipeline.Verdict {
	return pipeline.Verdict{Action: a, Status: http.StatusGone, Rule: "authz.deprecated_operation", Category: "API9",
		Title: "This operation is retired.", Detail: "deprecated operation " + id}
}

// NewFunction builds the "authz.function" step from the authz section. It
// returns nil when the section is absent.
func NewFunction(b pipeline.Build) (any, error) {
	c, err := load(b)
	if err != nil || c == nil {
		return nil, err
	}
	g := &FunctionGuard{spec: b.Spec, unknown: c.UnknownOperation, deprecated: c.DeprecatedOperation, plans: make(map[*openapi.Operation]*funcPlan, len(b.Spec.Operations))}
	schemes := openapi.MapGet(openapi.MapGet(b.Spec.Root, "components"), "securitySchemes")
	rootSec := openapi.MapGet(b.Spec.Root, "security")
	for _, op := range b.Spec.Operations {
		p := &funcPlan{}
		sec := openapi.MapGet(op.Node, "security")
		if sec == nil {
			sec = rootSec
		}
		if sec != nil {
			if err := p.parseSecurity(b.Spec.Root, schemes, sec, c.OtherSchemeValues); err != nil {
				return nil, fmt.Errorf("spec operation %s: security: %w", op.ID, err)
			}
		}
		if roles, ok := c.Roles[op.ID]; ok {
			p.roles = roles
		} else if v, ok := op.Extensions["x-apiguard-roles"]; ok {
			roles, err := stringList(v)
			if err != nil || len(roles) == 0 {
				return nil, fmt.Errorf("spec operation %s: x-apiguard-roles: must be a non-empty list of strings", op.ID)
			}
			p.roles = roles
		}
		if len(p.alts) > 0 && len(p.alts[0].scopes) > 0 {
			p.wwwAuth = `Bearer error="insufficient_scope", scope="` + strings.Join(p.alts[0].scopes, " ") + `"`
		}
		g.plans[op] = p
	}
	return g, nil
}

func (p *funcPlan) parseSecurity(root, schemes, sec *yaml.Node, other string) error {
	if sec.Kind != yaml.SequenceNode {
		return fmt.Errorf("must be a list of requirement objects")
	}
	if len(sec.Content) == 0 {
		return nil // security: [] — public
	}
	p.secured = true
	for i, req := range sec.Content {
		if req.Kind != yaml.MappingNode {
			return fmt.Errorf("[%d]: must be an object", i)
		}
		if len(req.Content) == 0 {
			// {} is an anonymous alternative.
			p.secured = false
			p.alts = nil
			return nil
		}
		var r requirement
		for j := 0; j+1 < len(req.Content); j += 2 {
			name := req.Content[j].Value
			scheme, err := resolveRef(root, openapi.MapGet(schemes, name))
			if err != nil || scheme == nil {
				return fmt.Errorf("[%d]: scheme %q is not in components.securitySchemes", i, name)
			}
			var values []string
			if err := req.Content[j+1].Decode(&values); err != nil {
				return fmt.Errorf("[%d].%s: must be a list of strings", i, name)
			}
			typ := ""
			if t := openapi.MapGet(scheme, "type"); t != nil {
				typ = t.Value
			}
			if typ == "oauth2" || typ == "openIdConnect" || other == "scopes" {
				r.scopes = appendNew(r.scopes, values...)
			} else {
				r.roles = appendNew(r.roles, values...)
			}
		}
		p.alts = append(p.alts, r)
	}
	return nil
}

func appendNew(dst []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

func stringList(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list")
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("not a list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

var (
	wwwBearer = http.Header{"Www-Authenticate": {"Bearer"}}
)

// Request applies the operation's function-level policy.
func (g *FunctionGuard) Request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return g.undescribed(x), nil
	}
	if x.Operation.Deprecated && g.deprecated == unknownDeny {
		return deprecatedVerdict(x.Operation.ID, pipeline.Block), nil
	}
	p := g.plans[x.Operation]
	if p == nil { // an operation of another spec generation: fail closed
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.unknown_operation", Category: "API9",
			Title: "This operation is not available.", Detail: "operation not in the compiled policy"}, nil
	}
	v := p.check(x.Principal)
	if v.Action == pipeline.Continue && x.Operation.Deprecated && g.deprecated == unknownMonitor {
		return deprecatedVerdict(x.Operation.ID, pipeline.Observe), nil
	}
	return v, nil
}

// check applies a plan to a principal.
func (p *funcPlan) check(pr *pipeline.Principal) pipeline.Verdict {
	if pr == nil {
		if p.secured || p.roles != nil {
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusUnauthorized, Rule: "authz.unauthenticated", Category: "API2",
				Title: "Authentication is required.", Detail: "no principal on an operation that needs one", Header: wwwBearer}
		}
		return pipeline.Verdict{}
	}
	if p.roles != nil && !hasAnyRole(pr, p.roles) {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.role_required", Category: "API5",
			Title: "The caller's role may not use this operation.", Detail: "needs one of roles " + strings.Join(p.roles, ",")}
	}
	if len(p.alts) == 0 {
		return pipeline.Verdict{}
	}
	for i := range p.alts {
		if p.alts[i].satisfiedBy(pr) {
			return pipeline.Verdict{}
		}
	}
	v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "authz.scope_missing", Category: "API5",
		Title: "The caller lacks a scope or role this operation needs.", Detail: "no security requirement satisfied: " + p.describe()}
	if p.wwwAuth != "" {
		v.Header = http.Header{"Www-Authenticate": {p.wwwAuth}}
	}
	return v
}

func (r *requirement) satisfiedBy(pr *pipeline.Principal) bool {
	for _, s := range r.scopes {
		if !slices.Contains(pr.Scopes, s) {
			return false
		}
	}
	for _, s := range r.roles {
		if !slices.Contains(pr.Roles, s) {
			return false
		}
	}
	return true
}

func (p *funcPlan) describe() string {
	parts := make([]string, 0, len(p.alts))
	for _, a := range p.alts {
		parts = append(parts, "scopes["+strings.Join(a.scopes, " ")+"] roles["+strings.Join(a.roles, " ")+"]")
	}
	return strings.Join(parts, " or ")
}

// undescribed answers a request the spec does not describe.
func (g *FunctionGuard) undescribed(x *pipeline.Exchange) pipeline.Verdict {
	if g.unknown == unknownAllow {
		return pipeline.Verdict{}
	}
	v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusNotFound, Rule: "authz.unknown_operation", Category: "API9",
		Title: "This operation is not described by the API.", Detail: "undocumented path"}
	if x.MethodMismatch {
		allowed := g.spec.AllowedMethods(x.SpecPath())
		v.Status = http.StatusMethodNotAllowed
		v.Title = "This method is not allowed on this path."
		v.Detail = "undocumented method; documented: " + strings.Join(allowed, ",")
		v.Header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
	}
	if g.unknown == unknownMonitor {
		v.Action, v.Header = pipeline.Observe, nil
	}
	return v
}
