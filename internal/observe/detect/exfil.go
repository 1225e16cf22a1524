package detect

import (
	"strconv"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
)

// exfiltration catches a client (principal, else address) receiving far
// more answer bytes within a window than its own baseline — an
// exponential moving average of its past windows — and at least
// min_bytes (API3: data leaving in bulk). New clients have no baseline
// and are judged against min_bytes alone.
type exfiltration struct {
	cfg    config.ExfiltrationDetector
	window uint32
	alpha  float64
	t      *table[uint64, exfilState] // by client
}

type exfilState struct {
	win   uint32  // number of the current window (now / window)
	bytes uint64  // answer bytes in the current window
	usual float64 // moving average of past windows' bytes
	past  uint32  // windows in the average
	fired uint32
}

func newExfiltration() *exfiltration { return &exfiltration{t: newTable[uint64, exfilState](1)} }

func (d *exfiltration) name() string { return NameExfiltration }
func (d *exfiltration) keys() int    { return d.t.len() }
func (d *exfiltration) reset()       { d.t.clear() }

func (d *exfiltration) configure(c *config.Detectors) {
	d.cfg = c.Exfiltration
	d.window = windowSecs(d.cfg.Window.D())
	d.alpha = ewmaAlpha(d.cfg.BaselineWindows)
	d.t.resize(c.MaxKeys)
}

func (d *exfiltration) observe(o *observe.Observation, in *input, s *Set) {
	if in.key == 0 || o.BytesOut <= 0 {
		return
	}
	a, now := in.actor, in.now
	st, created := d.t.put(in.key)
	win := now / d.window
	switch {
	case created:
		st.win = win
	case win > st.win: // close the current window, and the empty ones after it
		if st.past == 0 {
			st.usual = float64(st.bytes)
		} else {
			st.usual = d.alpha*float64(st.bytes) + (1-d.alpha)*st.usual
		}
		st.past++
		if gap := win - st.win - 1; gap > 0 {
			st.usual = decay(st.usual, d.alpha, gap)
			st.past += gap
		}
		st.win, st.bytes = win, 0
	}
	st.bytes += uint64(o.BytesOut)
	b := float64(st.bytes)
	if b < float64(d.cfg.MinBytes) || (st.past > 0 && b <= d.cfg.Factor*st.usual) || within(st.fired, now, d.window) {
		return
	}
	st.fired = now
	detail := strconv.FormatUint(st.bytes, 10) + " answer bytes within " + d.cfg.Window.D().String()
	if st.past > 0 && st.usual >= 1 {
		detail += ", " + strconv.FormatFloat(float64(st.bytes)/st.usual, 'f', 1, 64) + " times the usual " +
			strconv.FormatFloat(st.usual, 'f', 0, 64)
	} else {
		detail += ", no baseline yet (at least " + strconv.FormatInt(int64(d.cfg.MinBytes), 10) + ")"
	}
	s.fire(o, trigger{detector: NameExfiltration, rule: "detect.exfiltration.volume", category: "API3",
		detail: detail + " for " + a.String(), target: targetOf(a, o), common: d.cfg.DetectorCommon})
}
