package detect

import (
	"net/http"
	"strconv"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
)

// errorRatio catches clients whose answers are mostly errors (401, 403,
// 404 by default) over at least min_requests within the window: probing
// credentials (API2), objects or functions (API1, API5) or endpoints
// (API9). The window slides by weighting the previous window's counts by
// the share of it still inside (constant memory per client).
type errorRatio struct {
	cfg      config.ErrorRatioDetector
	window   uint32
	statuses map[int]bool
	t        *table[uint64, ratioState] // by client
}

type ratioState struct {
	start      uint32 // start of the current window
	cur, prev  ratioCount
	fired      uint32
	s401, s403 uint32 // error answers by status in the current window
	s404       uint32
}

type ratioCount struct{ n, errs uint32 }

func newErrorRatio() *errorRatio { return &errorRatio{t: newTable[uint64, ratioState](1)} }

func (d *errorRatio) name() string { return NameErrorRatio }
func (d *errorRatio) keys() int    { return d.t.len() }
func (d *errorRatio) reset()       { d.t.clear() }

func (d *errorRatio) configure(c *config.Detectors) {
	d.cfg = c.ErrorRatio
	d.window = windowSecs(d.cfg.Window.D())
	d.t.resize(c.MaxKeys)
	d.statuses = map[int]bool{}
	for _, s := range d.cfg.Statuses {
		d.statuses[s] = true
	}
}

func (d *errorRatio) observe(o *observe.Observation, in *input, s *Set) {
	if in.key == 0 || o.Status == 0 {
		return
	}
	a, now := in.actor, in.now
	st, created := d.t.put(in.key)
	if created {
		st.start = now
	}
	if now >= st.start+d.window { // roll to the window holding now
		if now < st.start+2*d.window {
			st.prev = st.cur
			st.start += d.window
		} else {
			st.prev = ratioCount{}
			st.start = now
		}
		st.cur = ratioCount{}
		st.s401, st.s403, st.s404 = 0, 0, 0
	}
	st.cur.n++
	if d.statuses[o.Status] {
		st.cur.errs++
		switch o.Status {
		case http.StatusUnauthorized:
			st.s401++
		case http.StatusForbidden:
			st.s403++
		case http.StatusNotFound:
			st.s404++
		}
	}
	elapsed := float64(0)
	if now > st.start {
		elapsed = float64(now-st.start) / float64(d.window)
	}
	w := 1 - elapsed
	n := float64(st.prev.n)*w + float64(st.cur.n)
	errs := float64(st.prev.errs)*w + float64(st.cur.errs)
	if n < float64(d.cfg.MinRequests) || errs/n <= d.cfg.MaxRatio || within(st.fired, now, d.window) {
		return
	}
	st.fired = now
	// The category follows the errors seen most: 401 credentials, 403
	// objects or functions, 404 endpoints.
	category := "API9"
	switch {
	case st.s401 >= st.s403 && st.s401 >= st.s404 && st.s401 > 0:
		category = "API2"
	case st.s403 >= st.s404 && st.s403 > 0:
		category = "API1"
	}
	s.fire(o, trigger{detector: NameErrorRatio, rule: "detect.error_ratio.high", category: category,
		detail: strconv.FormatFloat(100*errs/n, 'f', 0, 64) + "% of about " + strconv.FormatFloat(n, 'f', 0, 64) +
			" requests within " + d.cfg.Window.D().String() + " answered errors (401: " + itoa(int(st.s401)) +
			", 403: " + itoa(int(st.s403)) + ", 404: " + itoa(int(st.s404)) + " this window) for " + a.String(),
		target: targetOf(a, o), common: d.cfg.DetectorCommon})
}
