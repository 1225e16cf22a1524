// Package authz is apiguard's authorization guard. It decides what an
// authenticated caller may do, at three levels, from the API's OpenAPI
// description and its config section `authz`:
//
//   - function level (OWASP API5), step "authz.function": the operation's
//     required scopes (the spec's security requirements) and roles
//     (x-apiguard-roles or config); operations the spec does not describe
//     are refused;
//   - object level (OWASP API1), step "authz.object": per-operation CEL
//     rules over the principal and the request; the same step refuses
//     writes of properties the caller may not write (OWASP API3, mass
//     assignment);
//   - property level (OWASP API3), step "authz.property": response CEL
//     rules over the upstream's answer, and removal of properties the
//     caller may not read.
//
// All three steps read the one config section; everything is compiled when
// the configuration is loaded.
package authz

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Section is the config key of the guard under apis[].guards.
const Section = "authz"

// Config is the `authz` section.
type Config struct {
	pipeline.Common `yaml:",inline"`

	// UnknownOperation is what happens to a request the spec does not
	// describe (no path matches, or the path exists without this method):
	// deny (default: 404, or 405 with Allow), monitor (an event, the
	// request goes on) or allow.
	UnknownOperation string `yaml:"unknown_operation,omitempty" json:"unknown_operation,omitempty" jsonschema:"enum=deny,enum=monitor,enum=allow"`
	// DeprecatedOperation is what happens to a call of an operation the
	// spec marks deprecated (a zombie API still served): allow (default),
	// monitor (an event, the request goes on) or deny (410 Gone).
	DeprecatedOperation string `yaml:"deprecated_operation,omitempty" json:"deprecated_operation,omitempty" jsonschema:"enum=deny,enum=monitor,enum=allow"`
	// OtherSchemeValues says what the values listed for a security scheme
	// that is neither oauth2 nor openIdConnect (http bearer, apiKey, ...)
	// are: scopes (default) or roles (the OpenAPI 3.1 reading).
	OtherSchemeValues string `yaml:"other_scheme_values,omitempty" json:"other_scheme_values,omitempty" jsonschema:"enum=scopes,enum=roles"`
	// Roles maps an operationId to the roles that may call it (any one of
	// them). It replaces the operation's x-apiguard-roles. Default: none.
	Roles map[string][]string `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Rules maps an operationId to its CEL object rules. They replace the
	// operation's x-apiguard-authz. Default: none.
	Rules map[string]Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
	// CostLimit is the most CEL cost one rule evaluation may use; beyond
	// it the evaluation fails and the request is refused. Default 10000.
	CostLimit uint64 `yaml:"cost_limit,omitempty" json:"cost_limit,omitempty"`
	// MaxResponseBytes is the largest answer the property step reads to
	// check or filter it. Default 4MiB.
	MaxResponseBytes config.ByteSize `yaml:"max_response_bytes,omitempty" json:"max_response_bytes,omitempty"`
	// OversizeResponse is what happens to a larger answer that has a
	// response rule or properties to remove: block (default, 502) or pass
	// (unchecked, with an event).
	OversizeResponse string `yaml:"oversize_response,omitempty" json:"oversize_response,omitempty" jsonschema:"enum=block,enum=pass"`
	// ReportRemoved records an event (authz.property_removed) when
	// properties are removed from an answer. Default true.
	ReportRemoved *bool `yaml:"report_removed,omitempty" json:"report_removed,omitempty"`
	// RefuseUndeclared refuses (400) request bodies that write a property
	// a closed request schema (additionalProperties: false) does not
	// declare: mass assignment of fields the operation does not accept.
	// Default true.
	RefuseUndeclared *bool `yaml:"refuse_undeclared,omitempty" json:"refuse_undeclared,omitempty"`
	// RemoveUndeclared removes from answers the properties a closed
	// response schema does not declare (undocumented data such as an
	// ssn). Default true.
	RemoveUndeclared *bool `yaml:"remove_undeclared,omitempty" json:"remove_undeclared,omitempty"`
	// AccessCache keeps the answers of require_access checks for a while,
	// per caller credential and object path, so a client repeating
	// requests about the same object does not cost a subrequest each
	// time. Off by default (every check asks the upstream).
	AccessCache AccessCache `yaml:"access_cache,omitempty" json:"access_cache,omitempty"`
}

// AccessCache configures the cache of require_access answers. A cached
// answer outlives a change of ownership by at most TTL: keep it short.
type AccessCache struct {
	// TTL is how long an answer is reused; 0 (default) turns the cache
	// off. At most 5m.
	TTL config.Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// MaxEntries bounds the cache; when full, expired entries are
	// dropped, then everything. Default 10000.
	MaxEntries int `yaml:"max_entries,omitempty" json:"max_entries,omitempty"`
}

// Rule is one operation's object-level rules, as CEL expressions that must
// evaluate to true.
type Rule struct {
	// Request is checked before the request goes upstream, over
	// principal, path, query, headers and body.
	Request string `yaml:"request,omitempty" json:"request,omitempty"`
	// Response is checked on a 2xx answer, over the same variables and
	// response.status and response.body; false replaces the answer with 403.
	Response string `yaml:"response,omitempty" json:"response,omitempty"`
	// RequireAccess lists objects the request refers to that the caller
	// must itself be allowed to read: paths with placeholders such as
	// "/api/v1/accounts/{body.from_account_id}" ({body.a.b}, {path.p},
	// {query.q}, {principal.sub}). Each is fetched with GET through the
	// gateway, in-process, as the caller; anything but a 2xx answer
	// refuses the request with 403 (fail closed). It closes BOLA on objects
	// named in a body, whose owner only the upstream knows.
	RequireAccess []string `yaml:"require_access,omitempty" json:"require_access,omitempty"`
}

// Defaults.
const (
	DefaultCostLimit        = 10000
	DefaultMaxResponseBytes = 4 << 20
)

const (
	unknownDeny    = "deny"
	unknownMonitor = "monitor"
	unknownAllow   = "allow"
	oversizeBlock  = "block"
	oversizePass   = "pass"
)

// load decodes, defaults and validates the section. It returns nil when
// the section is absent.
func load(b pipeline.Build) (*Config, error) {
	var c Config
	present, err := b.Decode(&c)
	if err != nil || !present {
		return nil, err
	}
	if err := c.Common.Validate(); err != nil {
		return nil, err
	}
	if c.UnknownOperation == "" {
		c.UnknownOperation = unknownDeny
	}
	if c.DeprecatedOperation == "" {
		c.DeprecatedOperation = unknownAllow
	}
	switch c.DeprecatedOperation {
	case unknownDeny, unknownMonitor, unknownAllow:
	default:
		return nil, fmt.Errorf("deprecated_operation: must be deny, monitor or allow, not %q", c.DeprecatedOperation)
	}
	if c.OtherSchemeValues == "" {
		c.OtherSchemeValues = "scopes"
	}
	if c.CostLimit == 0 {
		c.CostLimit = DefaultCostLimit
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.OversizeResponse == "" {
		c.OversizeResponse = oversizeBlock
	}
	if c.AccessCache.TTL < 0 || c.AccessCache.TTL.D() > maxAccessCacheTTL {
		return nil, fmt.Errorf("access_cache.ttl: must be between 0 and %s", maxAccessCacheTTL)
	}
	if c.AccessCache.MaxEntries < 0 {
		return nil, errors.New("access_cache.max_entries: must not be negative")
	}
	if c.AccessCache.MaxEntries == 0 {
		c.AccessCache.MaxEntries = defaultAccessCacheEntries
	}
	for _, f := range []**bool{&c.ReportRemoved, &c.RefuseUndeclared, &c.RemoveUndeclared} {
		if *f == nil {
			t := true
			*f = &t
		}
	}
	switch c.UnknownOperation {
	case unknownDeny, unknownMonitor, unknownAllow:
	default:
		return nil, fmt.Errorf("unknown_operation: must be deny, monitor or allow, not %q", c.UnknownOperation)
	}
	switch c.OtherSchemeValues {
	case "scopes", "roles":
	default:
		return nil, fmt.Errorf("other_scheme_values: must be scopes or roles, not %q", c.OtherSchemeValues)
	}
	switch c.OversizeResponse {
	case oversizeBlock, oversizePass:
	default:
		return nil, fmt.Errorf("oversize_response: must be block or pass, not %q", c.OversizeResponse)
	}
	if b.Spec == nil {
		return nil, errors.New("the API has no spec: authz reads operations, security requirements and schemas from it")
	}
	ids := map[string]bool{}
	for _, op := range b.Spec.Operations {
		ids[op.ID] = true
	}
	for _, id := range sortedKeys(c.Roles) {
		if !ids[id] {
			return nil, fmt.Errorf("roles.%s: no operation with this operationId in the spec", id)
		}
		if len(c.Roles[id]) == 0 {
			return nil, fmt.Errorf("roles.%s: must list at least one role", id)
		}
	}
	for _, id := range sortedKeys(c.Rules) {
		if !ids[id] {
			return nil, fmt.Errorf("rules.%s: no operation with this operationId in the spec", id)
		}
	}
	return &c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// opRules returns an operation's rule: config first, else x-apiguard-authz.
func opRules(c *Config, op *openapi.Operation) (r Rule, where string, err error) {
	if r, ok := c.Rules[op.ID]; ok {
		return r, "rules." + op.ID, nil
	}
	v, ok := op.Extensions["x-apiguard-authz"]
	if !ok {
		return Rule{}, "", nil
	}
	where = "spec operation " + op.ID + " x-apiguard-authz"
	m, ok := v.(map[string]any)
	if !ok {
		return Rule{}, where, fmt.Errorf("%s: must be an object with request and/or response", where)
	}
	for k, val := range m {
		if k == "require_access" {
			list, ok := val.([]any)
			if !ok {
				return Rule{}, where, fmt.Errorf("%s.require_access: must be a list of paths", where)
			}
			for i, item := range list {
				p, ok := item.(string)
				if !ok {
					return Rule{}, where, fmt.Errorf("%s.require_access[%d]: must be a string", where, i)
				}
				r.RequireAccess = append(r.RequireAccess, p)
			}
			continue
		}
		s, ok := val.(string)
		if !ok {
			return Rule{}, where, fmt.Errorf("%s.%s: must be a string", where, k)
		}
		switch k {
		case "request":
			r.Request = s
		case "response":
			r.Response = s
		default:
			return Rule{}, where, fmt.Errorf("%s: unknown field %q (want request, response, require_access)", where, k)
		}
	}
	return r, where, nil
}

// hasAnyRole reports whether the principal has one of roles.
func hasAnyRole(p *pipeline.Principal, roles []string) bool {
	if p == nil {
		return false
	}
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}
