package events

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxSampleKeys bounds the keys the sampler remembers; past it, the table
// starts over (at worst a few more events are recorded).
const maxSampleKeys = 10000

// observeSampler keeps guards' "observe" events (detections that let the
// request through) to one per API, operation, guard and rule per interval. A
// documented field that always carries an IBAN, or a monitor-mode rule
// that every request trips, would otherwise write one event per request
// to the log, the store and the SIEM: the same fact, thousands of times a
// second, at the cost of the requests themselves. The metrics count every
// event, the access log keeps every request's verdict, and the next event
// recorded says how many were folded into it.
type observeSampler struct {
	every atomic.Int64 // interval in nanoseconds; 0: record every event
	mu    sync.Mutex
	keys  map[sampleKey]*sampleState
}

type sampleKey struct{ api, operation, guard, rule string }

type sampleState struct {
	last   time.Time // when the last event of the key was recorded
	folded int       // events not recorded since
}

// admit reports whether e is recorded; when it is, folded is the number of
// events of its key left out since the last one recorded.
func (s *observeSampler) admit(e *Event) (ok bool, folded int) {
	every := time.Duration(s.every.Load())
	if every <= 0 || e.Verdict != VerdictObserve || e.Kind != KindGuard {
		return true, 0 // anomaly detectors have their own windows, per client
	}
	k := sampleKey{e.API, e.Operation, e.Guard, e.Rule}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.keys[k]
	if st == nil {
		if s.keys == nil || len(s.keys) >= maxSampleKeys {
			s.keys = make(map[sampleKey]*sampleState)
		}
		s.keys[k] = &sampleState{last: e.Time}
		return true, 0
	}
	if e.Time.Sub(st.last) < every {
		st.folded++
		return false, 0
	}
	folded, st.last, st.folded = st.folded, e.Time, 0
	return true, folded
}

// foldedNote is what an event's detail gets for the events folded into it.
func foldedNote(n int, every time.Duration) string {
	return " (and " + strconv.Itoa(n) + " more like it since the last one recorded, folded by log.observe_event_interval " + every.String() + ")"
}
