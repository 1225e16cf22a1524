package events

import (
	"strings"
	"testing"
)

type sinkFunc func(Event)

func (f sinkFunc) Export(e Event) { f(e) }

// TestRecorderSink checks that every security event reaches the sink,
// redacted and time-stamped.
func TestRecorderSink(t *testing.T) {
	var got []Event
	r := NewRecorder(RecorderOptions{Sink: sinkFunc(func(e Event) { got = append(got, e) })})
	defer r.Close()
	r.Event(Event{Kind: KindGuard, Verdict: VerdictBlock, Rule: "authn.bad_signature",
		Detail: "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl refused"})
	r.Access(&Access{Method: "GET", Path: "/", Status: 200})
	if len(got) != 1 {
		t.Fatalf("sink got %d events, want 1 (access lines are not events)", len(got))
	}
	if e := got[0]; e.Time.IsZero() || strings.Contains(e.Detail, "eyJ") || e.Rule != "authn.bad_signature" {
		t.Errorf("sink event = %+v, want a time and a redacted detail", e)
	}
}
