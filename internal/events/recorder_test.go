package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher goroutine.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// queue is an Enqueuer with a fixed capacity.
type queue struct {
	mu  sync.Mutex
	evs []Event
	max int
}

func (q *queue) Enqueue(e Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.evs) >= q.max {
		return false
	}
	q.evs = append(q.evs, e)
	return true
}

// scrape fetches the metrics over a real HTTP server.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantMetric(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("metrics lack line %q", line)
}

func TestRecorderAccess(t *testing.T) {
	var out syncBuffer
	m := NewMetrics()
	r := NewRecorder(RecorderOptions{AccessLog: &out, Metrics: m})
	const n = 500
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/10; i++ {
				r.Access(&Access{API: "pets", Operation: "getPet", Method: "GET", Path: "/pets/1", Status: 200,
					Latency: 3 * time.Millisecond, UpstreamLatency: time.Millisecond, Query: "token=abc"})
			}
		}()
	}
	wg.Wait()
	r.Access(&Access{API: "pets", Status: 404, Latency: time.Millisecond})
	if err := r.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	lines := 0
	for sc.Scan() {
		lines++
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("access line %d = %q, not JSON: %v", lines, sc.Text(), err)
		}
		if strings.Contains(sc.Text(), "abc") {
			t.Fatalf("access line %d = %q, leaks the token", lines, sc.Text())
		}
	}
	if lines != n+1 {
		t.Errorf("access log has %d lines, want %d", lines, n+1)
	}
	text := scrape(t, m)
	wantMetric(t, text, `apiguard_requests_total{api="pets",operation="getPet",status="200"} 500`)
	wantMetric(t, text, `apiguard_requests_total{api="pets",operation="unmatched",status="404"} 1`)
	wantMetric(t, text, `apiguard_request_duration_seconds_count{api="pets",operation="getPet"} 500`)
	wantMetric(t, text, `apiguard_request_duration_seconds_bucket{api="pets",operation="getPet",le="0.005"} 500`)
	wantMetric(t, text, `apiguard_request_duration_seconds_bucket{api="pets",operation="getPet",le="0.0025"} 0`)
	wantMetric(t, text, `apiguard_upstream_duration_seconds_count{api="pets"} 500`)
}

func TestRecorderFlushes(t *testing.T) {
	t.Run("by timer", func(t *testing.T) {
		var out syncBuffer
		r := NewRecorder(RecorderOptions{AccessLog: &out})
		defer r.Close()
		r.Access(&Access{Status: 200})
		deadline := time.Now().Add(5 * time.Second)
		for out.String() == "" {
			if time.Now().After(deadline) {
				t.Fatal("access line not flushed within 5s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("by size", func(t *testing.T) {
		var out syncBuffer
		r := NewRecorder(RecorderOptions{AccessLog: &out})
		defer r.Close()
		ua := strings.Repeat("u", 1000)
		for out.String() == "" {
			r.Access(&Access{Status: 200, UserAgent: ua})
			if r.out.buffered() > flushSize {
				t.Fatalf("buffer holds %d bytes, want at most %d", r.out.buffered(), flushSize)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		r := NewRecorder(RecorderOptions{})
		r.Access(&Access{Status: 200})
		if err := r.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
}

func TestRecorderEvent(t *testing.T) {
	var logs syncBuffer
	m := NewMetrics()
	q := &queue{max: 2}
	r := NewRecorder(RecorderOptions{Metrics: m, Store: q,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer r.Close()
	r.Event(Event{Kind: KindGuard, Guard: "waf", Rule: "waf.942100", Category: "API8", Verdict: VerdictBlock,
		Mode: "enforce", Detail: "matched Bearer abc.def in header"})
	r.Event(Event{Kind: KindGuard, Guard: "schema", Rule: "schema.type", Category: "API3", Verdict: VerdictObserve, Mode: "monitor"})
	r.Event(Event{Kind: KindConfig, Verdict: VerdictAllow, Detail: "reloaded"})

	if len(q.evs) != 2 {
		t.Fatalf("store got %d events, want 2", len(q.evs))
	}
	if q.evs[0].Time.IsZero() {
		t.Errorf("stored event Time is zero, want set")
	}
	if got := q.evs[0].Detail; got != "matched Bearer REDACTED in header" {
		t.Errorf("stored Detail = %q, want redacted", got)
	}
	var levels []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		levels = append(levels, v["level"].(string))
	}
	if got, want := strings.Join(levels, ","), "WARN,INFO,INFO"; got != want {
		t.Errorf("log levels = %s, want %s", got, want)
	}
	if strings.Contains(logs.String(), "abc.def") {
		t.Errorf("logs = %s, leak the credential", logs.String())
	}
	text := scrape(t, m)
	wantMetric(t, text, `apiguard_guard_verdicts_total{category="API8",guard="waf",mode="enforce",rule="waf.942100",verdict="block"} 1`)
	wantMetric(t, text, `apiguard_guard_verdicts_total{category="API3",guard="schema",mode="monitor",rule="schema.type",verdict="observe"} 1`)
	wantMetric(t, text, `apiguard_events_total{kind="guard"} 2`)
	wantMetric(t, text, `apiguard_events_total{kind="config"} 1`)
	wantMetric(t, text, `apiguard_events_dropped_total 1`)
}

func TestMetricsMethods(t *testing.T) {
	m := NewMetrics()
	m.ConfigReload(true)
	m.ConfigReload(true)
	m.ConfigReload(false)
	m.UpstreamError("pets", "backend:8080", "timeout")
	m.EventsDropped(3)
	m.StoreError(5)
	m.InFlight(1)
	m.InFlight(1)
	m.InFlight(-1)
	text := scrape(t, m)
	for _, l := range []string{
		`apiguard_config_reloads_total{result="ok"} 2`,
		`apiguard_config_reloads_total{result="error"} 1`,
		`apiguard_upstream_errors_total{api="pets",kind="timeout",upstream="backend:8080"} 1`,
		`apiguard_events_dropped_total 8`,
		`apiguard_store_errors_total 1`,
		`apiguard_inflight_requests 1`,
	} {
		wantMetric(t, text, l)
	}
	if !strings.Contains(text, "go_goroutines") || !strings.Contains(text, "process_") {
		t.Errorf("metrics lack the Go or process collectors")
	}
}

func TestMetricsOverflow(t *testing.T) {
	m := NewMetrics()
	m.maxSeries = 50
	for i := 0; i < m.maxSeries+5; i++ {
		m.request(&Access{API: "a", Operation: "op" + strconv.Itoa(i), Status: 200})
	}
	m.request(&Access{API: "a", Operation: "op0", Status: 200}) // known series still counted as itself
	text := scrape(t, m)
	wantMetric(t, text, `apiguard_requests_total{api="_overflow",operation="_overflow",status="200"} 5`)
	wantMetric(t, text, `apiguard_requests_total{api="a",operation="op0",status="200"} 2`)
}

func TestStatusLabel(t *testing.T) {
	tests := []struct {
		in   int
		want string
	}{{200, "200"}, {599, "599"}, {0, "other"}, {99, "other"}, {600, "other"}, {-1, "other"}, {100000, "other"}}
	for _, tt := range tests {
		if got := statusLabel(tt.in); got != tt.want {
			t.Errorf("statusLabel(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkAccess(b *testing.B) {
	r := NewRecorder(RecorderOptions{AccessLog: io.Discard, Metrics: NewMetrics()})
	defer r.Close()
	a := &Access{
		Time: time.Now(), RequestID: "01HZX3J8Q2W9K7T5R4M6N8P0AB", API: "pets", Operation: "getPet",
		Method: "GET", Path: "/pets/123", Query: "page=2&access_token=abc", Proto: "HTTP/1.1",
		ClientIP: "192.0.2.10", Principal: "alice", Status: 200, Latency: 1200 * time.Microsecond,
		UpstreamLatency: 900 * time.Microsecond, BytesIn: 0, BytesOut: 512, Upstream: "backend:8080",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) curl/8.5", Verdict: VerdictAllow,
	}
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Access(a)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Access(a)
			}
		})
	})
	b.Run("encode-only", func(b *testing.B) {
		b.ReportAllocs()
		buf, scratch := make([]byte, 0, 1024), make([]byte, 0, 256)
		for b.Loop() {
			buf, scratch = appendAccess(buf[:0], a, scratch[:0])
		}
	})
}

func BenchmarkEvent(b *testing.B) {
	r := NewRecorder(RecorderOptions{Metrics: NewMetrics(), Store: &queue{max: 0},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	defer r.Close()
	e := Event{Kind: KindGuard, Guard: "waf", Rule: "waf.942100", Category: "API8", Verdict: VerdictBlock, Detail: "sqli in query"}
	b.ReportAllocs()
	for b.Loop() {
		r.Event(e)
	}
}

// buffered is the number of bytes waiting in b.
func (b *BufferedWriter) buffered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}
