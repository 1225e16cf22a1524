package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apiguard/apiguard/internal/events"
)

// readLines returns the JSON lines of a file.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	h := New(Options{Registry: reg})
	// Relative to the config directory; each line is about 450 bytes, so
	// 4 KiB holds about 9 lines.
	if err := h.Apply(alertsConfig(t, "  file: {path: logs/alerts.jsonl, max_size: 4KiB, max_files: 2}\n"), dir); err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := range n {
		e := blocked(i)
		e.RequestID = fmt.Sprintf("req-%03d", i)
		h.Export(e)
		if i%10 == 9 {
			// Let the exporter drain: the queue is large enough, but
			// spreading rotations over time exercises the name stamps.
			waitFor(t, "the batch", func() bool {
				return metricValue(t, reg, "apiguard_alerts_sent_total", "exporter", "file") >= float64(i+1)
			})
		}
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(dir, "logs", "alerts.jsonl")
	st, err := os.Stat(cur)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode of %s = %v, want 0600", cur, st.Mode().Perm())
	}
	matches, _ := filepath.Glob(cur + ".*")
	sort.Strings(matches)
	if len(matches) != 2 {
		t.Fatalf("rotated files = %v, want max_files = 2", matches)
	}
	// The newest lines are in the current file and the two kept rotated
	// files, in order, without gaps; every file is within max_size.
	var ids []string
	for _, f := range append(matches, cur) {
		if fi, _ := os.Stat(f); fi.Size() > 4096 {
			t.Errorf("%s is %d bytes, want at most 4096", f, fi.Size())
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode of %s = %v, want 0600", f, fi.Mode().Perm())
		}
		for _, line := range readLines(t, f) {
			var e events.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: line %q: %v", f, line, err)
			}
			ids = append(ids, e.RequestID)
		}
	}
	if len(ids) == 0 || ids[len(ids)-1] != fmt.Sprintf("req-%03d", n-1) {
		t.Fatalf("last line = %v, want req-%03d", ids, n-1)
	}
	for i := 1; i < len(ids); i++ {
		var a, b int
		fmt.Sscanf(ids[i-1], "req-%d", &a)
		fmt.Sscanf(ids[i], "req-%d", &b)
		if b != a+1 {
			t.Errorf("lines %s then %s: want consecutive", ids[i-1], ids[i])
		}
	}
	if got := metricValue(t, reg, "apiguard_alerts_sent_total", "exporter", "file"); got != n {
		t.Errorf("sent = %v, want %d", got, n)
	}
}

func TestFileOCSFAndExistingMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ocsf.jsonl")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := New(Options{Version: "2.0.0"})
	if err := h.Apply(alertsConfig(t, fmt.Sprintf("  file: {path: %q, format: ocsf, filter: {verdicts: [block]}}\n", path)), ""); err != nil {
		t.Fatal(err)
	}
	allowed := sample()
	allowed.Verdict = events.VerdictAllow
	h.Export(allowed)
	h.Export(sample())
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode of an existing file = %v, want tightened to 0600", st.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("lines = %q, want the old line and one OCSF event (the allow is filtered out)", lines)
	}
	var o OCSF
	if err := json.Unmarshal([]byte(lines[1]), &o); err != nil || o.ClassUID != 6003 || o.Metadata.Product.Version != "2.0.0" || o.DispositionID != 2 {
		t.Errorf("OCSF line = %s (%v), want class 6003, version 2.0.0, blocked", lines[1], err)
	}
}

func TestFileMaxAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	old := path + ".20200101T000000.000000000Z"
	recent := path + "." + time.Now().UTC().Format(rotatedLayout)
	for _, f := range []string{old, recent} {
		if err := os.WriteFile(f, []byte("{}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(dir, "a.jsonl.bak")
	_ = os.WriteFile(unrelated, nil, 0o600)
	a := alertsConfig(t, fmt.Sprintf("  file: {path: %q, max_age: 24h}\n", path))
	b, err := newFile(a.File, "", "v", newHubMetrics(nil).forExporter("file"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close(context.Background())
	b.tick(context.Background(), time.Now())
	for f, want := range map[string]bool{old: false, recent: true, unrelated: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
}

// TestQueueFullDropsAndReports fills an exporter whose receiver hangs:
// Export never blocks, drops are counted in the metric and reported as one
// system event per interval.
func TestQueueFullDropsAndReports(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t)
	r.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { <-release })
	defer close(release)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var reported []events.Event
	h := New(Options{Registry: reg, ReportInterval: 20 * time.Millisecond, Emit: func(e events.Event) {
		mu.Lock()
		reported = append(reported, e)
		mu.Unlock()
	}})
	if err := h.Apply(alertsConfig(t, fmt.Sprintf("  webhooks: [{name: slow, url: %q, allow_private: true, queue_size: 2, dedupe_window: 0s}]\n", r.URL)), ""); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		h.Export(blocked(i))
	}
	dropped := metricValue(t, reg, "apiguard_alerts_dropped_total", "exporter", "slow", "reason", "queue_full")
	if dropped < 47 {
		t.Errorf("dropped = %v, want at least 47 of 50 (queue of 2, one in flight)", dropped)
	}
	waitFor(t, "the drop report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reported) > 0
	})
	time.Sleep(100 * time.Millisecond) // several report intervals
	mu.Lock()
	n := len(reported)
	first := reported[0]
	mu.Unlock()
	if n != 1 {
		t.Errorf("reports = %d, want 1: drops are reported once, not once per interval", n)
	}
	if first.Kind != events.KindSystem || first.Rule != "alerts.events_lost" || first.Verdict != events.VerdictError ||
		!strings.Contains(first.Detail, fmt.Sprintf("slow (webhook): %d event(s) dropped", int(dropped))) {
		t.Errorf("report = %+v, want a system event counting the drops of slow", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Close(ctx); err == nil || !strings.Contains(err.Error(), "flush deadline") {
		t.Errorf("Close() with a hung receiver = %v, want the flush deadline error", err)
	}
	if got := metricValue(t, reg, "apiguard_alerts_dropped_total", "exporter", "slow", "reason", "shutdown"); got < 1 {
		t.Errorf("dropped at shutdown = %v, want the queued events", got)
	}
	h.Export(blocked(1)) // after Close: dropped, no panic
}

// TestApplyFollowsReloads replaces a file exporter by a webhook and back:
// an unchanged config keeps the exporters, a changed one swaps them
// without losing events queued meanwhile.
func TestApplyFollowsReloads(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t)
	h := New(Options{})
	defer h.Close(t.Context())
	fileCfg := alertsConfig(t, "  file: {path: a.jsonl}\n")
	if err := h.Apply(fileCfg, dir); err != nil {
		t.Fatal(err)
	}
	first := h.cur.Load()
	if err := h.Apply(alertsConfig(t, "  file: {path: a.jsonl}\n"), dir); err != nil {
		t.Fatal(err)
	}
	if h.cur.Load() != first {
		t.Error("Apply(same config) replaced the exporters")
	}
	h.Export(sample())
	both := alertsConfig(t, fmt.Sprintf("  file: {path: a.jsonl}\n  webhooks: [{name: hook, url: %q, allow_private: true}]\n", r.URL))
	if err := h.Apply(both, dir); err != nil {
		t.Fatal(err)
	}
	if got := h.Names(); strings.Join(got, ",") != "file,hook" {
		t.Errorf("Names() = %v, want file, hook", got)
	}
	h.Export(sample())
	waitFor(t, "the webhook", func() bool { return len(r.requests()) == 1 })
	// A broken config keeps the running exporters.
	bad := alertsConfig(t, fmt.Sprintf("  file: {path: %q}\n", filepath.Join(dir, "missing-dir-is-a-file", "x.jsonl")))
	if err := os.WriteFile(filepath.Join(dir, "missing-dir-is-a-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(bad, dir); err == nil {
		t.Fatal("Apply(unwritable file) = nil, want an error")
	}
	if got := h.Names(); strings.Join(got, ",") != "file,hook" {
		t.Errorf("Names() after a refused Apply = %v, want file, hook", got)
	}
	if err := h.Apply(fileCfg, dir); err != nil {
		t.Fatal(err)
	}
	h.Export(sample())
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, filepath.Join(dir, "a.jsonl")); len(lines) != 3 {
		t.Errorf("file lines = %d, want the 3 events exported across the reloads", len(lines))
	}
}
