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
	cfg    config.EnumerationDetector
	window uint32
	t      *table[uint64, enumState] // by client and operation
	h      maphash.Hash
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
	e := &enumeration{t: newTable[uint64, enumState](1)}
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

func (e *enumeration) observe(o *observe.Observation, in *input, s *Set) {
	if in.key == 0 {
		return
	}
	a, now := in.actor, in.now
	var (
		op      string // operation id, or "METHOD template" when undocumented
		values  uint64
		last    int64
		numeric bool
	)
	if o.Operation != nil {
		if len(o.PathParams) == 0 {
			return
		}
		op = o.Operation.ID
		if len(o.PathParams) == 1 {
			values = maphash.String(s.seed, o.PathParams[0].Value)
		} else {
			e.h.Reset()
			for _, p := range o.PathParams {
				_, _ = e.h.WriteString(p.Value)
				_ = e.h.WriteByte(0)
			}
			values = e.h.Sum64()
		}
		if v, err := strconv.ParseInt(o.PathParams[len(o.PathParams)-1].Value, 10, 64); err == nil {
			last, numeric = v, true
		}
	} else {
		sh := shape(s.seed, o.RoutePath)
		if sh.vars == 0 {
			return
		}
		op = o.Method + " " + sh.template
		values, last, numeric = sh.values, sh.last, sh.numeric
	}
	opKey := in.op
	if opKey == 0 {
		opKey = maphash.String(s.seed, o.API+"\x00"+op)
	}
	st, _ := e.t.put(mix(in.key, opKey))
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
		detail = itoa(n) + " distinct object ids on " + op + " within " + win + " (" + itoa(nFailed) + " answered 403/404)"
	case e.cfg.MaxFailedIDs > 0 && nFailed >= e.cfg.MaxFailedIDs:
		rule = "detect.enumeration.failed_ids"
		detail = itoa(nFailed) + " distinct object ids answered 403/404 on " + op + " within " + win
	case e.cfg.Sequential > 0 && numeric && int(st.run)+1 >= e.cfg.Sequential:
		rule = "detect.enumeration.sequential"
		detail = itoa(int(st.run)+1) + " consecutive ids walked (steps of at most " + itoa(e.cfg.MaxStep) + ") on " + op +
			", last " + strconv.FormatInt(last, 10)
	default:
		return
	}
	st.fired = now
	s.fire(o, trigger{detector: NameEnumeration, rule: rule, category: "API1",
		detail: detail + " by " + a.String(), target: targetOf(a, o), common: e.cfg.DetectorCommon})
}
