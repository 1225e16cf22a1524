// Package limits caps resource consumption per API and per operation
// (OWASP API4): requests in flight, upstream time, answer size and page
// sizes. The request body cap is the core's limits.max_body_bytes.
package limits

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// OperationLimits are the caps that apply to an API or one operation.
// Zero means no cap (or, for an operation, the API's value).
type OperationLimits struct {
	// MaxInFlight is the number of requests proxied at once; excess
	// requests are answered 503 with Retry-After. Default 0 (no cap).
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// UpstreamTimeout bounds the upstream exchange (headers and body) with
	// a context deadline; on expiry the client gets 504. Default 0 (the
	// upstream's own timeouts only).
	UpstreamTimeout config.Duration `yaml:"upstream_timeout,omitempty" json:"upstream_timeout,omitempty"`
	// MaxResponseBytes refuses (502) answers larger than this. Answers are
	// buffered up to this size. Default 0 (no cap).
	MaxResponseBytes config.ByteSize `yaml:"max_response_bytes,omitempty" json:"max_response_bytes,omitempty"`
}

// Pagination configures page-size caps.
type Pagination struct {
	// Params are the query parameter names treated as page sizes. Default
	// limit, page_size, per_page, pageSize, perPage.
	Params []string `yaml:"params,omitempty" json:"params,omitempty"`
	// Max is the cap when the spec gives the parameter no maximum. Default
	// 0: only parameters with a spec maximum are capped.
	Max int `yaml:"max,omitempty" json:"max,omitempty"`
	// Action is clamp (default: the value is rewritten to the maximum) or
	// refuse (400).
	Action string `yaml:"action,omitempty" json:"action,omitempty" jsonschema:"enum=clamp,enum=refuse"`
}

// Config is the limits section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// API-wide caps.
	OperationLimits `yaml:",inline"`
	// RetryAfter is the Retry-After of in-flight refusals. Default 1s.
	RetryAfter config.Duration `yaml:"retry_after,omitempty" json:"retry_after,omitempty"`
	// Pagination caps page sizes.
	Pagination Pagination `yaml:"pagination,omitempty" json:"pagination,omitempty"`
	// Operations overrides the caps per operationId.
	Operations map[string]OperationLimits `yaml:"operations,omitempty" json:"operations,omitempty"`
}

// DefaultPageParams are the page-size parameter names used by default.
var DefaultPageParams = []string{"limit", "page_size", "per_page", "pageSize", "perPage"}

// counter is an in-flight count shared across reloads.
type counter struct{ n atomic.Int64 }

// opState is what the guard knows about one operation.
type opState struct {
	inflight   *counter
	max        int
	timeout    time.Duration
	respMax    int64
	pageParams map[string]int // query name -> maximum
}

// guard implements both steps: limits (request) and limits.response.
type guard struct {
	api        opState
	ops        map[*openapi.Operation]*opState
	retryAfter string
	refuse     bool
}

func newGuard(b pipeline.Build) (*guard, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	if err := checkLimits("", cfg.OperationLimits); err != nil {
		return nil, err
	}
	switch cfg.Pagination.Action {
	case "", "clamp", "refuse":
	default:
		return nil, fmt.Errorf("pagination.action: must be clamp or refuse, not %q", cfg.Pagination.Action)
	}
	if cfg.Pagination.Max < 0 {
		return nil, errors.New("pagination.max: must not be negative")
	}
	if len(cfg.Pagination.Params) == 0 {
		cfg.Pagination.Params = DefaultPageParams
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = config.Duration(time.Second)
	}
	g := &guard{ops: map[*openapi.Operation]*opState{}, refuse: cfg.Pagination.Action == "refuse",
		retryAfter: strconv.Itoa(max(1, int(time.Duration(cfg.RetryAfter).Round(time.Second)/time.Second)))}
	shared := func(key string) (*counter, error) {
		v, err := b.Services.Shared("limits/"+b.API+"/"+key, func() (any, error) { return &counter{}, nil })
		if err != nil {
			return nil, err
		}
		return v.(*counter), nil
	}
	g.api = opState{max: cfg.MaxInFlight, timeout: time.Duration(cfg.UpstreamTimeout), respMax: int64(cfg.MaxResponseBytes)}
	if g.api.inflight, err = shared("api"); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	if b.Spec != nil {
		for _, op := range b.Spec.Operations {
			known[op.ID] = true
			st := &opState{timeout: g.api.timeout, respMax: g.api.respMax}
			if ol, ok := cfg.Operations[op.ID]; ok {
				st.max = ol.MaxInFlight
				if ol.UpstreamTimeout > 0 {
					st.timeout = time.Duration(ol.UpstreamTimeout)
				}
				if ol.MaxResponseBytes > 0 {
					st.respMax = int64(ol.MaxResponseBytes)
				}
				if st.inflight, err = shared("op/" + op.ID); err != nil {
					return nil, err
				}
			}
			st.pageParams = pageParams(b.Spec, op, cfg.Pagination)
			g.ops[op] = st
		}
	}
	for id, ol := range cfg.Operations {
		if !known[id] {
			return nil, fmt.Errorf("operations.%s: no such operationId in the spec", id)
		}
		if err := checkLimits("operations."+id+".", ol); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func checkLimits(prefix string, l OperationLimits) error {
	switch {
	case l.MaxInFlight < 0:
		return fmt.Errorf("%smax_in_flight: must not be negative", prefix)
	case l.UpstreamTimeout < 0:
		return fmt.Errorf("%supstream_timeout: must not be negative", prefix)
	case l.MaxResponseBytes < 0:
		return fmt.Errorf("%smax_response_bytes: must not be negative", prefix)
	}
	return nil
}

// pageParams finds the operation's page-size query parameters and their
// maximum: the spec's maximum, else the configured one.
func pageParams(spec *openapi.Spec, op *openapi.Operation, p Pagination) map[string]int {
	var out map[string]int
	add := func(list *yaml.Node) {
		if list == nil || list.Kind != yaml.SequenceNode {
			return
		}
		for _, n := range list.Content {
			n = resolve(spec, n)
			if in := openapi.MapGet(n, "in"); in == nil || in.Value != "query" {
				continue
			}
			name := openapi.MapGet(n, "name")
			if name == nil || !contains(p.Params, name.Value) {
				continue
			}
			limit := p.Max
			if s := resolve(spec, openapi.MapGet(n, "schema")); s != nil {
				if m := openapi.MapGet(s, "maximum"); m != nil {
					if v, err := strconv.ParseFloat(m.Value, 64); err == nil && v >= 0 && v < 1<<31 {
						limit = int(v)
					}
				}
			}
			if limit > 0 {
				if out == nil {
					out = map[string]int{}
				}
				out[name.Value] = limit
			}
		}
	}
	if paths := openapi.MapGet(spec.Root, "paths"); paths != nil {
		add(openapi.MapGet(resolve(spec, openapi.MapGet(paths, op.Template)), "parameters"))
	}
	add(openapi.MapGet(op.Node, "parameters"))
	return out
}

// resolve follows a local $ref in the spec document.
func resolve(spec *openapi.Spec, n *yaml.Node) *yaml.Node {
	for range 16 {
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n
		}
		path, ok := strings.CutPrefix(ref.Value, "#/")
		if !ok {
			return nil
		}
		n = spec.Root
		for _, tok := range strings.Split(path, "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			if n = openapi.MapGet(n, tok); n == nil {
				return nil
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Request applies the in-flight caps, the pagination caps and the
// upstream timeout.
func (g *guard) Request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	st := g.ops[x.Operation]
	if st != nil && len(st.pageParams) > 0 && x.Request.URL.RawQuery != "" {
		if v, ok := g.paginate(x, st); !ok {
			return v, nil
		}
	}
	parent := x.Request.Context()
	if !g.acquire(&g.api) {
		return g.busy("API"), nil
	}
	if st != nil && st.inflight != nil && !g.acquire(st) {
		if g.api.max > 0 {
			g.api.inflight.n.Add(-1)
		}
		return g.busy("operation"), nil
	}
	// Slots are given back when the exchange ends: the server cancels the
	// request's context when the handler returns.
	if g.api.max > 0 || st != nil && st.inflight != nil && st.max > 0 {
		api, op := g.api.max > 0, st != nil && st.inflight != nil && st.max > 0
		context.AfterFunc(parent, func() {
			if api {
				g.api.inflight.n.Add(-1)
			}
			if op {
				st.inflight.n.Add(-1)
			}
		})
	}
	timeout := g.api.timeout
	if st != nil {
		timeout = st.timeout
	}
	if timeout > 0 {
		ctx, cancel := context.WithTimeout(parent, timeout)
		context.AfterFunc(parent, cancel)
		x.Request = x.Request.WithContext(ctx)
	}
	return pipeline.Verdict{}, nil
}

// acquire takes an in-flight slot when the state has a cap.
func (g *guard) acquire(st *opState) bool {
	if st.max <= 0 {
		return true
	}
	if st.inflight.n.Add(1) > int64(st.max) {
		st.inflight.n.Add(-1)
		return false
	}
	return true
}

func (g *guard) busy(scope string) pipeline.Verdict {
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusServiceUnavailable, Rule: "limits.in_flight", Category: "API4",
		Title: "Too many requests are in progress; retry later.", Detail: "in-flight cap of the " + scope + " reached",
		Header: http.Header{"Retry-After": {g.retryAfter}}}
}

// paginate clamps or refuses page sizes above their maximum. It rewrites
// the raw query in place, keeping every other byte of it.
func (g *guard) paginate(x *pipeline.Exchange, st *opState) (pipeline.Verdict, bool) {
	raw := x.Request.URL.RawQuery
	parts := strings.Split(raw, "&")
	changed := false
	for i, part := range parts {
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			continue // the schema guard refuses malformed queries
		}
		limit, ok := st.pageParams[name]
		if !ok {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil && !isDigits(strings.TrimSpace(val)) {
			continue // not an integer: the schema guard's business
		}
		if err == nil && n <= int64(limit) {
			continue
		}
		if g.refuse {
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Rule: "limits.page_size", Category: "API4",
				Title: "The requested page size is larger than this API allows.", Detail: name + " above " + strconv.Itoa(limit),
				Errors: []pipeline.ProblemError{{Detail: "query parameter " + strconv.Quote(name) + ": maximum " + strconv.Itoa(limit)}}}, false
		}
		parts[i] = k + "=" + strconv.Itoa(limit)
		changed = true
	}
	if changed {
		x.Request.URL.RawQuery = strings.Join(parts, "&")
		x.SetValue(clampedKey{}, true)
	}
	return pipeline.Verdict{}, true
}

// clampedKey marks an exchange whose page size was clamped.
type clampedKey struct{}

// isDigits reports an integer too large for int64 (still a page size).
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Response refuses answers larger than the cap with a 502.
func (g *guard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	limit := g.api.respMax
	if st := g.ops[x.Operation]; st != nil {
		limit = st.respMax
	}
	if limit <= 0 {
		return pipeline.Verdict{}, nil
	}
	tooLarge := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: "limits.response_too_large", Category: "API4",
		Title: "The upstream answer is larger than this API allows.", Detail: "answer above " + strconv.FormatInt(limit, 10) + " bytes"}
	if resp.ContentLength > limit {
		return tooLarge, nil
	}
	if _, err := x.ResponseBody(resp, limit); err != nil {
		if errors.Is(err, pipeline.ErrResponseTooLarge) {
			return tooLarge, nil
		}
		return pipeline.Verdict{}, fmt.Errorf("reading the answer: %w", err)
	}
	return pipeline.Verdict{}, nil
}
