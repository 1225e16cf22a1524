// Package ratelimit is the rate-limiting guard (OWASP API4): GCRA limits
// per client IP, API key, principal, JWT claim, header or operation (and
// compositions such as principal+operation), in memory or in Redis, with
// 429 answers carrying Retry-After and the IETF RateLimit-Policy and
// RateLimit fields.
//
// Two pipeline steps share the "ratelimit" section: "ratelimit.ip" runs the
// rules with stage pre_auth (before authentication, keyed only on what is
// known then) and "ratelimit.principal" those with stage post_auth.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Stages a rule can run in.
const (
	// StagePreAuth runs in step ratelimit.ip, before authentication.
	StagePreAuth = "pre_auth"
	// StagePostAuth runs in step ratelimit.principal, after authorization
	// and business-flow checks.
	StagePostAuth = "post_auth"
)

// Backends.
const (
	// BackendMemory keeps limits in this process (the default).
	BackendMemory = "memory"
	// BackendRedis keeps limits in the shared Redis, so they hold across
	// gateway instances.
	BackendRedis = "redis"
)

// SpecExtension is the operation extension that selects rules by name:
// `x-apiguard-ratelimit: login-per-ip` or a list of names.
const SpecExtension = "x-apiguard-ratelimit"

// Config is the `ratelimit` section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Backend is memory (default) or redis (needs the top-level redis
	// section).
	Backend string `yaml:"backend,omitempty" json:"backend,omitempty" jsonschema:"enum=memory,enum=redis"`
	// MaxKeys bounds the keys each rule keeps in memory. Default 1000000.
	MaxKeys int `yaml:"max_keys,omitempty" json:"max_keys,omitempty"`
	// RedisTimeout bounds one Redis check. Default 100ms.
	RedisTimeout config.Duration `yaml:"redis_timeout,omitempty" json:"redis_timeout,omitempty"`
	// RedisRetry is how long a rule uses its failure mode after a Redis
	// error before trying Redis again. Default 1s.
	RedisRetry config.Duration `yaml:"redis_retry,omitempty" json:"redis_retry,omitempty"`
	// Rules are the limits; every rule that selects an operation applies.
	Rules []RuleConfig `yaml:"rules" json:"rules"`
}

// RuleConfig is one rate-limit rule.
type RuleConfig struct {
	// Name identifies the rule in events, headers and x-apiguard-ratelimit.
	Name string `yaml:"name" json:"name"`
	// Key is what is counted: ip, apikey, principal, claim:NAME,
	// header:NAME, operation or global, joined by + (principal+operation).
	// Default ip.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Stage is pre_auth or post_auth. Default: post_auth when the key needs
	// authentication (apikey, principal, claim), else pre_auth.
	Stage string `yaml:"stage,omitempty" json:"stage,omitempty" jsonschema:"enum=pre_auth,enum=post_auth"`
	// Limits are rates such as "10/s", "100/1m burst 20", "10000/day"; a
	// request must fit all of them. At most 4.
	Limits []string `yaml:"limits" json:"limits"`
	// Operations are the operationIds the rule applies to. With neither
	// operations nor from_spec, the rule applies to every request.
	Operations []string `yaml:"operations,omitempty" json:"operations,omitempty"`
	// FromSpec adds the operations whose x-apiguard-ratelimit names the rule.
	FromSpec bool `yaml:"from_spec,omitempty" json:"from_spec,omitempty"`
	// OnRedisError is closed (default: answer 503) or open (use a local
	// in-memory limit with the same limits, and raise an event).
	OnRedisError string `yaml:"on_redis_error,omitempty" json:"on_redis_error,omitempty" jsonschema:"enum=closed,enum=open"`
}

// rule is a compiled rule.
type rule struct {
	name    string
	key     KeyExpr
	limits  []Limit
	open    bool // on_redis_error: open
	mem     *memStore
	rds     *redisStore
	breaker *breaker
	// policy is the RateLimit-Policy field value, built once.
	policy string
}

// breaker remembers a Redis failure so that requests do not each wait for
// a dead server; shared across reloads with the rule's state.
type breaker struct {
	downUntil atomic.Int64
	fallback  *memStore
	reported  atomic.Int64
}

// Guard is one step's rate limiter for one API.
type Guard struct {
	step    string
	api     string
	all     []*rule // rules that apply to every request
	byOp    map[*openapi.Operation][]*rule
	now     func() time.Time
	emit    func(events.Event)
	timeout time.Duration
	retry   time.Duration
	scratch sync.Pool
}

func newGuard(b pipeline.Build, stage string) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	rules, err := compile(&cfg, b)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		step: "ratelimit.ip", api: b.API, byOp: map[*openapi.Operation][]*rule{},
		now: b.Services.Now, emit: b.Services.Emit,
		timeout: cfg.RedisTimeout.D(), retry: cfg.RedisRetry.D(),
		scratch: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }},
	}
	if stage == StagePostAuth {
		g.step = "ratelimit.principal"
	}
	found := false
	for i, rc := range cfg.Rules {
		if rc.Stage == stage && len(rc.Operations) == 0 && !rc.FromSpec {
			g.all = append(g.all, rules[i])
		}
		found = found || rc.Stage == stage
	}
	if !found {
		return nil, nil
	}
	if b.Spec != nil {
		for _, op := range b.Spec.Operations {
			rs := slices.Clone(g.all)
			for i, rc := range cfg.Rules {
				if rc.Stage == stage && (slices.Contains(rc.Operations, op.ID) || (rc.FromSpec && extNames(op)[rc.Name])) {
					rs = append(rs, rules[i])
				}
			}
			if len(rs) > 0 {
				g.byOp[op] = rs
			}
		}
	}
	return g, nil
}

// extNames returns the rule names an operation's x-apiguard-ratelimit lists.
func extNames(op *openapi.Operation) map[string]bool {
	out := map[string]bool{}
	switch v := op.Extensions[SpecExtension].(type) {
	case string:
		out[v] = true
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

// compile validates the whole section and builds every rule's state (in
// Services.Shared, so it survives reloads). Both steps compile all rules,
// so an error is reported whichever step is built first.
func compile(cfg *Config, b pipeline.Build) ([]*rule, error) {
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Backend {
	case "":
		cfg.Backend = BackendMemory
	case BackendMemory, BackendRedis:
	default:
		return nil, fmt.Errorf("backend: must be memory or redis, not %q", truncate(cfg.Backend))
	}
	if cfg.Backend == BackendRedis && b.Services.Redis == nil {
		return nil, errors.New("backend: redis needs the top-level redis section")
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 1_000_000
	}
	if cfg.MaxKeys < numShards || cfg.MaxKeys > 100_000_000 {
		return nil, fmt.Errorf("max_keys: must be from %d to 100000000", numShards)
	}
	if cfg.RedisTimeout == 0 {
		cfg.RedisTimeout = config.Duration(100 * time.Millisecond)
	}
	if cfg.RedisRetry == 0 {
		cfg.RedisRetry = config.Duration(time.Second)
	}
	if len(cfg.Rules) == 0 {
		return nil, errors.New("rules: at least one rule is needed")
	}
	ops := map[string]bool{}
	if b.Spec != nil {
		for _, op := range b.Spec.Operations {
			ops[op.ID] = true
		}
	}
	names := map[string]bool{}
	out := make([]*rule, len(cfg.Rules))
	for i := range cfg.Rules {
		rc := &cfg.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		if rc.Name == "" || len(rc.Name) > 64 || !isToken(rc.Name) {
			return nil, fmt.Errorf("%s.name: must be 1-64 letters, digits, '-', '_' or '.'", p)
		}
		if names[rc.Name] {
			return nil, fmt.Errorf("%s.name: %q is used twice", p, rc.Name)
		}
		names[rc.Name] = true
		if rc.Key == "" {
			rc.Key = "ip"
		}
		key, err := ParseKey(rc.Key)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", p, err)
		}
		switch rc.Stage {
		case "":
			rc.Stage = StagePreAuth
			if key.NeedsAuth() {
				rc.Stage = StagePostAuth
			}
		case StagePreAuth:
			if key.NeedsAuth() {
				return nil, fmt.Errorf("%s.key: %q is not known before authentication; use stage: post_auth or a key of ip, header, operation, global", p, rc.Key)
			}
		case StagePostAuth:
		default:
			return nil, fmt.Errorf("%s.stage: must be pre_auth or post_auth, not %q", p, truncate(rc.Stage))
		}
		if len(rc.Limits) == 0 || len(rc.Limits) > maxLimits {
			return nil, fmt.Errorf("%s.limits: 1 to %d limits are needed", p, maxLimits)
		}
		r := &rule{name: rc.Name, key: key}
		for j, ls := range rc.Limits {
			l, err := ParseLimit(ls)
			if err != nil {
				return nil, fmt.Errorf("%s.limits[%d]: %w", p, j, err)
			}
			r.limits = append(r.limits, l)
		}
		for j, id := range rc.Operations {
			if b.Spec != nil && !ops[id] {
				return nil, fmt.Errorf("%s.operations[%d]: no operation %q in the spec", p, j, truncate(id))
			}
		}
		switch rc.OnRedisError {
		case "", "closed":
		case "open":
			r.open = true
		default:
			return nil, fmt.Errorf("%s.on_redis_error: must be open or closed, not %q", p, truncate(rc.OnRedisError))
		}
		r.policy = policyField(r)
		def := key.String() + "|" + limitsString(r.limits)
		base := "ratelimit/" + b.API + "/" + rc.Name + "/" + def
		if cfg.Backend == BackendMemory {
			v, err := b.Services.Shared(base+"/memory/"+strconv.Itoa(cfg.MaxKeys), func() (any, error) {
				return newMemStore(r.limits, cfg.MaxKeys), nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			r.mem = v.(*memStore)
		} else {
			r.rds = newRedisStore(b.Services.Redis, b.API, rc.Name, def, r.limits)
			v, err := b.Services.Shared(base+"/breaker", func() (any, error) {
				return &breaker{fallback: newMemStore(r.limits, cfg.MaxKeys)}, nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			r.breaker = v.(*breaker)
		}
		out[i] = r
	}
	return out, nil
}

func limitsString(ls []Limit) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ",")
}

// Request checks every rule that applies to the request.
func (g *Guard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	rules := g.all
	if x.Operation != nil {
		if rs, ok := g.byOp[x.Operation]; ok {
			rules = rs
		}
	}
	if len(rules) == 0 {
		return pipeline.Verdict{}, nil
	}
	bp := g.scratch.Get().(*[]byte)
	defer g.scratch.Put(bp)
	now := g.now().UnixNano()
	for _, r := range rules {
		key, ok := r.key.Append((*bp)[:0], x)
		*bp = key
		if !ok {
			continue // anonymous request and a key that needs a principal
		}
		o, v, err := g.check(ctx, r, key, now)
		if err != nil || v.Action != pipeline.Continue {
			return v, err
		}
		if !o.allowed {
			return g.deny(r, o, now), nil
		}
	}
	return pipeline.Verdict{}, nil
}

// check runs one rule on its backend, applying the rule's Redis failure
// mode. A non-zero verdict is a failure answer (503).
func (g *Guard) check(ctx context.Context, r *rule, key []byte, now int64) (outcome, pipeline.Verdict, error) {
	if r.mem != nil {
		return r.mem.check(r.mem.hash(key), now), pipeline.Verdict{}, nil
	}
	br := r.breaker
	if br.downUntil.Load() <= now {
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		o, err := r.rds.check(cctx, key, now)
		cancel()
		if err == nil {
			return o, pipeline.Verdict{}, nil
		}
		if ctx.Err() != nil { // the client went away, not Redis
			return outcome{}, pipeline.Verdict{}, ctx.Err()
		}
		br.downUntil.Store(now + int64(g.retry))
		if last := br.reported.Load(); now-last >= int64(time.Second) && br.reported.CompareAndSwap(last, now) {
			mode := "closed: answering 503"
			if r.open {
				mode = "open: using a local in-memory limit"
			}
			g.emit(events.Event{
				Time: time.Unix(0, now), Kind: events.KindSystem, API: g.api, Guard: g.step,
				Rule: "ratelimit.redis_unavailable", Category: "API4", Verdict: events.VerdictError,
				Detail: events.RedactText(fmt.Sprintf("rule %s: redis check failed (%v); failure mode %s for %s", r.name, err, mode, g.retry), 300),
			})
		}
	}
	if r.open {
		return br.fallback.check(br.fallback.hash(key), now), pipeline.Verdict{}, nil
	}
	return outcome{}, pipeline.Verdict{
		Action: pipeline.Block, Status: http.StatusServiceUnavailable, Rule: "ratelimit.redis_unavailable", Category: "API4",
		Title:  "The rate limiter is temporarily unavailable.",
		Detail: "rule " + r.name + ": redis unreachable, on_redis_error: closed",
		Header: http.Header{"Retry-After": {strconv.FormatInt(max(int64(math.Ceil(g.retry.Seconds())), 1), 10)}},
	}, nil
}

// deny builds the 429 answer of a rule.
func (g *Guard) deny(r *rule, o outcome, now int64) pipeline.Verdict {
	ps := r.paramsNS()
	var retry int64
	for i, p := range ps {
		if w := o.tat[i] + p.t - p.tau - now; w > retry {
			retry = w
		}
	}
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(ceilSeconds(retry), 10))
	h.Set("RateLimit-Policy", r.policy)
	h.Set("RateLimit", rateLimitField(r, o, now))
	return pipeline.Verdict{
		Action: pipeline.Block, Status: http.StatusTooManyRequests, Rule: "ratelimit.exceeded", Category: "API4",
		Title:  fmt.Sprintf("Too many requests: rate limit %q exceeded.", r.name),
		Detail: fmt.Sprintf("rule %s (%s, key %s) in %s; retry after %s", r.name, limitsString(r.limits), r.key, g.step, time.Duration(retry).Round(time.Millisecond)),
		Header: h,
	}
}

func (r *rule) paramsNS() []gcraParams {
	if r.mem != nil {
		return r.mem.params
	}
	return r.rds.params
}

func ceilSeconds(ns int64) int64 {
	s := (ns + int64(time.Second) - 1) / int64(time.Second)
	return max(s, 1)
}

// policyName is a limit's name in the RateLimit fields: the rule's name,
// suffixed by the limit's position when the rule has several.
func policyName(r *rule, i int) string {
	if len(r.limits) == 1 {
		return r.name
	}
	return r.name + "-" + strconv.Itoa(i+1)
}

// policyField is the RateLimit-Policy value (draft-ietf-httpapi-ratelimit-
// headers-09): one item per limit, q the quota and w the window in seconds.
func policyField(r *rule) string {
	var b strings.Builder
	for i, l := range r.limits {
		if i > 0 {
			b.WriteString(", ")
		}
		w := max(int64(math.Ceil(l.Window.Seconds())), 1)
		fmt.Fprintf(&b, "%q;q=%d;w=%d", policyName(r, i), l.Count, w)
	}
	return b.String()
}

// rateLimitField is the RateLimit value: per limit, r the requests left
// now and t the seconds until one more is admitted when none is left, or
// until the full burst is back otherwise.
func rateLimitField(r *rule, o outcome, now int64) string {
	var b strings.Builder
	for i, p := range r.paramsNS() {
		if i > 0 {
			b.WriteString(", ")
		}
		left := (now + p.tau - o.tat[i]) / p.t
		if left < 0 {
			left = 0
		}
		var t int64
		if left == 0 {
			t = ceilSeconds(o.tat[i] + p.t - p.tau - now)
		} else {
			t = (max(o.tat[i]-now, 0) + int64(time.Second) - 1) / int64(time.Second)
		}
		fmt.Fprintf(&b, "%q;r=%d;t=%d", policyName(r, i), left, t)
	}
	return b.String()
}
