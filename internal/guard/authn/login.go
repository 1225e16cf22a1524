package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// LoginConfig protects login operations against brute force and
// credential stuffing: failures are counted per username and per client
// IP; after FreeAttempts failures each attempt is delayed (doubling up to
// MaxDelay); after MaxFailures the username (or IP) is locked for Lockout.
// A locked answer is the same whether or not the username exists.
type LoginConfig struct {
	// Enabled turns login protection on. Default true (it applies to
	// operations marked x-apiguard-login and those listed here).
	Enabled *bool `yaml:"enabled" json:"enabled,omitempty"`
	// Operations marks more login operations.
	Operations []LoginOperation `yaml:"operations" json:"operations,omitempty"`
	// MaxFailures per username within Window before a lockout. Default 10.
	MaxFailures int `yaml:"max_failures" json:"max_failures,omitempty"`
	// MaxFailuresPerIP per client IP within Window before a lockout. Default 100.
	MaxFailuresPerIP int `yaml:"max_failures_per_ip" json:"max_failures_per_ip,omitempty"`
	// Window is how long failures are counted. Default 15m.
	Window config.Duration `yaml:"window" json:"window,omitempty"`
	// Lockout is how long a username or IP stays locked. Default 15m.
	Lockout config.Duration `yaml:"lockout" json:"lockout,omitempty"`
	// FreeAttempts are failures without delay. Default 3.
	FreeAttempts *int `yaml:"free_attempts" json:"free_attempts,omitempty"`
	// Delay is the first delay, doubled on each further failure. Default 250ms.
	Delay config.Duration `yaml:"delay" json:"delay,omitempty"`
	// MaxDelay caps the delay. Default 2s.
	MaxDelay config.Duration `yaml:"max_delay" json:"max_delay,omitempty"`
	// FailureStatuses are the upstream answers that mean a failed login.
	// Default [401, 403].
	FailureStatuses []int `yaml:"failure_statuses" json:"failure_statuses,omitempty"`
}

// LoginOperation marks an operation as a login.
type LoginOperation struct {
	// Operation is the operation id.
	Operation string `yaml:"operation" json:"operation"`
	// Username is the JSON pointer of the username in the request body.
	Username string `yaml:"username" json:"username"`
}

type loginOp struct {
	pointer string
}

type loginGuard struct {
	svc      *pipeline.Services
	ops      map[*openapi.Operation]*loginOp
	store    loginStore
	maxUser  int
	maxIP    int
	free     int
	delay    time.Duration
	maxDelay time.Duration
	lockout  time.Duration
	failures []int
}

// loginStore counts failures and holds lockouts.
type loginStore interface {
	// state returns the failures counted and how long the key stays locked.
	state(ctx context.Context, key string) (int, time.Duration, error)
	// fail counts a failure and locks the key when it reaches max.
	fail(ctx context.Context, key string, max int) error
	// reset forgets the failures of key.
	reset(ctx context.Context, key string) error
}

func newLoginGuard(b pipeline.Build, c *LoginConfig) (*loginGuard, error) {
	if c.Enabled != nil && !*c.Enabled {
		return nil, nil
	}
	g := &loginGuard{svc: b.Services, ops: map[*openapi.Operation]*loginOp{},
		maxUser: c.MaxFailures, maxIP: c.MaxFailuresPerIP, free: 3,
		delay: dur(c.Delay, 250*time.Millisecond), maxDelay: dur(c.MaxDelay, 2*time.Second),
		lockout: dur(c.Lockout, 15*time.Minute), failures: c.FailureStatuses}
	if g.maxUser <= 0 {
		g.maxUser = 10
	}
	if g.maxIP <= 0 {
		g.maxIP = 100
	}
	if c.FreeAttempts != nil {
		g.free = max(*c.FreeAttempts, 0)
	}
	if len(g.failures) == 0 {
		g.failures = []int{http.StatusUnauthorized, http.StatusForbidden}
	}
	window := dur(c.Window, 15*time.Minute)
	if b.Spec != nil {
		for _, op := range b.Spec.Operations {
			m, ok := op.Extensions["x-apiguard-login"].(map[string]any)
			if !ok {
				continue
			}
			ptr, _ := m["username"].(string)
			if ptr != "" && !strings.HasPrefix(ptr, "/") {
				return nil, fmt.Errorf("operations: x-apiguard-login of %s: username must be a JSON pointer such as /username", op.ID)
			}
			g.ops[op] = &loginOp{pointer: ptr}
		}
	}
	for i, lo := range c.Operations {
		var found *openapi.Operation
		if b.Spec != nil {
			for _, op := range b.Spec.Operations {
				if op.ID == lo.Operation {
					found = op
				}
			}
		}
		if found == nil {
			return nil, fmt.Errorf("operations[%d].operation: no operation %q in the spec", i, lo.Operation)
		}
		if lo.Username != "" && !strings.HasPrefix(lo.Username, "/") {
			return nil, fmt.Errorf("operations[%d].username: must be a JSON pointer such as /username", i)
		}
		g.ops[found] = &loginOp{pointer: lo.Username}
	}
	if len(g.ops) == 0 {
		return nil, nil
	}
	if b.Services.Redis != nil {
		g.store = &redisLogin{rdb: b.Services.Redis, prefix: "apiguard:authn:login:" + b.API + ":", window: window, lockout: g.lockout}
	} else {
		v, err := b.Services.Shared(fmt.Sprintf("authn/login/%s/%s/%s", b.API, window, g.lockout), func() (any, error) {
			return &memLogin{now: b.Services.Now, window: window, lockout: g.lockout, m: map[string]*loginCount{}}, nil
		})
		if err != nil {
			return nil, err
		}
		g.store = v.(*memLogin)
	}
	return g, nil
}

// pointerString reads a JSON pointer (RFC 6901) in a decoded body.
func pointerString(v any, ptr string) (string, bool) {
	if ptr == "" {
		return "", false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch t := v.(type) {
		case map[string]any:
			v = t[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return "", false
			}
			v = t[i]
		default:
			return "", false
		}
	}
	s, ok := v.(string)
	return s, ok
}

func hashKey(prefix, s string) string {
	sum := sha256.Sum256([]byte(s))
	return prefix + hex.EncodeToString(sum[:16])
}

// check refuses locked usernames and IPs, delays repeated failures and
// arranges for the upstream's answer to be counted.
func (g *loginGuard) check(ctx context.Context, x *pipeline.Exchange, op *loginOp) (pipeline.Verdict, error) {
	var userKey string
	if body, err := x.JSON(); err == nil {
		if u, ok := pointerString(body, op.pointer); ok && u != "" {
			u = strings.ToLower(strings.TrimSpace(u))
			if len(u) > 256 {
				u = u[:256]
			}
			userKey = hashKey("u:", u)
		}
	}
	ipKey := hashKey("ip:", x.ClientIP.String())
	uFails, uLock, err := 0, time.Duration(0), error(nil)
	if userKey != "" {
		if uFails, uLock, err = g.store.state(ctx, userKey); err != nil {
			return pipeline.Verdict{}, fmt.Errorf("login counters: %w", err)
		}
	}
	_, ipLock, err := g.store.state(ctx, ipKey)
	if err != nil {
		return pipeline.Verdict{}, fmt.Errorf("login counters: %w", err)
	}
	if lock := max(uLock, ipLock); lock > 0 {
		who := "username"
		if ipLock > uLock {
			who = "client IP"
		}
		secs := int((lock + time.Second - 1) / time.Second)
		return pipeline.Verdict{
			Action: pipeline.Block, Status: http.StatusTooManyRequests, Rule: "authn.locked_out", Category: "API2",
			Title:  "Too many failed attempts. Try again later.",
			Detail: fmt.Sprintf("%s locked for %ds after repeated login failures", who, secs),
			Header: http.Header{"Retry-After": {strconv.Itoa(secs)}, "Cache-Control": {"no-store"}},
		}, nil
	}
	if over := uFails - g.free; over >= 0 && g.delay > 0 {
		d := g.delay << min(over, 20)
		if d > g.maxDelay || d <= 0 {
			d = g.maxDelay
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return pipeline.Verdict{}, ctx.Err()
		}
	}
	x.OnResponse(func(resp *http.Response) {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		switch {
		case slices.Contains(g.failures, resp.StatusCode):
			if userKey != "" {
				_ = g.store.fail(c, userKey, g.maxUser)
			}
			_ = g.store.fail(c, ipKey, g.maxIP)
		case resp.StatusCode >= 200 && resp.StatusCode < 300 && userKey != "":
			_ = g.store.reset(c, userKey)
		}
	})
	return pipeline.Verdict{}, nil
}

// memLogin keeps login counters in memory (one instance).
type memLogin struct {
	now             func() time.Time
	window, lockout time.Duration
	mu              sync.Mutex
	m               map[string]*loginCount
}

type loginCount struct {
	fails       int
	since       time.Time
	lockedUntil time.Time
}

const maxLoginEntries = 200000

func (s *memLogin) get(key string, now time.Time) *loginCount {
	c := s.m[key]
	if c != nil && c.lockedUntil.Before(now) && now.Sub(c.since) > s.window {
		delete(s.m, key)
		c = nil
	}
	return c
}

func (s *memLogin) state(_ context.Context, key string) (int, time.Duration, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.get(key, now)
	if c == nil {
		return 0, 0, nil
	}
	var lock time.Duration
	if now.Before(c.lockedUntil) {
		lock = c.lockedUntil.Sub(now)
	}
	return c.fails, lock, nil
}

func (s *memLogin) fail(_ context.Context, key string, limit int) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.get(key, now)
	if c == nil {
		if len(s.m) >= maxLoginEntries {
			for k := range s.m {
				s.get(k, now)
			}
		}
		c = &loginCount{since: now}
		s.m[key] = c
	}
	c.fails++
	if c.fails >= limit {
		c.lockedUntil, c.fails, c.since = now.Add(s.lockout), 0, now
	}
	return nil
}

func (s *memLogin) reset(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.m[key]; c != nil && !s.now().Before(c.lockedUntil) {
		delete(s.m, key)
	}
	return nil
}

// redisLogin shares login counters between instances.
type redisLogin struct {
	rdb             redis.UniversalClient
	prefix          string
	window, lockout time.Duration
}

func (s *redisLogin) state(ctx context.Context, key string) (int, time.Duration, error) {
	pipe := s.rdb.Pipeline()
	fails := pipe.Get(ctx, s.prefix+key+":fails")
	lock := pipe.PTTL(ctx, s.prefix+key+":lock")
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, 0, err
	}
	n, _ := fails.Int()
	d := lock.Val()
	if d < 0 {
		d = 0
	}
	return n, d, nil
}

func (s *redisLogin) fail(ctx context.Context, key string, limit int) error {
	n, err := s.rdb.Incr(ctx, s.prefix+key+":fails").Result()
	if err != nil {
		return err
	}
	if n == 1 {
		s.rdb.PExpire(ctx, s.prefix+key+":fails", s.window)
	}
	if n >= int64(limit) {
		pipe := s.rdb.TxPipeline()
		pipe.Set(ctx, s.prefix+key+":lock", 1, s.lockout)
		pipe.Del(ctx, s.prefix+key+":fails")
		_, err = pipe.Exec(ctx)
	}
	return err
}

func (s *redisLogin) reset(ctx context.Context, key string) error {
	return s.rdb.Del(ctx, s.prefix+key+":fails").Err()
}
