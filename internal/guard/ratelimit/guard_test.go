package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func demobankSpec(t testing.TB) *openapi.Spec {
	t.Helper()
	s, err := openapi.Parse(demobank.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// buildGuard builds the step of a stage from a section's YAML.
func buildGuard(t testing.TB, section string, svc *pipeline.Services, spec *openapi.Spec, stage string) (*Guard, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(section), &doc); err != nil {
		t.Fatal(err)
	}
	g, err := newGuard(pipeline.Build{
		API: "demobank", Spec: spec, Services: svc, Path: "apis[0].guards.ratelimit",
		Decode: func(v any) (bool, error) {
			return true, config.DecodeSection(doc.Content[0], "apis[0].guards.ratelimit", v)
		},
	}, stage)
	if err != nil || g == nil {
		return nil, err
	}
	return g.(*Guard), nil
}

func mustGuard(t testing.TB, section string, svc *pipeline.Services, stage string) *Guard {
	t.Helper()
	g, err := buildGuard(t, section, svc, demobankSpec(t), stage)
	if err != nil || g == nil {
		t.Fatalf("newGuard(%s) = %v, %v", section, g, err)
	}
	return g
}

func opByID(t testing.TB, g *Guard, id string) *openapi.Operation {
	for op := range g.byOp {
		if op.ID == id {
			return op
		}
	}
	t.Fatalf("no rules for operation %s", id)
	return nil
}

func TestConfigErrors(t *testing.T) {
	svc := pipeline.NewServices(pipeline.Services{})
	tests := []struct {
		name, section, want string
	}{
		{"no rules", `{rules: []}`, "rules: at least one rule is needed"},
		{"bad limit", `{rules: [{name: a, limits: ["ten/s"]}]}`, "rules[0].limits[0]: limit \"ten/s\": count must be an integer from 1 to 1000000000"},
		{"principal pre auth", `{rules: [{name: a, key: principal, stage: pre_auth, limits: ["1/s"]}]}`, "rules[0].key: \"principal\" is not known before authentication; use stage: post_auth or a key of ip, header, operation, global"},
		{"unknown op", `{rules: [{name: a, operations: [nope], limits: ["1/s"]}]}`, "rules[0].operations[0]: no operation \"nope\" in the spec"},
		{"redis without redis", `{backend: redis, rules: [{name: a, limits: ["1/s"]}]}`, "backend: redis needs the top-level redis section"},
		{"duplicate name", `{rules: [{name: a, limits: ["1/s"]}, {name: a, limits: ["1/s"]}]}`, "rules[1].name: \"a\" is used twice"},
		{"bad failure mode", `{rules: [{name: a, limits: ["1/s"], on_redis_error: maybe}]}`, "rules[0].on_redis_error: must be open or closed, not \"maybe\""},
		{"unknown field", `{rules: [{name: a, limits: ["1/s"], burst: 3}]}`, "apis[0].guards.ratelimit.rules[0].burst: unknown field"},
		{"too many limits", `{rules: [{name: a, limits: ["1/s","2/s","3/s","4/s","5/s"]}]}`, "rules[0].limits: 1 to 4 limits are needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildGuard(t, tt.section, svc, demobankSpec(t), StagePreAuth)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newGuard(%s) error = %v, want %q", tt.section, err, tt.want)
			}
		})
	}
}

func TestStagesSplitRules(t *testing.T) {
	svc := pipeline.NewServices(pipeline.Services{})
	section := `{rules: [{name: per-ip, limits: ["1/s"]}, {name: per-user, key: principal, limits: ["1/s"]}]}`
	pre := mustGuard(t, section, svc, StagePreAuth)
	post := mustGuard(t, section, svc, StagePostAuth)
	if len(pre.all) != 1 || pre.all[0].name != "per-ip" || len(post.all) != 1 || post.all[0].name != "per-user" {
		t.Errorf("pre rules = %v, post rules = %v, want per-ip and per-user", pre.all, post.all)
	}
	g, err := buildGuard(t, `{rules: [{name: a, limits: ["1/s"]}]}`, svc, nil, StagePostAuth)
	if err != nil || g != nil {
		t.Errorf("post-auth step with only pre-auth rules = %v, %v, want nil, nil", g, err)
	}
}

func TestGCRA(t *testing.T) {
	tests := []struct {
		name   string
		limits string
		steps  []struct {
			at   time.Duration // since start
			want bool
		}
	}{
		{"burst then one per interval", `["2/s"]`, []struct {
			at   time.Duration
			want bool
		}{{0, true}, {0, true}, {0, false}, {499 * time.Millisecond, false}, {500 * time.Millisecond, true}, {500 * time.Millisecond, false}, {time.Second, true}}},
		{"explicit burst", `["1/s burst 3"]`, []struct {
			at   time.Duration
			want bool
		}{{0, true}, {0, true}, {0, true}, {0, false}, {time.Second, true}, {time.Second, false}}},
		{"second limit holds", `["10/s", "3/h"]`, []struct {
			at   time.Duration
			want bool
		}{{0, true}, {0, true}, {0, true}, {0, false}, {time.Minute, false}, {20 * time.Minute, true}, {20 * time.Minute, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			start := c.Now()
			svc := pipeline.NewServices(pipeline.Services{Now: c.Now})
			g := mustGuard(t, `{rules: [{name: r, key: ip, limits: `+tt.limits+`}]}`, svc, StagePreAuth)
			for i, s := range tt.steps {
				c.t = start.Add(s.at)
				v, err := g.Request(context.Background(), testExchange("10.1.1.1", "", "", nil))
				if err != nil {
					t.Fatal(err)
				}
				if got := v.Action == pipeline.Continue; got != s.want {
					t.Fatalf("step %d at %v: allowed = %v, want %v (%+v)", i, s.at, got, s.want, v)
				}
			}
			// another key is independent
			if v, _ := g.Request(context.Background(), testExchange("10.1.1.2", "", "", nil)); v.Action != pipeline.Continue {
				t.Errorf("other IP blocked: %+v", v)
			}
		})
	}
}

func TestDenyHeaders(t *testing.T) {
	c := newClock()
	svc := pipeline.NewServices(pipeline.Services{Now: c.Now})
	g := mustGuard(t, `{rules: [{name: login-ip, operations: [login], limits: ["10/m", "100/h burst 50"]}]}`, svc, StagePreAuth)
	login := opByID(t, g, "login")
	var v pipeline.Verdict
	for i := 0; i < 11; i++ {
		v, _ = g.Request(context.Background(), testExchange("10.1.1.1", "", "", login))
	}
	if v.Status != 429 || v.Rule != "ratelimit.exceeded" || v.Category != "API4" {
		t.Fatalf("11th request = %+v, want 429 ratelimit.exceeded API4", v)
	}
	want := map[string]string{
		"Retry-After":      "6",
		"RateLimit-Policy": `"login-ip-1";q=10;w=60, "login-ip-2";q=100;w=3600`,
		"RateLimit":        `"login-ip-1";r=0;t=6, "login-ip-2";r=40;t=360`,
	}
	for k, w := range want {
		if got := v.Header.Get(k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	// Other operations are not limited by the rule.
	if v, _ := g.Request(context.Background(), testExchange("10.1.1.1", "", "", &openapi.Operation{ID: "x"})); v.Action != pipeline.Continue {
		t.Errorf("unrelated operation = %+v, want allowed", v)
	}
}

func TestFromSpecExtension(t *testing.T) {
	spec := demobankSpec(t)
	for _, op := range spec.Operations {
		if op.ID == "createTransfer" {
			op.Extensions = map[string]any{SpecExtension: []any{"money"}}
		}
	}
	g, err := buildGuard(t, `{rules: [{name: money, key: principal, from_spec: true, limits: ["1/m"]}]}`, pipeline.NewServices(pipeline.Services{}), spec, StagePostAuth)
	if err != nil || g == nil {
		t.Fatal(err)
	}
	if len(g.byOp) != 1 || opByID(t, g, "createTransfer") == nil {
		t.Errorf("from_spec selected %d operations, want createTransfer only", len(g.byOp))
	}
}

func TestStateSurvivesReload(t *testing.T) {
	c := newClock()
	svc := pipeline.NewServices(pipeline.Services{Now: c.Now})
	section := `{rules: [{name: r, limits: ["1/m"]}]}`
	g1 := mustGuard(t, section, svc, StagePreAuth)
	if v, _ := g1.Request(context.Background(), testExchange("10.0.0.1", "", "", nil)); v.Action != pipeline.Continue {
		t.Fatal("first request blocked")
	}
	g2 := mustGuard(t, section, svc, StagePreAuth)
	if v, _ := g2.Request(context.Background(), testExchange("10.0.0.1", "", "", nil)); v.Status != 429 {
		t.Errorf("after reload: %+v, want 429 (state kept)", v)
	}
	g3 := mustGuard(t, `{rules: [{name: r, limits: ["2/m"]}]}`, svc, StagePreAuth)
	if v, _ := g3.Request(context.Background(), testExchange("10.0.0.1", "", "", nil)); v.Action != pipeline.Continue {
		t.Errorf("after a changed limit: %+v, want fresh state", v)
	}
}

func TestEvictionBoundsKeys(t *testing.T) {
	c := newClock()
	s := newMemStore([]Limit{{Count: 1, Window: time.Hour, Burst: 1}}, 1024)
	now := c.Now().UnixNano()
	for i := 0; i < 10000; i++ {
		s.check(s.hash([]byte(fmt.Sprint(i))), now)
	}
	if n := s.Len(); n > 1024 {
		t.Errorf("Len() = %d after 10000 active keys, want <= 1024", n)
	}
	// Idle keys go first: an hour later every key is idle and is swept.
	later := now + int64(2*time.Hour)
	for i := 0; i < 300; i++ {
		s.check(s.hash([]byte(fmt.Sprint("new", i))), later)
	}
	if n := s.Len(); n > 1024 {
		t.Errorf("Len() = %d, want <= 1024", n)
	}
}

// TestMillionKeysMemory inserts one million active keys and checks the
// heap they take (target: at most 200 MB).
func TestMillionKeysMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newMemStore([]Limit{{Count: 10, Window: time.Second, Burst: 10}, {Count: 10000, Window: 24 * time.Hour, Burst: 10000}}, n)
	now := time.Now().UnixNano()
	var buf [16]byte
	for i := 0; i < n; i++ {
		b := fmt.Appendf(buf[:0], "k%d", i)
		s.check(s.hash(b), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.Len(); got < n*99/100 {
		t.Fatalf("Len() = %d, want about %d", got, n)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("1M keys: heap %.1f MB (%.0f bytes/key)", float64(heap)/1e6, float64(heap)/n)
	if heap > 200e6 {
		t.Errorf("heap for 1M keys = %d bytes, want <= 200 MB", heap)
	}
	runtime.KeepAlive(s)
}

func BenchmarkLocalCheck(b *testing.B) {
	svc := pipeline.NewServices(pipeline.Services{})
	g := mustGuard(b, `{rules: [{name: r, key: ip, limits: ["1000000/s burst 1000000000"]}]}`, svc, StagePreAuth)
	x := testExchange("203.0.113.7", "", "", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := g.Request(ctx, x); v.Action != pipeline.Continue {
			b.Fatal(v)
		}
	}
}

func BenchmarkLocalCheckParallelManyKeys(b *testing.B) {
	svc := pipeline.NewServices(pipeline.Services{})
	g := mustGuard(b, `{rules: [{name: r, key: principal+operation, limits: ["1000000/s burst 100000000", "100000000/d"]}]}`, svc, StagePostAuth)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		xs := make([]*pipeline.Exchange, 64)
		for i := range xs {
			xs[i] = testExchange("203.0.113.7", fmt.Sprint("user", i), "", &openapi.Operation{ID: "op"})
			xs[i].ClientIP = netip.MustParseAddr("203.0.113.7")
		}
		i := 0
		for pb.Next() {
			_, _ = g.Request(ctx, xs[i%64])
			i++
		}
	})
}
