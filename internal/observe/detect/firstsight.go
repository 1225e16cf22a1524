package detect

import (
	"hash/maphash"
	"strconv"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
)

// firstSight reports what was never seen before: a new principal or
// client id (API2: a new identity using the API), the first call of a
// documented operation (API9: an unused or deprecated operation coming
// alive) and the first successful call of an undocumented path (API9: a
// shadow endpoint). It learns silently for `learn` after the first
// observation, remembers at most max_seen of each kind (forgotten ones may
// be reported again) and reports at most max_events per window.
type firstSight struct {
	cfg        config.FirstSightDetector
	window     uint32
	learnUntil uint32
	seen       [3]*table[uint64, struct{}] // clients, operations, shadow endpoints
	h          maphash.Hash
	winStart   uint32
	sent       int
	suppressed int
}

const (
	seenClients = iota
	seenOperations
	seenShadows
)

func newFirstSight(s *Set) *firstSight {
	f := &firstSight{}
	for i := range f.seen {
		f.seen[i] = newTable[uint64, struct{}](1)
	}
	f.h.SetSeed(s.seed)
	return f
}

func (f *firstSight) name() string { return NameFirstSight }

func (f *firstSight) keys() int {
	n := 0
	for _, t := range f.seen {
		n += t.len()
	}
	return n
}

func (f *firstSight) reset() {
	for _, t := range f.seen {
		t.clear()
	}
	f.learnUntil, f.winStart, f.sent, f.suppressed = 0, 0, 0, 0
}

func (f *firstSight) configure(c *config.Detectors) {
	f.cfg = c.FirstSight
	f.window = windowSecs(f.cfg.Window.D())
	for _, t := range f.seen {
		t.resize(f.cfg.MaxSeen)
	}
}

// firstTime records a value of one kind and reports whether it is new.
func (f *firstSight) firstTime(kind int, parts ...string) bool {
	f.h.Reset()
	for _, p := range parts {
		_, _ = f.h.WriteString(p)
		_ = f.h.WriteByte(0)
	}
	return f.firstKey(kind, f.h.Sum64())
}

// firstKey records a hashed value of one kind and reports whether it is
// new.
func (f *firstSight) firstKey(kind int, k uint64) bool {
	_, created := f.seen[kind].put(k)
	return created
}

func (f *firstSight) observe(o *observe.Observation, in *input, s *Set) {
	now := in.now
	if f.learnUntil == 0 {
		f.learnUntil = now + uint32(f.cfg.Learn.D().Seconds())
	}
	learning := now < f.learnUntil
	if f.cfg.ClientsOn() {
		if o.Principal != "" && f.firstKey(seenClients, in.key) && !learning { // in.key: the principal's
			f.report(o, now, s, "detect.first_sight.client", "API2", "new principal "+o.Principal+" ("+o.AuthMethod+")")
		}
		if o.ClientID != "" && f.firstTime(seenClients, "c", o.ClientID) && !learning {
			f.report(o, now, s, "detect.first_sight.client", "API2", "new client id "+o.ClientID)
		}
	}
	if op := o.Operation; op != nil && f.cfg.OperationsOn() {
		if f.firstKey(seenOperations, in.op) && !learning {
			detail := "first call of operation " + op.ID + " (" + op.Method + " " + op.Path + ") of API " + o.API
			if op.Deprecated {
				detail += ", which is deprecated"
			}
			f.report(o, now, s, "detect.first_sight.operation", "API9", detail)
		}
	}
	if o.Operation == nil && o.API != "" && o.Status >= 200 && o.Status < 300 && !o.Blocked && f.cfg.ShadowEndpointsOn() {
		sh := shape(s.seed, o.RoutePath)
		if f.firstTime(seenShadows, o.API, o.Method, sh.template) && !learning {
			f.report(o, now, s, "detect.first_sight.shadow_endpoint", "API9",
				"undocumented "+o.Method+" "+sh.template+" of API "+o.API+" answered "+strconv.Itoa(o.Status))
		}
	}
}

// report fires within the per-window budget; what is over it is counted
// in the next event.
func (f *firstSight) report(o *observe.Observation, now uint32, s *Set, rule, category, detail string) {
	if now >= f.winStart+f.window || now < f.winStart {
		f.winStart, f.sent = now, 0
	}
	if f.sent >= f.cfg.MaxEvents {
		f.suppressed++
		return
	}
	f.sent++
	if f.suppressed > 0 {
		detail += " (" + itoa(f.suppressed) + " earlier first sightings not reported: over max_events)"
		f.suppressed = 0
	}
	s.fire(o, trigger{detector: NameFirstSight, rule: rule, category: category, detail: detail,
		common: f.cfg.DetectorCommon, severity: severityInfo})
}
