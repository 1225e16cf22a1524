package flows

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/testsvc"
)

const sec = int64(1e6) // one second in microseconds

// step is one check against a backend and the outcome wanted.
type step struct {
	at      int64 // microseconds since the start
	req     func(now int64) *checkReq
	quota   int
	seq     int
	strikes int
	blocked bool
	retry   int64 // checked when quota >= 0
}

func quotaReq5h(now int64) *checkReq {
	return &checkReq{now: now, nonce: fmt.Sprint(now), quotas: []quotaReq{{key: "t:q:alice", limit: 5, window: 3600 * sec}}}
}

func seqCheck(now int64) *checkReq {
	return &checkReq{now: now, nonce: "n", seqs: []seqReq{{key: "t:m:A:alice", within: 600 * sec}}}
}

func markReqA(now int64) *checkReq {
	return &checkReq{now: now, nonce: "n", marks: []markReq{{key: "t:m:A:alice", ttl: 600 * sec}}}
}

func botReq(signals int) func(now int64) *checkReq {
	return func(now int64) *checkReq {
		return &checkReq{now: now, nonce: fmt.Sprint(now), auto: &autoReq{key: "t:a:bot", tsKey: "t:t:bot", signals: signals, cadenceN: 4, maxCV: 0.1,
			minSignals: 1, strikeTTL: 600 * sec, challengeAt: 3, blockAt: 4, blockTTL: 900 * sec},
			quotas: []quotaReq{{key: "t:q:bot", limit: 100, window: 3600 * sec}}}
	}
}

func scenarios() map[string][]step {
	q := []step{}
	for i := 0; i < 5; i++ {
		q = append(q, step{at: int64(i) * 60 * sec, req: quotaReq5h, quota: -1, seq: -1})
	}
	q = append(q,
		step{at: 10 * 60 * sec, req: quotaReq5h, quota: 0, seq: -1, retry: 3600*sec - 10*60*sec},
		step{at: 3600*sec - 1, req: quotaReq5h, quota: 0, seq: -1, retry: 1},
		step{at: 3600 * sec, req: quotaReq5h, quota: -1, seq: -1},
		step{at: 3600 * sec, req: quotaReq5h, quota: 0, seq: -1, retry: 60 * sec},
	)
	return map[string][]step{
		"exact quota 5 per hour": q,
		"sequence": {
			{at: 0, req: seqCheck, quota: -1, seq: 0},
			{at: sec, req: markReqA, quota: -1, seq: -1},
			{at: 2 * sec, req: seqCheck, quota: -1, seq: -1},
			{at: 601 * sec, req: seqCheck, quota: -1, seq: -1},
			{at: 602 * sec, req: seqCheck, quota: -1, seq: 0},
		},
		"automation escalates to a block": {
			{at: 0, req: botReq(0), quota: -1, seq: -1},                   // nothing yet
			{at: sec, req: botReq(1), quota: -1, seq: -1, strikes: 1},     // UA signal
			{at: 2 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 1}, // clean
			{at: 3 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 2}, // 4 requests 1 s apart: cadence
			{at: 4 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 3}, // challenge level: not counted
			{at: 5 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 4, blocked: true},
			{at: 100 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 4, blocked: true},
			{at: 906 * sec, req: botReq(0), quota: -1, seq: -1, strikes: 0}, // block and strikes expired; cadence history too
		},
	}
}

func runScenario(t *testing.T, b backend, steps []step) {
	t.Helper()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i, s := range steps {
		now := start + s.at
		res, err := b.check(context.Background(), s.req(now))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.quota != s.quota || res.seq != s.seq || res.strikes != s.strikes || (res.blockedUntil > now) != s.blocked {
			t.Fatalf("step %d: check() = %+v, want quota %d seq %d strikes %d blocked %v", i, res, s.quota, s.seq, s.strikes, s.blocked)
		}
		if s.quota >= 0 && res.retry != s.retry {
			t.Errorf("step %d: retry = %d, want %d", i, res.retry, s.retry)
		}
	}
}

// TestBackends runs the same scenarios on memory and on a real Redis: the
// Lua script and the Go code must agree step by step.
func TestBackends(t *testing.T) {
	rdb := testsvc.Redis(t)
	for name, steps := range scenarios() {
		t.Run("memory/"+name, func(t *testing.T) { runScenario(t, newMemBackend(1000), steps) })
		t.Run("redis/"+name, func(t *testing.T) {
			if err := rdb.FlushDB(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			runScenario(t, &redisBackend{client: rdb}, steps)
		})
	}
}

func TestMemoryBounded(t *testing.T) {
	m := newMemBackend(1000)
	now := time.Now().UnixMicro()
	for i := 0; i < 5000; i++ {
		_, _ = m.check(context.Background(), &checkReq{now: now, quotas: []quotaReq{{key: fmt.Sprint(i), limit: 5, window: 3600 * sec}}})
	}
	if n := m.size(); n > 1000 {
		t.Errorf("size() = %d, want <= 1000", n)
	}
}

func TestCadence(t *testing.T) {
	tests := []struct {
		name string
		ts   []int64
		want bool
	}{
		{"regular", []int64{0, 1000, 2000, 3000, 4000}, true},
		{"tiny jitter", []int64{0, 1000, 2010, 2990, 4005}, true},
		{"human", []int64{0, 800, 3500, 3900, 9000}, false},
		{"same instant", []int64{5, 5, 5}, true},
		{"too few", []int64{0, 1000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cadenceIsMachine(tt.ts, 0.1); got != tt.want {
				t.Errorf("cadenceIsMachine(%v) = %v, want %v", tt.ts, got, tt.want)
			}
		})
	}
}

func FuzzCadence(f *testing.F) {
	f.Add(int64(0), int64(1000), int64(2000), int64(3000))
	f.Add(int64(-5), int64(1<<62), int64(0), int64(9))
	f.Fuzz(func(t *testing.T, a, b, c, d int64) {
		_ = cadenceIsMachine([]int64{a, b, c, d}, 0.1)
	})
}

// TestRedisOneRoundTrip counts a flows check on a private Redis: one
// EVALSHA, whatever the flow uses.
func TestRedisOneRoundTrip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for i := 0; c.Ping(ctx).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := &redisBackend{client: c}
	now := time.Now().UnixMicro()
	full := func(now int64) *checkReq {
		r := botReq(1)(now)
		r.seqs = []seqReq{{key: "t:m:B:x", within: sec}}
		r.marks = []markReq{{key: "t:m:A:x", ttl: sec}}
		return r
	}
	_, _ = b.check(ctx, full(now)) // loads the script
	_ = c.ConfigResetStat(ctx).Err()
	const checks = 10
	for i := 0; i < checks; i++ {
		if _, err := b.check(ctx, full(now+int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	info, _ := c.Info(ctx, "commandstats").Result()
	if !strings.Contains(info, fmt.Sprintf("cmdstat_evalsha:calls=%d,", checks)) || strings.Contains(info, "cmdstat_eval:") {
		t.Errorf("commandstats = %s, want %d evalsha and no eval", info, checks)
	}
}

func BenchmarkMemoryCheck(b *testing.B) {
	m := newMemBackend(100000)
	now := time.Now().UnixMicro()
	b.ReportAllocs()
	for b.Loop() {
		now += 1000
		_, _ = m.check(context.Background(), &checkReq{now: now, quotas: []quotaReq{{key: "k", limit: 1 << 30, window: 1000}}})
	}
}

func BenchmarkRedisCheck(b *testing.B) {
	rb := &redisBackend{client: testsvc.Redis(b)}
	now := time.Now().UnixMicro()
	b.ReportAllocs()
	for b.Loop() {
		now += 1000
		if _, err := rb.check(context.Background(), botReq(0)(now)); err != nil {
			b.Fatal(err)
		}
	}
}
