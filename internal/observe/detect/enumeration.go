package detect

import (
	"hash/maphash"
	"net/http"
	"strconv"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
)

// enumeration catches object enumeration and scraping (API1): one client
// requesting many distinct object ids on one operation within the window,
// many of them refused or missing (403/404: a walk mostly fails), or ids
// walked in sequence (1, 2, 3, ...). The ids are the values of the
// operation's path parameters; on undocumented paths, their numeric,
// UUID and long hexadecimal segments.
type enumeration struct {
	set    *Set
	cfg    config.EnumerationDetector
	window uint32
	t      *table[enumKey, enumState]
	h      maphash.Hash
}

// enumKey is one client on one operation.
type enumKey struct {
	a   actor
	api string
	op  string // operation id, or "METHOD template" when undocumented
}

// enumState is what enumeration keeps per client and operation.
type enumState struct {
	ids      tset
	last     int64  // the previous numeric id
	hasLast  bool   //
	run      int32  // consecutive walking steps
	runStart uint32 // when the run began
	fired    uint32 // last trigger
}

func newEnumeration(s *Set) *enumeration {
	e := &enumeration{set: s, t: newTable[enumKey, enumState](1)}
	e.h.SetSeed(s.seed)
	return e
}

func (e *enumeration) name() string { return NameEnumeration }
func (e *enumeration) keys() int    { return e.t.len() }
func (e *enumeration) reset()       { e.t.clear() }

func (e *enumeration) configure(c *config.Detectors) {
	e.cfg = c.Enumeration
	e.window = windowSecs(e.cfg.Window.D())
	e.t.resize(c.MaxKeys)
}

func (e *enumeration) observe(o *observe.Observation, now uint32, s *Set) {
	a := actorOf(o)
	if !a.valid() {
		return
	}
	k := enumKey{a: a, api: o.API}
	var (
		values  uint64
		last    int64
		numeric bool
	)
	if o.Operation != nil {
		if len(o.PathParams) == 0 {
			return
		}
		k.op = o.Operation.ID
		e.h.Reset()
		for _, p := range o.PathParams {
			e.h.WriteString(p.Value)
			e.h.WriteByte(0)
		}
		values = e.h.Sum64()
		if v, err := strconv.ParseInt(o.PathParams[len(o.PathParams)-1].Value, 10, 64); err == nil {
			last, numeric = v, true
		}
	} else {
		sh := shape(s.seed, o.RoutePath)
		if sh.vars == 0 {
			return
		}
		k.op = o.Method + " " + sh.template
		values, last, numeric = sh.values, sh.last, sh.numeric
	}
	st, _ := e.t.put(k)
	failed := o.Status == http.StatusForbidden || o.Status == http.StatusNotFound
	n, nFailed := st.ids.add(uint32(values), failed, now, e.window, e.cfg.MaxIDs)

	// Walking: consecutive ids at most max_step apart, within the window.
	if numeric {
		d := last - st.last
		if st.hasLast && d != 0 && d >= -int64(e.cfg.MaxStep) && d <= int64(e.cfg.MaxStep) && now-st.runStart < e.window {
			st.run++
		} else {
			st.run, st.runStart = 0, now
		}
		st.last, st.hasLast = last, true
	}
	if within(st.fired, now, e.window) {
		return
	}
	var rule, detail string
	win := e.cfg.Window.D().String()
	switch {
	case n >= e.cfg.MaxIDs:
		rule = "detect.enumeration.distinct_ids"
		detail = itoa(n) + " distinct object ids on " + k.op + " within " + win + " (" + itoa(nFailed) + " answered 403/404)"
	case e.cfg.MaxFailedIDs > 0 && nFailed >= e.cfg.MaxFailedIDs:
		rule = "detect.enumeration.failed_ids"
		detail = itoa(nFailed) + " distinct object ids answered 403/404 on " + k.op + " within " + win
	case e.cfg.Sequential > 0 && numeric && int(st.run)+1 >= e.cfg.Sequential:
		rule = "detect.enumeration.sequential"
		detail = itoa(int(st.run)+1) + " consecutive ids walked (steps of at most " + itoa(e.cfg.MaxStep) + ") on " + k.op +
			", last " + strconv.FormatInt(last, 10)
	default:
		return
	}
	st.fired = now
	s.fire(o, trigger{detector: NameEnumeration, rule: rule, category: "API1",
		detail: detail + " by " + a.String(), target: targetOf(a, o), common: e.cfg.DetectorCommon})
}
