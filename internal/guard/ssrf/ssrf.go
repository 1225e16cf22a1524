// Package ssrf is apiguard's server-side request forgery guard (OWASP
// API7), step "ssrf", config section `ssrf`.
//
// URLs the client hands the API for the API to fetch (avatar imports,
// webhooks, callbacks) are checked before the upstream sees them: the
// parameters and JSON body fields whose spec schema has format uri, url,
// uri-reference (or iri, iri-reference), plus those named in config. A URL
// passes only when it parses the same way under every common parser (no
// userinfo, backslashes, whitespace, percent-encoded or non-ASCII hosts,
// non-canonical numeric IPv4 forms), its scheme and host are allowed, and
// every address its host resolves to is public unicast (the
// classification of internal/safehttp). URLs carrying other URLs (open
// redirectors) are refused unless the outer host is allow-listed.
package ssrf

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/safehttp"
)

// Section is the config key of the guard under apis[].guards.
const Section = "ssrf"

// Step is the guard's pipeline step.
const Step = "ssrf"

// Category is the OWASP API Security Top 10 (2023) id of the guard.
const Category = "API7"

var defaultResolver safehttp.Resolver = net.DefaultResolver

// Config is the `ssrf` section.
type Config struct {
	pipeline.Common `yaml:",inline"`

	// Schemes are the URL schemes allowed. Default [http, https].
	Schemes []string `yaml:"schemes,omitempty" json:"schemes,omitempty"`
	// AllowHosts, when not empty, are the only hosts URLs may name: exact
	// names or "*.suffix" (any name below suffix). Default: any public host.
	AllowHosts []string `yaml:"allow_hosts,omitempty" json:"allow_hosts,omitempty"`
	// DenyHosts are hosts always refused (exact or "*.suffix"). Default none.
	DenyHosts []string `yaml:"deny_hosts,omitempty" json:"deny_hosts,omitempty"`
	// AllowCIDRs are internal ranges URLs may point to anyway (a partner
	// network reached through the upstream). Default none.
	AllowCIDRs []string `yaml:"allow_cidrs,omitempty" json:"allow_cidrs,omitempty"`
	// Formats are the spec string formats that mark a URL. Default [uri,
	// url, uri-reference, iri, iri-reference]; the *-reference formats
	// also accept relative references without a host.
	Formats []string `yaml:"formats,omitempty" json:"formats,omitempty"`
	// Fields are JSON pointers checked in every operation's request body,
	// in addition to the spec's ("*" matches any member or array item).
	// Default none.
	Fields []string `yaml:"fields,omitempty" json:"fields,omitempty"`
	// Params are query parameter names checked in every operation.
	// Default none.
	Params []string `yaml:"params,omitempty" json:"params,omitempty"`
	// Operations add fields and params per operationId.
	Operations map[string]OperationConfig `yaml:"operations,omitempty" json:"operations,omitempty"`
	// NestedURLs is what happens to a URL whose path or query carries
	// another URL (an open redirector's shape): refuse (default; a nested
	// URL is refused unless the outer host is in allow_hosts, and then it
	// is checked like the outer one) or check (always checked, never
	// refused for being nested).
	NestedURLs string `yaml:"nested_urls,omitempty" json:"nested_urls,omitempty" jsonschema:"enum=refuse,enum=check"`
	// ResolveTimeout bounds resolving a URL's host; a host that does not
	// resolve in time is refused. Default 2s.
	ResolveTimeout config.Duration `yaml:"resolve_timeout,omitempty" json:"resolve_timeout,omitempty"`
	// MaxURLBytes is the longest URL accepted. Default 4096.
	MaxURLBytes int `yaml:"max_url_bytes,omitempty" json:"max_url_bytes,omitempty"`
}

// OperationConfig names more URL locations of one operation.
type OperationConfig struct {
	// Fields are JSON pointers into the request body.
	Fields []string `yaml:"fields,omitempty" json:"fields,omitempty"`
	// Params are query or path parameter names.
	Params []string `yaml:"params,omitempty" json:"params,omitempty"`
}

// Guard is the compiled guard of one API.
type Guard struct {
	checker *Checker
	global  []target
	byOp    map[*openapi.Operation][]target
}

// New builds the guard from a Build; it returns nil when the section is
// absent.
func New(b pipeline.Build) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	return Compile(cfg, b.Spec, nil)
}

// Compile validates cfg, applies defaults and compiles the per-operation
// URL locations of spec (which may be nil). resolver nil means the system
// resolver.
func Compile(cfg Config, spec *openapi.Spec, resolver safehttp.Resolver) (*Guard, error) {
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Schemes) == 0 {
		cfg.Schemes = []string{"http", "https"}
	}
	for i, s := range cfg.Schemes {
		if !validScheme(s) {
			return nil, fmt.Errorf("schemes[%d]: %q is not a URL scheme", i, s)
		}
		cfg.Schemes[i] = strings.ToLower(s)
	}
	allow, err := newHostList(cfg.AllowHosts)
	if err != nil {
		return nil, fmt.Errorf("allow_hosts: %w", err)
	}
	deny, err := newHostList(cfg.DenyHosts)
	if err != nil {
		return nil, fmt.Errorf("deny_hosts: %w", err)
	}
	var policy safehttp.Policy
	for i, c := range cfg.AllowCIDRs {
		p, err := config.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("allow_cidrs[%d]: %w", i, err)
		}
		policy.AllowCIDRs = append(policy.AllowCIDRs, p)
	}
	switch cfg.NestedURLs {
	case "":
		cfg.NestedURLs = "refuse"
	case "refuse", "check":
	default:
		return nil, fmt.Errorf("nested_urls: must be refuse or check, not %q", cfg.NestedURLs)
	}
	if cfg.ResolveTimeout < 0 {
		return nil, fmt.Errorf("resolve_timeout: must not be negative")
	}
	if cfg.ResolveTimeout == 0 {
		cfg.ResolveTimeout = config.Duration(2 * time.Second)
	}
	if cfg.MaxURLBytes < 0 || cfg.MaxURLBytes > 1<<20 {
		return nil, fmt.Errorf("max_url_bytes: must be between 0 (default 4096) and 1MiB")
	}
	if cfg.MaxURLBytes == 0 {
		cfg.MaxURLBytes = 4096
	}
	if len(cfg.Formats) == 0 {
		cfg.Formats = []string{"uri", "url", "uri-reference", "iri", "iri-reference"}
	}
	formats := map[string]Kind{}
	for _, f := range cfg.Formats {
		if strings.HasSuffix(f, "-reference") {
			formats[f] = Reference
		} else {
			formats[f] = Absolute
		}
	}
	g := &Guard{
		checker: &Checker{
			Schemes: cfg.Schemes, Allow: allow, Deny: deny, Policy: policy, Resolver: resolver,
			ResolveTimeout: cfg.ResolveTimeout.D(), MaxBytes: cfg.MaxURLBytes, CheckNestedOnly: cfg.NestedURLs == "check",
		},
		byOp: map[*openapi.Operation][]target{},
	}
	g.global, err = configTargets(cfg.Fields, cfg.Params, "")
	if err != nil {
		return nil, err
	}
	ops := map[string]*openapi.Operation{}
	if spec != nil {
		for _, op := range spec.Operations {
			ops[op.ID] = op
			if t := operationTargets(spec, op, formats); len(t) > 0 {
				g.byOp[op] = t
			}
		}
	}
	for id, oc := range cfg.Operations {
		op, ok := ops[id]
		if !ok {
			return nil, fmt.Errorf("operations.%s: no such operationId in the spec", id)
		}
		extra, err := configTargets(oc.Fields, oc.Params, "operations."+id+".")
		if err != nil {
			return nil, err
		}
		g.byOp[op] = append(g.byOp[op], extra...)
	}
	return g, nil
}

// configTargets turns configured pointers and parameter names into targets.
func configTargets(fields, params []string, path string) ([]target, error) {
	var out []target
	for i, f := range fields {
		ptr, ok := parsePointer(f)
		if !ok || len(ptr) == 0 {
			return nil, fmt.Errorf("%sfields[%d]: %q is not a JSON pointer such as /callback/url", path, i, f)
		}
		out = append(out, target{in: inBody, ptr: ptr, kind: Reference})
	}
	for i, p := range params {
		if p == "" {
			return nil, fmt.Errorf("%sparams[%d]: must not be empty", path, i)
		}
		out = append(out, target{in: inQuery, name: p, kind: Reference}, target{in: inPath, name: p, kind: Reference})
	}
	return out, nil
}

// Targets returns the locations checked for an operation, as event
// locations ("query:next", "body:/url"), for tests and diagnostics.
func (g *Guard) Targets(op *openapi.Operation) []string {
	var out []string
	for _, t := range g.targets(op) {
		out = append(out, t.location())
	}
	return out
}

func (g *Guard) targets(op *openapi.Operation) []target {
	if op == nil {
		return g.global
	}
	ts := g.byOp[op]
	if len(g.global) == 0 {
		return ts
	}
	return append(append([]target(nil), ts...), g.global...)
}

var titles = map[string]string{
	RuleForbiddenAddress: "The URL points to an address that may not be reached.",
	RuleSchemeNotAllowed: "The URL's scheme is not allowed.",
	RuleHostNotAllowed:   "The URL's host is not allowed.",
	RuleAmbiguousURL:     "The URL is malformed or ambiguous.",
}

// Request checks every URL location of the request's operation.
func (g *Guard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	ts := g.targets(x.Operation)
	if len(ts) == 0 {
		return pipeline.Verdict{}, nil
	}
	var (
		query     url.Values
		body      any
		bodyDone  bool
		bodyForm  url.Values
		isForm    bool
		bodyEmpty bool
	)
	for _, t := range ts {
		switch t.in {
		case inQuery:
			if query == nil {
				q, err := url.ParseQuery(x.Request.URL.RawQuery)
				if err != nil {
					return block(&Finding{Rule: RuleAmbiguousURL, Reason: "query does not parse"}, "query"), nil
				}
				query = q
			}
			for _, v := range query[t.name] {
				if f := g.checker.Check(ctx, v, t.kind); f != nil {
					return block(f, t.location()), nil
				}
			}
		case inPath:
			for _, p := range x.PathParams {
				if p.Name == t.name {
					if f := g.checker.Check(ctx, p.Value, t.kind); f != nil {
						return block(f, t.location()), nil
					}
				}
			}
		case inBody:
			if !bodyDone {
				bodyDone = true
				raw, err := x.Body()
				if err != nil {
					return block(&Finding{Rule: RuleAmbiguousURL, Reason: "body unreadable: " + err.Error()}, "body"), nil
				}
				bodyEmpty = len(raw) == 0
				mt, _, _ := mime.ParseMediaType(x.Request.Header.Get("Content-Type"))
				if mt == "application/x-www-form-urlencoded" {
					isForm = true
					bodyForm, err = url.ParseQuery(string(raw))
					if err != nil {
						return block(&Finding{Rule: RuleAmbiguousURL, Reason: "form body does not parse"}, "body"), nil
					}
				} else if !bodyEmpty {
					// Whatever the content type claims, an upstream may
					// parse the bytes as JSON; so they are read as JSON.
					body, err = x.JSON()
					if err != nil {
						return block(&Finding{Rule: RuleAmbiguousURL, Reason: "body is not JSON"}, "body"), nil
					}
				}
			}
			if bodyEmpty {
				continue
			}
			if isForm {
				if len(t.ptr) == 1 {
					for _, v := range bodyForm[t.ptr[0]] {
						if f := g.checker.Check(ctx, v, t.kind); f != nil {
							return block(f, "body:"+pointerString(t.ptr)), nil
						}
					}
				}
				continue
			}
			var found *Finding
			var where []string
			valuesAt(body, t.ptr, nil, func(s string, at []string) bool {
				if f := g.checker.Check(ctx, s, t.kind); f != nil {
					found, where = f, append([]string(nil), at...)
					return false
				}
				return true
			})
			if found != nil {
				return block(found, "body:"+pointerString(where)), nil
			}
		}
	}
	return pipeline.Verdict{}, nil
}

// block turns a finding into a 400 verdict; the event detail holds the
// location and the redacted host, never the whole URL.
func block(f *Finding, location string) pipeline.Verdict {
	host := f.Host
	if host == "" {
		host = "-"
	}
	detail := fmt.Sprintf("location=%s host=%s reason=%s", location, events.RedactText(host, 256), events.RedactText(f.Reason, 256))
	return pipeline.Verdict{
		Action: pipeline.Block, Status: 400, Rule: f.Rule, Category: Category,
		Title: titles[f.Rule], Detail: detail,
	}
}
