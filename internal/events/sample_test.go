package events

import (
	"strings"
	"testing"
	"time"
)

// TestObserveInterval checks the folding of repeated observe events: one
// per API, operation, guard and rule per interval reaches the store, the
// next one says how many were folded, blocks always pass, and the metrics
// count every event.
func TestObserveInterval(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	dlp := func(at time.Duration, op string) Event {
		return Event{Time: t0.Add(at), Kind: KindGuard, API: "bank", Operation: op, Guard: "dlp", Rule: "dlp.iban", Category: "API3", Verdict: VerdictObserve}
	}
	block := func(at time.Duration) Event {
		return Event{Time: t0.Add(at), Kind: KindGuard, API: "bank", Operation: "getAccount", Guard: "waf", Rule: "waf.942100", Category: "API8", Verdict: VerdictBlock}
	}
	detector := func(at time.Duration, ip string) Event {
		return Event{Time: t0.Add(at), Kind: KindDetector, API: "bank", Guard: "detect", Rule: "detect.enumeration", ClientIP: ip, Category: "API1", Verdict: VerdictObserve}
	}
	tests := []struct {
		name       string
		interval   time.Duration
		in         []Event
		wantStored int
		wantNote   map[int]string // index among the stored events -> a part of its detail
	}{
		{"off: every event", 0, []Event{dlp(0, "getAccount"), dlp(time.Millisecond, "getAccount"), dlp(2*time.Millisecond, "getAccount")}, 3, nil},
		{"repeats folded into the next", time.Second,
			[]Event{dlp(0, "getAccount"), dlp(100*time.Millisecond, "getAccount"), dlp(200*time.Millisecond, "getAccount"),
				dlp(900*time.Millisecond, "getAccount"), dlp(1500*time.Millisecond, "getAccount"), dlp(1600*time.Millisecond, "getAccount")},
			2, map[int]string{1: "and 3 more like it"}},
		{"keys apart", time.Second, []Event{dlp(0, "getAccount"), dlp(time.Millisecond, "listAccounts"), dlp(2*time.Millisecond, "getAccount")}, 2, nil},
		{"blocks always recorded", time.Second, []Event{block(0), block(time.Millisecond), block(2 * time.Millisecond)}, 3, nil},
		{"detector events never folded", time.Second, []Event{detector(0, "192.0.2.1"), detector(time.Millisecond, "192.0.2.2")}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queue{max: 100}
			m := NewMetrics()
			r := NewRecorder(RecorderOptions{Store: q, Metrics: m})
			defer r.Close()
			r.SetObserveInterval(tt.interval)
			for _, e := range tt.in {
				r.Event(e)
			}
			if len(q.evs) != tt.wantStored {
				t.Fatalf("stored %d events, want %d: %+v", len(q.evs), tt.wantStored, q.evs)
			}
			for i, part := range tt.wantNote {
				if !strings.Contains(q.evs[i].Detail, part) {
					t.Errorf("event %d detail = %q, want it to contain %q", i, q.evs[i].Detail, part)
				}
			}
			mfs, err := m.Registry().Gather()
			if err != nil {
				t.Fatal(err)
			}
			counted := 0.0
			for _, mf := range mfs {
				if mf.GetName() == "apiguard_events_total" {
					for _, s := range mf.GetMetric() {
						counted += s.GetCounter().GetValue()
					}
				}
			}
			if int(counted) != len(tt.in) {
				t.Errorf("apiguard_events_total = %v, want every event counted (%d)", counted, len(tt.in))
			}
		})
	}
}
