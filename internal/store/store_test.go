package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/testsvc"
)

// engine is one real database engine the store tests run against.
type engine struct {
	name string
	// target returns a fresh database (SQLite file, PostgreSQL schema).
	target func(t testing.TB) string
}

// engines are SQLite and PostgreSQL; PostgreSQL tests fail (never skip)
// when it does not answer (testsvc.Postgres).
var engines = []engine{
	{DriverSQLite, func(t testing.TB) string { return filepath.Join(t.TempDir(), "events.db") }},
	{DriverPostgres, testsvc.Postgres},
}

// sqlOf returns the engine-neutral core of a store opened by Open.
func sqlOf(db DB) *sqlStore {
	switch s := db.(type) {
	case *SQLite:
		return &s.sqlStore
	case *Postgres:
		return &s.sqlStore
	}
	return nil
}

// openEngine opens a fresh store of e, closed when the test ends.
func openEngine(t testing.TB, e engine) DB {
	t.Helper()
	s, err := Open(context.Background(), e.name, e.target(t))
	if err != nil {
		t.Fatalf("Open(%s) = %v", e.name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// forEngines runs f as a subtest per engine.
func forEngines(t *testing.T, f func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func openTest(t testing.TB) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatalf("OpenSQLite() = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is 6 events, IDs 1..6 in this order.
func fixture() []events.Event {
	mk := func(min int, kind events.Kind, api, guard, rule, cat, verdict, principal, ip, req string) events.Event {
		return events.Event{Time: t0.Add(time.Duration(min) * time.Minute), Kind: kind, API: api, Guard: guard,
			Rule: rule, Category: cat, Verdict: verdict, Principal: principal, ClientIP: ip, RequestID: req,
			Operation: "op", Method: "GET", Path: "/p", Mode: "enforce", Status: 403, Latency: 1500 * time.Microsecond,
			Detail: "d"}
	}
	return []events.Event{
		mk(0, events.KindGuard, "pets", "waf", "waf.942100", "API8", "block", "alice", "192.0.2.1", "r1"),
		mk(1, events.KindGuard, "pets", "authn", "authn.token_expired", "API2", "block", "", "192.0.2.2", "r2"),
		mk(2, events.KindGuard, "shop", "schema", "schema.type", "API3", "observe", "bob", "192.0.2.1", "r3"),
		mk(3, events.KindProtocol, "shop", "normalize", "normalize.dot_segment", "API8", "block", "", "192.0.2.3", "r4"),
		mk(4, events.KindUpstream, "pets", "", "", "", "error", "alice", "192.0.2.1", "r5"),
		mk(5, events.KindConfig, "", "", "", "", "allow", "", "", ""),
	}
}

func ids(evs []events.Event) []int64 {
	out := []int64{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestFilters(t *testing.T) { forEngines(t, testFilters) }

func testFilters(t *testing.T, e engine) {
	s := openEngine(t, e)
	ctx := context.Background()
	if err := s.Append(ctx, fixture()); err != nil {
		t.Fatalf("Append() = %v", err)
	}
	tests := []struct {
		name string
		f    Filter
		want []int64
	}{
		{"all", Filter{}, []int64{6, 5, 4, 3, 2, 1}},
		{"since", Filter{Since: t0.Add(4 * time.Minute)}, []int64{6, 5}},
		{"until", Filter{Until: t0.Add(2 * time.Minute)}, []int64{2, 1}},
		{"since until", Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{3, 2}},
		{"kind", Filter{Kind: "guard"}, []int64{3, 2, 1}},
		{"api", Filter{API: "shop"}, []int64{4, 3}},
		{"guard", Filter{Guard: "waf"}, []int64{1}},
		{"rule", Filter{Rule: "authn.token_expired"}, []int64{2}},
		{"category", Filter{Category: "API8"}, []int64{4, 1}},
		{"verdict", Filter{Verdict: "block"}, []int64{4, 2, 1}},
		{"principal", Filter{Principal: "alice"}, []int64{5, 1}},
		{"client ip", Filter{ClientIP: "192.0.2.1"}, []int64{5, 3, 1}},
		{"request id", Filter{RequestID: "r3"}, []int64{3}},
		{"combined", Filter{Verdict: "block", Category: "API8", API: "pets"}, []int64{1}},
		{"before", Filter{Before: 4}, []int64{3, 2, 1}},
		{"limit", Filter{Limit: 2}, []int64{6, 5}},
		{"no match", Filter{Guard: "nope"}, []int64{}},
		{"injection is data", Filter{Guard: "' OR 1=1 --"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(ctx, tt.f)
			if err != nil {
				t.Fatalf("Events(%+v) error = %v", tt.f, err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("Events(%+v) = ids %v, want %v", tt.f, ids(got), tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) { testRoundTrip(t, openEngine(t, e)) })
}

func testRoundTrip(t *testing.T, s DB) {
	ctx := context.Background()
	in := fixture()[:1]
	in[0].Severity = "high" // a detector's alert keeps its severity
	if err := s.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Events() = %v, %v, want 1 event", got, err)
	}
	want := in[0]
	want.ID = 1
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("Events()[0] = %+v, want %+v", got[0], want)
	}
}

func TestPagination(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) { testPagination(t, openEngine(t, e)) })
}

func testPagination(t *testing.T, s DB) {
	ctx := context.Background()
	evs := make([]events.Event, 25)
	for i := range evs {
		evs[i] = events.Event{Time: t0, Kind: events.KindGuard, Verdict: "block"}
	}
	if err := s.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	f := Filter{Limit: 10}
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		got, err := s.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(got)...)
		if len(got) < f.Limit {
			break
		}
		f.Before = got[len(got)-1].ID
	}
	if len(seen) != 25 || seen[0] != 25 || seen[24] != 1 {
		t.Errorf("pages = %v, want ids 25..1", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]-1 {
			t.Fatalf("pages = %v, want strictly descending without gaps", seen)
		}
	}
}

func TestFilterLimit(t *testing.T) {
	tests := []struct{ in, want int }{{0, 100}, {-1, 100}, {1, 1}, {1000, 1000}, {1001, 1000}}
	for _, tt := range tests {
		f := Filter{Limit: tt.in}
		if got := f.limit(); got != tt.want {
			t.Errorf("Filter{Limit: %d}.limit() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestPrune(t *testing.T) { forEngines(t, testPrune) }

func testPrune(t *testing.T, e engine) {
	ctx := context.Background()
	now := time.Now()
	t.Run("by age", func(t *testing.T) {
		s := openEngine(t, e)
		evs := []events.Event{
			{Time: now.Add(-10 * 24 * time.Hour), Kind: events.KindGuard},
			{Time: now.Add(-8 * 24 * time.Hour), Kind: events.KindGuard},
			{Time: now.Add(-time.Hour), Kind: events.KindGuard},
			{Time: now, Kind: events.KindGuard},
		}
		if err := s.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
		n, err := s.Prune(ctx, Retention{}) // default 7 days
		if err != nil || n != 2 {
			t.Fatalf("Prune(default) = %d, %v, want 2, nil", n, err)
		}
		got, _ := s.Events(ctx, Filter{})
		if !reflect.DeepEqual(ids(got), []int64{4, 3}) {
			t.Errorf("after Prune, ids = %v, want [4 3]", ids(got))
		}
		n, err = s.Prune(ctx, Retention{MaxAge: 30 * time.Minute, MaxEvents: -1})
		if err != nil || n != 1 {
			t.Fatalf("Prune(30m) = %d, %v, want 1, nil", n, err)
		}
	})
	t.Run("by count", func(t *testing.T) {
		s := openEngine(t, e)
		evs := make([]events.Event, 10)
		for i := range evs {
			evs[i] = events.Event{Time: now, Kind: events.KindGuard}
		}
		if err := s.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
		n, err := s.Prune(ctx, Retention{MaxEvents: 20})
		if err != nil || n != 0 {
			t.Fatalf("Prune(20) = %d, %v, want 0, nil", n, err)
		}
		n, err = s.Prune(ctx, Retention{MaxEvents: 3})
		if err != nil || n != 7 {
			t.Fatalf("Prune(3) = %d, %v, want 7, nil", n, err)
		}
		got, _ := s.Events(ctx, Filter{})
		if !reflect.DeepEqual(ids(got), []int64{10, 9, 8}) {
			t.Errorf("after Prune(3), ids = %v, want [10 9 8]", ids(got))
		}
	})
}

func TestReopen(t *testing.T) { forEngines(t, testReopen) }

func testReopen(t *testing.T, e engine) {
	ctx := context.Background()
	target := e.target(t)
	s, err := Open(ctx, e.name, target)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, fixture()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	s, err = Open(ctx, e.name, target)
	if err != nil {
		t.Fatalf("Open(again) = %v", err)
	}
	defer s.Close()
	got, err := s.Events(ctx, Filter{})
	if err != nil || len(got) != 6 {
		t.Fatalf("after reopen Events() = %d events, %v, want 6", len(got), err)
	}
	ms, err := loadMigrations(migrationsFS, "migrations/"+e.name)
	if err != nil || len(ms) < 4 {
		t.Fatalf("loadMigrations(%s) = %d migrations, %v", e.name, len(ms), err)
	}
	if v, err := sqlOf(s).schemaVersion(ctx); err != nil || v != ms[len(ms)-1].version {
		t.Errorf("schema version = %d, %v, want %d (the newest migration, %s)", v, err, ms[len(ms)-1].version, ms[len(ms)-1].name)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	if e.name != DriverSQLite {
		return
	}
	var mode string
	if err := sqlOf(s).write.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v, want wal", mode, err)
	}
	if _, err := sqlOf(s).read.Exec("DELETE FROM events"); err == nil {
		t.Errorf("read pool accepted a write, want read-only")
	}
}

func TestNewerSchema(t *testing.T) { forEngines(t, testNewerSchema) }

func testNewerSchema(t *testing.T, e engine) {
	ctx := context.Background()
	target := e.target(t)
	s, err := Open(ctx, e.name, target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlOf(s).write.Exec("INSERT INTO schema_migrations (version, name, applied_ns) VALUES (99, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, e.name, target); err == nil {
		s.Close()
		t.Fatalf("Open(%s, newer schema) = nil error, want refusal", e.name)
	}
}

func TestConcurrentMigrations(t *testing.T) {
	// Two PostgreSQL instances starting together migrate one at a time.
	ctx := context.Background()
	dsn := testsvc.Postgres(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := OpenPostgres(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("OpenPostgres(concurrently) = %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct{ driver, target, notWant string }{
		{"mysql", "x", ""},
		{DriverSQLite, "", ""},
		{DriverPostgres, "", ""},
		{DriverPostgres, "postgres://u:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=1", "s3cr3t-pw"},
		{DriverPostgres, "::not a dsn s3cr3t-pw", "s3cr3t-pw"},
	}
	for _, tt := range tests {
		s, err := Open(ctx, tt.driver, tt.target)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q, %q) = nil error, want an error", tt.driver, tt.target)
			continue
		}
		if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
			t.Errorf("Open(%q, ...) error = %q, want no password in it", tt.driver, err)
		}
	}
}

func BenchmarkAppend256(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	batch := make([]events.Event, 256)
	for i := range batch {
		batch[i] = fixture()[i%6]
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/event")
}

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apiguard-store")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := OpenSQLite(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	w := NewWriter(s, WriterOptions{})
	w.Enqueue(events.Event{Kind: events.KindGuard, Guard: "waf", Verdict: events.VerdictBlock})
	_ = w.Close(ctx)
	evs, _ := s.Events(ctx, Filter{Guard: "waf"})
	fmt.Println(len(evs), evs[0].Verdict)
	// Output: 1 block
}
