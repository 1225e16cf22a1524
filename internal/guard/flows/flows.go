// Package flows protects sensitive business flows (OWASP API6): named
// flows with exact quotas per principal, device or IP over long windows
// ("5 transfers per hour"), sequence rules ("testWebhook only within 10
// minutes after createWebhook by the same principal"), and automation
// signals (machine-regular cadence, automation user agents, missing
// headers) answered by an escalation: event, delay, 429 with a challenge
// header, block with a TTL. State is in Redis when configured (one script,
// one round trip per request), else in memory shared across reloads.
package flows

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/guard/ratelimit"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// SpecExtension declares an operation's flow in the spec: the name of a
// flow of the config, or a whole flow ({name, quotas, requires}).
const SpecExtension = "x-apiguard-flow"

// maxQuota bounds a quota's count: the exact window keeps one timestamp
// per admitted event.
const maxQuota = 10000

// DefaultAutomationAgents are the user-agent substrings (case-insensitive)
// of HTTP libraries and headless browsers.
var DefaultAutomationAgents = []string{"curl/", "wget/", "python-requests", "python-urllib", "python-httpx", "aiohttp", "go-http-client", "libwww-perl", "java/", "apache-httpclient", "okhttp", "node-fetch", "axios/", "undici", "scrapy", "headlesschrome", "phantomjs", "selenium", "puppeteer", "playwright"}

// Config is the `flows` section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Backend is memory (default) or redis.
	Backend string `yaml:"backend,omitempty" json:"backend,omitempty" jsonschema:"enum=memory,enum=redis"`
	// MaxKeys bounds the in-memory state. Default 100000.
	MaxKeys int `yaml:"max_keys,omitempty" json:"max_keys,omitempty"`
	// DeviceHeader carries the client's device id for per: device quotas.
	// Default X-Device-Id; without it the client IP stands in.
	DeviceHeader string `yaml:"device_header,omitempty" json:"device_header,omitempty"`
	// RedisTimeout bounds one Redis check. Default 200ms.
	RedisTimeout config.Duration `yaml:"redis_timeout,omitempty" json:"redis_timeout,omitempty"`
	// Flows are the named business flows.
	Flows []FlowConfig `yaml:"flows,omitempty" json:"flows,omitempty"`
	// Automation, when set, scores every request of the flows' operations
	// for signs of automation and escalates.
	Automation *AutomationConfig `yaml:"automation,omitempty" json:"automation,omitempty"`
}

// FlowConfig is one named business flow.
type FlowConfig struct {
	// Name names the flow in answers and events.
	Name string `yaml:"name" json:"name"`
	// Operations are the operationIds that are steps of the flow (and any
	// operation whose x-apiguard-flow names it).
	Operations []string `yaml:"operations,omitempty" json:"operations,omitempty"`
	// Quotas are exact limits over sliding windows.
	Quotas []QuotaConfig `yaml:"quotas,omitempty" json:"quotas,omitempty"`
	// Requires is a sequence rule: the flow's operations are only allowed
	// within a time after another operation by the same principal.
	Requires *RequireConfig `yaml:"requires,omitempty" json:"requires,omitempty"`
}

// QuotaConfig is "at most COUNT per WINDOW for each principal|device|ip".
type QuotaConfig struct {
	// Per is principal (default), device or ip.
	Per string `yaml:"per,omitempty" json:"per,omitempty" jsonschema:"enum=principal,enum=device,enum=ip"`
	// Limit is COUNT/WINDOW, such as 5/h or 3/d (no burst: exact).
	Limit string `yaml:"limit" json:"limit"`
}

// RequireConfig is a sequence rule.
type RequireConfig struct {
	// Operation is the operationId that must come first.
	Operation string `yaml:"operation" json:"operation"`
	// Within is how long after it the flow's operations are allowed.
	Within config.Duration `yaml:"within" json:"within"`
}

// AutomationConfig configures automation detection and escalation.
type AutomationConfig struct {
	// UserAgents are case-insensitive substrings of automation user
	// agents. Default DefaultAutomationAgents; an empty User-Agent always
	// counts.
	UserAgents []string `yaml:"user_agents,omitempty" json:"user_agents,omitempty"`
	// RequiredHeaders are headers a real client sends. Default [Accept].
	// For browser flows add Accept-Language.
	RequiredHeaders []string `yaml:"required_headers,omitempty" json:"required_headers,omitempty"`
	// CadenceRequests is how many recent requests the cadence signal
	// looks at. Default 8.
	CadenceRequests int `yaml:"cadence_requests,omitempty" json:"cadence_requests,omitempty"`
	// CadenceMaxCV is the coefficient of variation of inter-arrival times
	// below which the cadence is machine-regular. Default 0.1.
	CadenceMaxCV float64 `yaml:"cadence_max_cv,omitempty" json:"cadence_max_cv,omitempty"`
	// MinSignals is how many signals make a request suspicious (a strike).
	// Default 1.
	MinSignals int `yaml:"min_signals,omitempty" json:"min_signals,omitempty"`
	// StrikeTTL is how long strikes are remembered. Default 10m.
	StrikeTTL config.Duration `yaml:"strike_ttl,omitempty" json:"strike_ttl,omitempty"`
	// DelayAt is the strike count from which requests are delayed by
	// Delay. Default 3 (0 disables).
	DelayAt int `yaml:"delay_at,omitempty" json:"delay_at,omitempty"`
	// Delay is the delay. Default 2s.
	Delay config.Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	// ChallengeAt is the strike count from which requests get 429 with the
	// challenge header. Default 5 (0 disables).
	ChallengeAt int `yaml:"challenge_at,omitempty" json:"challenge_at,omitempty"`
	// ChallengeHeader and ChallengeValue are sent with the 429 for the
	// client app. Default "APIGuard-Challenge: required".
	ChallengeHeader string `yaml:"challenge_header,omitempty" json:"challenge_header,omitempty"`
	ChallengeValue  string `yaml:"challenge_value,omitempty" json:"challenge_value,omitempty"`
	// BlockAt is the strike count that blocks the client for BlockTTL.
	// Default 10 (0 disables).
	BlockAt int `yaml:"block_at,omitempty" json:"block_at,omitempty"`
	// BlockTTL is the block's length. Default 15m.
	BlockTTL config.Duration `yaml:"block_ttl,omitempty" json:"block_ttl,omitempty"`
	// MaxDelayed bounds requests held by delays at once; beyond it they
	// are challenged instead. Default 1000.
	MaxDelayed int `yaml:"max_delayed,omitempty" json:"max_delayed,omitempty"`
}

type quota struct {
	per   string
	limit ratelimit.Limit
}

type flow struct {
	name     string
	quotas   []quota
	requires string
	within   time.Duration
}

// opPlan is what one operation does in the flow state.
type opPlan struct {
	flows []*flow
	marks []string // operation ids whose marks this op sets (itself)
	markT time.Duration
	auto  bool
}

// Guard is the flows guard of one API.
type Guard struct {
	api     string
	prefix  string // "apiguard:fl:{<api>}:"
	byOp    map[*openapi.Operation]*opPlan
	back    backend
	now     func() time.Time
	device  string
	auto    *AutomationConfig
	agents  [][]byte
	delays  chan struct{}
	timeout time.Duration
	sleep   func(ctx context.Context, d time.Duration) error
}

func init() {
	pipeline.Register(pipeline.Registration{Name: "flows", Section: "flows", New: New})
}

// New builds the flows guard from its section.
func New(b pipeline.Build) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Backend {
	case "", "memory":
		cfg.Backend = "memory"
	case "redis":
		if b.Services.Redis == nil {
			return nil, errors.New("backend: redis needs the top-level redis section")
		}
	default:
		return nil, fmt.Errorf("backend: must be memory or redis, not %q", cfg.Backend)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.MaxKeys < 100 {
		return nil, errors.New("max_keys: must be at least 100")
	}
	if cfg.DeviceHeader == "" {
		cfg.DeviceHeader = "X-Device-Id"
	}
	if cfg.RedisTimeout == 0 {
		cfg.RedisTimeout = config.Duration(200 * time.Millisecond)
	}
	if b.Spec == nil {
		return nil, errors.New("flows: the API needs a spec (flows name operations)")
	}
	ops := map[string]*openapi.Operation{}
	for _, op := range b.Spec.Operations {
		ops[op.ID] = op
	}
	// Flows from the spec: a name joins a config flow, an object is a flow.
	specOps := map[string][]string{}
	for _, op := range b.Spec.Operations {
		v, ok := op.Extensions[SpecExtension]
		if !ok {
			continue
		}
		switch e := v.(type) {
		case string:
			specOps[e] = append(specOps[e], op.ID)
		case map[string]any:
			fc, err := decodeSpecFlow(e)
			if err != nil {
				return nil, fmt.Errorf("spec operation %s: %s: %w", op.ID, SpecExtension, err)
			}
			fc.Operations = append(fc.Operations, op.ID)
			cfg.Flows = append(cfg.Flows, fc)
		default:
			return nil, fmt.Errorf("spec operation %s: %s: must be a flow name or a flow object", op.ID, SpecExtension)
		}
	}
	g := &Guard{api: b.API, prefix: "apiguard:fl:{" + b.API + "}:", byOp: map[*openapi.Operation]*opPlan{}, now: b.Services.Now,
		device: http.CanonicalHeaderKey(cfg.DeviceHeader), timeout: cfg.RedisTimeout.D(), sleep: sleepCtx}
	plan := func(op *openapi.Operation) *opPlan {
		p := g.byOp[op]
		if p == nil {
			p = &opPlan{}
			g.byOp[op] = p
		}
		return p
	}
	names := map[string]bool{}
	for i := range cfg.Flows {
		fc := &cfg.Flows[i]
		p := fmt.Sprintf("flows[%d]", i)
		if fc.Name == "" || len(fc.Name) > 64 || strings.ContainsAny(fc.Name, "\"\\:{}\r\n") {
			return nil, fmt.Errorf("%s.name: must be 1-64 characters without quotes, colons or braces", p)
		}
		if names[fc.Name] {
			return nil, fmt.Errorf("%s.name: %q is used twice", p, fc.Name)
		}
		names[fc.Name] = true
		f := &flow{name: fc.Name}
		for j, q := range fc.Quotas {
			qp := fmt.Sprintf("%s.quotas[%d]", p, j)
			switch q.Per {
			case "":
				q.Per = "principal"
			case "principal", "device", "ip":
			default:
				return nil, fmt.Errorf("%s.per: must be principal, device or ip, not %q", qp, q.Per)
			}
			l, err := ratelimit.ParseLimit(q.Limit)
			if err != nil {
				return nil, fmt.Errorf("%s.limit: %w", qp, err)
			}
			if l.Burst != l.Count || l.Count > maxQuota {
				return nil, fmt.Errorf("%s.limit: a flow quota is exact: COUNT/WINDOW with COUNT at most %d and no burst", qp, maxQuota)
			}
			f.quotas = append(f.quotas, quota{per: q.Per, limit: l})
		}
		if r := fc.Requires; r != nil {
			if ops[r.Operation] == nil {
				return nil, fmt.Errorf("%s.requires.operation: no operation %q in the spec", p, r.Operation)
			}
			if r.Within <= 0 {
				return nil, fmt.Errorf("%s.requires.within: must be a positive duration", p)
			}
			f.requires, f.within = r.Operation, r.Within.D()
			pa := plan(ops[r.Operation])
			if !slices.Contains(pa.marks, r.Operation) {
				pa.marks = append(pa.marks, r.Operation)
			}
			pa.markT = max(pa.markT, f.within)
		}
		if len(f.quotas) == 0 && f.requires == "" {
			return nil, fmt.Errorf("%s: a flow needs quotas or requires", p)
		}
		fops := append(slices.Clone(fc.Operations), specOps[fc.Name]...)
		delete(specOps, fc.Name)
		if len(fops) == 0 {
			return nil, fmt.Errorf("%s.operations: the flow applies to no operation (list operationIds or use %s in the spec)", p, SpecExtension)
		}
		for j, id := range fops {
			op := ops[id]
			if op == nil {
				return nil, fmt.Errorf("%s.operations[%d]: no operation %q in the spec", p, j, id)
			}
			pl := plan(op)
			if !slices.Contains(pl.flows, f) {
				pl.flows = append(pl.flows, f)
			}
		}
	}
	for name := range specOps {
		return nil, fmt.Errorf("spec: %s names flow %q, which the config does not define", SpecExtension, name)
	}
	if a := cfg.Automation; a != nil {
		if err := automationDefaults(a); err != nil {
			return nil, fmt.Errorf("automation.%w", err)
		}
		g.auto = a
		for _, s := range a.UserAgents {
			g.agents = append(g.agents, []byte(strings.ToLower(s)))
		}
		g.delays = make(chan struct{}, a.MaxDelayed)
		for _, p := range g.byOp {
			p.auto = len(p.flows) > 0
		}
	}
	if len(g.byOp) == 0 {
		return nil, nil
	}
	key := "flows/" + b.API + "/" + cfg.Backend
	if cfg.Backend == "redis" {
		g.back = &redisBackend{client: b.Services.Redis}
	} else {
		v, err := b.Services.Shared(key+"/"+strconv.Itoa(cfg.MaxKeys), func() (any, error) { return newMemBackend(cfg.MaxKeys), nil })
		if err != nil {
			return nil, err
		}
		g.back = v.(*memBackend)
	}
	return g, nil
}

func decodeSpecFlow(m map[string]any) (FlowConfig, error) {
	var fc FlowConfig
	raw, err := yaml.Marshal(m)
	if err != nil {
		return fc, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		return fc, err
	}
	return fc, nil
}

func automationDefaults(a *AutomationConfig) error {
	if a.UserAgents == nil {
		a.UserAgents = DefaultAutomationAgents
	}
	if a.RequiredHeaders == nil {
		a.RequiredHeaders = []string{"Accept"}
	}
	for i, h := range a.RequiredHeaders {
		a.RequiredHeaders[i] = http.CanonicalHeaderKey(h)
	}
	if a.CadenceRequests == 0 {
		a.CadenceRequests = 8
	}
	if a.CadenceRequests < 3 || a.CadenceRequests > 100 {
		return errors.New("cadence_requests: must be from 3 to 100")
	}
	if a.CadenceMaxCV == 0 {
		a.CadenceMaxCV = 0.1
	}
	if a.CadenceMaxCV < 0 || a.CadenceMaxCV > 10 {
		return errors.New("cadence_max_cv: must be from 0 to 10")
	}
	if a.MinSignals == 0 {
		a.MinSignals = 1
	}
	if a.StrikeTTL == 0 {
		a.StrikeTTL = config.Duration(10 * time.Minute)
	}
	if a.DelayAt == 0 {
		a.DelayAt = 3
	}
	if a.Delay == 0 {
		a.Delay = config.Duration(2 * time.Second)
	}
	if a.Delay.D() > 30*time.Second {
		return errors.New("delay: must be at most 30s")
	}
	if a.ChallengeAt == 0 {
		a.ChallengeAt = 5
	}
	if a.ChallengeHeader == "" {
		a.ChallengeHeader = "APIGuard-Challenge"
	}
	if a.ChallengeValue == "" {
		a.ChallengeValue = "required"
	}
	if a.BlockAt == 0 {
		a.BlockAt = 10
	}
	if a.BlockTTL == 0 {
		a.BlockTTL = config.Duration(15 * time.Minute)
	}
	if a.MaxDelayed == 0 {
		a.MaxDelayed = 1000
	}
	for _, v := range []int{a.DelayAt, a.ChallengeAt, a.BlockAt, a.MinSignals} {
		if v < 0 {
			return errors.New("min_signals, delay_at, challenge_at, block_at: must not be negative (0 means the default)")
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hashID names an identity in state keys without storing it.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// identity returns the id of a quota's subject, or "" when it does not
// apply (per principal on an anonymous request).
func (g *Guard) identity(x *pipeline.Exchange, per string) string {
	switch per {
	case "principal":
		if x.Principal == nil || x.Principal.Subject == "" {
			return ""
		}
		return "p:" + x.Principal.Tenant + "\x00" + x.Principal.Subject
	case "device":
		if d := x.Request.Header.Get(g.device); d != "" {
			return "d:" + d
		}
	}
	return "ip:" + x.ClientIP.String()
}

// actor is the principal, or the IP for anonymous requests: who a sequence
// rule and the automation score follow.
func (g *Guard) actor(x *pipeline.Exchange) string {
	if id := g.identity(x, "principal"); id != "" {
		return id
	}
	return "ip:" + x.ClientIP.String()
}

// signals counts the automation signals of the request itself and names
// them for the event.
func (g *Guard) signals(x *pipeline.Exchange) (int, []string) {
	var n int
	var why []string
	ua := strings.ToLower(x.Request.Header.Get("User-Agent"))
	if ua == "" {
		n, why = n+1, append(why, "no user agent")
	} else {
		for _, a := range g.agents {
			if strings.Contains(ua, string(a)) {
				n, why = n+1, append(why, "automation user agent")
				break
			}
		}
	}
	for _, h := range g.auto.RequiredHeaders {
		if x.Request.Header.Get(h) == "" {
			n, why = n+1, append(why, "no "+h+" header")
		}
	}
	return n, why
}

// Request applies the flows of the request's operation.
func (g *Guard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return pipeline.Verdict{}, nil
	}
	p := g.byOp[x.Operation]
	if p == nil {
		return pipeline.Verdict{}, nil
	}
	now := g.now()
	us := now.UnixMicro()
	actor := g.actor(x)
	req := &checkReq{now: us, nonce: rand.Text()}
	type qref struct {
		f *flow
		q quota
	}
	var qs []qref
	for _, f := range p.flows {
		for i, q := range f.quotas {
			id := g.identity(x, q.per)
			if id == "" {
				continue
			}
			req.quotas = append(req.quotas, quotaReq{key: g.prefix + "q:" + hashID(f.name, strconv.Itoa(i), q.limit.String(), id), limit: q.limit.Count, window: q.limit.Window.Microseconds()})
			qs = append(qs, qref{f, q})
		}
	}
	var seqFlows []*flow
	for _, f := range p.flows {
		if f.requires != "" {
			req.seqs = append(req.seqs, seqReq{key: g.prefix + "m:" + hashID(f.requires, actor), within: f.within.Microseconds()})
			seqFlows = append(seqFlows, f)
		}
	}
	for _, m := range p.marks {
		req.marks = append(req.marks, markReq{key: g.prefix + "m:" + hashID(m, actor), ttl: p.markT.Microseconds()})
	}
	var why []string
	if p.auto {
		a := g.auto
		var n int
		n, why = g.signals(x)
		id := hashID(actor)
		req.auto = &autoReq{key: g.prefix + "a:" + id, tsKey: g.prefix + "t:" + id, signals: n, cadenceN: a.CadenceRequests, maxCV: a.CadenceMaxCV,
			minSignals: a.MinSignals, strikeTTL: a.StrikeTTL.D().Microseconds(), challengeAt: a.ChallengeAt, blockAt: a.BlockAt, blockTTL: a.BlockTTL.D().Microseconds()}
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	res, err := g.back.check(cctx, req)
	cancel()
	if err != nil {
		return pipeline.Verdict{}, fmt.Errorf("flows state: %w", err)
	}
	if res.cadence {
		why = append(why, "machine-regular cadence")
	}
	detail := fmt.Sprintf("operation %s, strikes %d, signals: %s", x.Operation.ID, res.strikes, strings.Join(why, ", "))
	if res.blockedUntil > us {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "flows.automation_blocked", Category: "API6",
			Title: "This client is temporarily blocked for automated use of a sensitive flow.", Detail: detail,
			Header: http.Header{"Retry-After": {strconv.FormatInt(ceilSec(res.blockedUntil-us), 10)}}}, nil
	}
	a := g.auto
	challenge := func() pipeline.Verdict {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusTooManyRequests, Rule: "flows.automation_challenge", Category: "API6",
			Title: "Automated use suspected: complete the challenge in the app and retry.", Detail: detail,
			Header: http.Header{a.ChallengeHeader: {a.ChallengeValue}, "Retry-After": {"1"}}}
	}
	if p.auto && a.ChallengeAt > 0 && res.strikes >= a.ChallengeAt {
		return challenge(), nil
	}
	if res.quota >= 0 && res.quota < len(qs) {
		q := qs[res.quota]
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusTooManyRequests, Rule: "flows.quota_exceeded", Category: "API6",
			Title:  fmt.Sprintf("The %q flow allows %d per %s per %s; try again later.", q.f.name, q.q.limit.Count, humanWindow(q.q.limit.Window), q.q.per),
			Detail: fmt.Sprintf("flow %s quota %s per %s, operation %s", q.f.name, q.q.limit, q.q.per, x.Operation.ID),
			Header: http.Header{"Retry-After": {strconv.FormatInt(ceilSec(res.retry), 10)}}}, nil
	}
	if res.seq >= 0 && res.seq < len(seqFlows) {
		f := seqFlows[res.seq]
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "flows.out_of_sequence", Category: "API6",
			Title:  fmt.Sprintf("The %q flow requires %s first, within %s.", f.name, f.requires, humanWindow(f.within)),
			Detail: fmt.Sprintf("flow %s: %s without %s in the last %s", f.name, x.Operation.ID, f.requires, f.within)}, nil
	}
	if !p.auto || !res.suspicious {
		return pipeline.Verdict{}, nil
	}
	if a.DelayAt > 0 && res.strikes >= a.DelayAt {
		select {
		case g.delays <- struct{}{}:
		default:
			return challenge(), nil // too many held requests: do not hold more
		}
		err := g.sleep(ctx, a.Delay.D())
		<-g.delays
		if err != nil {
			return pipeline.Verdict{}, nil // client gone; nothing to answer
		}
		return pipeline.Verdict{Action: pipeline.Observe, Rule: "flows.automation_delayed", Category: "API6", Detail: detail + ", delayed " + a.Delay.D().String()}, nil
	}
	return pipeline.Verdict{Action: pipeline.Observe, Rule: "flows.automation_suspected", Category: "API6", Detail: detail}, nil
}

func ceilSec(us int64) int64 { return max((us+999_999)/1_000_000, 1) }

func humanWindow(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d == 24*time.Hour:
		return "day"
	case d == time.Minute:
		return "minute"
	}
	return d.String()
}
