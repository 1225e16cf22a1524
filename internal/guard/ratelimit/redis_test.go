package ratelimit

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/testsvc"
)

// ownRedis is a redis-server process of the test's own, on a free
// loopback port, that the test may stop (the shared Redis is never
// stopped).
type ownRedis struct {
	addr string
	cmd  *exec.Cmd
}

func startOwnRedis(t testing.TB, port string) *ownRedis {
	t.Helper()
	if port == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server (/usr/bin/redis-server is needed): %v", err)
	}
	r := &ownRedis{addr: "127.0.0.1:" + port, cmd: cmd}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *ownRedis) stop() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// roundTrips counts the commands a client sends (a pipeline counts once).
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func commandStats(t testing.TB, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := sc.Text() // cmdstat_evalsha:calls=50,usec=...
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// TestRedisAccuracy: three limiter instances (each with its own services,
// client and local state) share one real Redis; a global limit of N per
// window admits N under concurrent load, within 1%.
func TestRedisAccuracy(t *testing.T) {
	rdb := testsvc.Redis(t)
	const n, attempts, workers = 1000, 3000, 24
	section := `{backend: redis, rules: [{name: global, key: global, limits: ["1000/h"]}]}`
	var guards []*Guard
	for i := 0; i < 3; i++ {
		c := redis.NewClient(rdb.Options())
		t.Cleanup(func() { c.Close() })
		svc := pipeline.NewServices(pipeline.Services{Redis: c})
		guards = append(guards, mustGuard(t, section, svc, StagePreAuth))
	}
	var allowed, denied, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := guards[w%3]
			x := testExchange("198.51.100.1", "", "", nil)
			for next.Add(1) <= attempts {
				v, err := g.Request(context.Background(), x)
				switch {
				case err != nil || v.Status == 503:
					failed.Add(1)
				case v.Action == pipeline.Continue:
					allowed.Add(1)
				default:
					denied.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("admitted %d of %d attempts across 3 instances (limit %d), %d failures", allowed.Load(), attempts, n, failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d checks failed", failed.Load())
	}
	if got := allowed.Load(); got < n*99/100 || got > n*101/100 {
		t.Errorf("admitted = %d, want %d within 1%%", got, n)
	}
	if allowed.Load()+denied.Load() != attempts {
		t.Errorf("admitted+denied = %d, want %d", allowed.Load()+denied.Load(), attempts)
	}
}

// TestRedisOneRoundTripPerCheck counts commands on a private server: one
// EVALSHA per check, nothing else; and an unknown script falls back to
// EVAL once.
func TestRedisOneRoundTripPerCheck(t *testing.T) {
	own := startOwnRedis(t, "")
	c := redis.NewClient(&redis.Options{Addr: own.addr})
	t.Cleanup(func() { c.Close() })
	hook := &roundTrips{}
	c.AddHook(hook)
	admin := redis.NewClient(&redis.Options{Addr: own.addr})
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()

	g := mustGuard(t, `{backend: redis, rules: [{name: r, key: ip+operation, limits: ["5/m", "100/d"]}]}`, pipeline.NewServices(pipeline.Services{Redis: c}), StagePreAuth)
	// First check on a server that does not know the script: EVALSHA, then EVAL.
	if v, err := g.Request(ctx, testExchange("10.9.9.9", "", "", nil)); err != nil || v.Action != pipeline.Continue {
		t.Fatalf("first check = %+v, %v", v, err)
	}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	hook.n.Store(0)
	const checks = 20
	var blocked int
	for i := 0; i < checks; i++ {
		v, err := g.Request(ctx, testExchange("10.9.9.9", "", "", nil))
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == 429 {
			blocked++
		}
	}
	stats := commandStats(t, admin)
	// commandstats also counts the commands the script runs inside Redis
	// (hmget, hset, pexpire); the client itself sent only EVALSHA.
	for cmd, calls := range stats {
		switch cmd {
		case "evalsha", "config|resetstat", "hmget", "hset", "pexpire":
		default:
			t.Errorf("commandstats has %s=%d, want only evalsha and the script's own commands", cmd, calls)
		}
	}
	if stats["evalsha"] != checks || stats["hmget"] != checks {
		t.Errorf("commandstats after %d checks = %v, want %d evalsha", checks, stats, checks)
	}
	if got := hook.n.Load(); got != checks {
		t.Errorf("client round trips = %d for %d checks, want one each", got, checks)
	}
	if blocked != checks-4 {
		t.Errorf("blocked = %d, want %d (5 per minute)", blocked, checks-4)
	}
	if _, err := admin.ScriptFlush(ctx).Result(); err != nil {
		t.Fatal(err)
	}
	_ = admin.ConfigResetStat(ctx).Err()
	if _, err := g.Request(ctx, testExchange("10.9.9.8", "", "", nil)); err != nil {
		t.Fatal(err)
	}
	if s := commandStats(t, admin); s["evalsha"] != 1 || s["eval"] != 1 {
		t.Errorf("after SCRIPT FLUSH = %v, want one evalsha and one eval", s)
	}
}

// TestRedisFailureModes stops a private Redis mid-test: on_redis_error
// open falls back to a local limit with an event, closed answers 503; a
// restarted Redis is used again after redis_retry.
func TestRedisFailureModes(t *testing.T) {
	own := startOwnRedis(t, "")
	_, port, _ := net.SplitHostPort(own.addr)
	c := redis.NewClient(&redis.Options{Addr: own.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	clk := newClock()
	var mu sync.Mutex
	var evs []events.Event
	svc := pipeline.NewServices(pipeline.Services{Redis: c, Now: clk.Now, Emit: func(e events.Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }})
	section := `{backend: redis, redis_retry: 5s, rules: [
	  {name: open-rule, key: ip, operations: [login], limits: ["3/m"], on_redis_error: open},
	  {name: closed-rule, key: ip, operations: [listAccounts], limits: ["3/m"], on_redis_error: closed}]}`
	g := mustGuard(t, section, svc, StagePreAuth)
	login, list := opByID(t, g, "login"), opByID(t, g, "listAccounts")
	ctx := context.Background()
	do := func(op string) pipeline.Verdict {
		o := login
		if op == "list" {
			o = list
		}
		v, err := g.Request(ctx, testExchange("10.7.7.7", "", "", o))
		if err != nil {
			t.Fatalf("Request error = %v, want failure handled by the rule", err)
		}
		return v
	}
	// With Redis up: 2 logins and 2 lists counted in Redis.
	for i := 0; i < 2; i++ {
		if v := do("login"); v.Action != pipeline.Continue {
			t.Fatalf("login %d = %+v", i, v)
		}
		if v := do("list"); v.Action != pipeline.Continue {
			t.Fatalf("list %d = %+v", i, v)
		}
	}
	own.stop()

	// open: the local limit takes over (fresh, 3 per minute), with an event.
	for i := 0; i < 3; i++ {
		if v := do("login"); v.Action != pipeline.Continue {
			t.Fatalf("fail-open login %d = %+v, want allowed by the local limit", i, v)
		}
	}
	if v := do("login"); v.Status != 429 {
		t.Errorf("4th fail-open login = %+v, want 429 from the local limit", v)
	}
	// closed: 503.
	v := do("list")
	if v.Status != 503 || v.Rule != "ratelimit.redis_unavailable" || v.Header.Get("Retry-After") != "5" {
		t.Errorf("fail-closed list = %+v, want 503 ratelimit.redis_unavailable with Retry-After 5", v)
	}
	mu.Lock()
	n := 0
	for _, e := range evs {
		if e.Rule == "ratelimit.redis_unavailable" && e.Verdict == events.VerdictError {
			n++
		}
	}
	mu.Unlock()
	if n == 0 {
		t.Errorf("no ratelimit.redis_unavailable event, events = %v", evs)
	}

	// Redis back (empty): after redis_retry it is used again.
	startOwnRedis(t, port)
	clk.Add(6 * time.Second)
	if v := do("list"); v.Action != pipeline.Continue {
		t.Errorf("list after Redis came back = %+v, want allowed", v)
	}
	if keys, err := c.Keys(ctx, "apiguard:rl:*").Result(); err != nil || len(keys) != 1 {
		t.Errorf("keys in the restarted Redis = %v, %v, want the closed rule's one key", keys, err)
	}
}

func BenchmarkRedisCheck(b *testing.B) {
	rdb := testsvc.Redis(b)
	g := mustGuard(b, `{backend: redis, rules: [{name: r, key: ip, limits: ["1000000/s burst 1000000000"]}]}`, pipeline.NewServices(pipeline.Services{Redis: rdb}), StagePreAuth)
	x := testExchange("203.0.113.7", "", "", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := g.Request(ctx, x); err != nil || v.Action != pipeline.Continue {
			b.Fatal(v, err)
		}
	}
}
