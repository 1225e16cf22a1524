package detect

import (
	"math"
	"time"
)

// epoch is the origin of the detectors' clock: whole seconds since
// 2020-01-01T00:00:00Z fit in a uint32 until 2156.
const epoch = 1577836800

// secs is t in whole seconds since epoch, at least 1 (0 means never).
func secs(t time.Time) uint32 {
	s := t.Unix() - epoch
	switch {
	case s < 1:
		return 1
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// windowSecs is a window in whole seconds, at least 1.
func windowSecs(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		return 1
	}
	if s > math.MaxUint32/2 {
		return math.MaxUint32 / 2
	}
	return uint32(s)
}

// within reports whether a trigger at fired (0: never) still silences
// new triggers at now.
func within(fired, now, window uint32) bool {
	return fired != 0 && now >= fired && now-fired < window
}

// flagBit marks a value of a tset (for example an object id answered 404).
const flagBit = 1 << 31

// tsEntry is one value of a tset: 31 bits of its hash, the flag bit, and
// when it was last seen.
type tsEntry struct {
	h uint32
	t uint32
}

// tset is a bounded set of distinct values seen within a sliding window,
// exact up to collisions of a 31-bit hash: at most max values, 8 bytes
// each. Adding a value drops the ones not seen within the window; when
// the set is full, the least recently seen value makes room.
type tset struct {
	e []tsEntry
}

// add records value h seen at now (flagged when flag) and returns how
// many distinct values, and how many flagged ones, were seen within the
// window ending at now.
func (s *tset) add(h uint32, flag bool, now, window uint32, max int) (n, flagged int) {
	h &^= flagBit
	found := false
	oldest := -1
	j := 0
	for _, e := range s.e {
		if now >= e.t && now-e.t >= window {
			continue // not seen within the window
		}
		if e.h&^flagBit == h {
			found = true
			if flag {
				e.h |= flagBit
			}
			if now > e.t {
				e.t = now
			}
		}
		s.e[j] = e
		if oldest < 0 || e.t < s.e[oldest].t {
			oldest = j
		}
		j++
	}
	clear(s.e[j:])
	s.e = s.e[:j]
	if !found {
		ne := tsEntry{h: h, t: now}
		if flag {
			ne.h |= flagBit
		}
		if len(s.e) >= max && oldest >= 0 {
			s.e[oldest] = ne
		} else {
			s.e = append(s.e, ne)
		}
	}
	if c := cap(s.e); c > 64 && len(s.e) < c/4 { // give memory back after a burst
		s.e = append(make([]tsEntry, 0, 2*len(s.e)), s.e...)
	}
	for _, e := range s.e {
		if e.h&flagBit != 0 {
			flagged++
		}
	}
	return len(s.e), flagged
}

// ewmaAlpha is the smoothing factor of an exponential moving average
// spanning n periods.
func ewmaAlpha(n int) float64 { return 2 / (float64(n) + 1) }

// decay applies k periods without events to an exponential moving
// average.
func decay(avg, alpha float64, k uint32) float64 {
	if k == 0 || avg == 0 {
		return avg
	}
	if k > 10_000 {
		return 0
	}
	return avg * math.Pow(1-alpha, float64(k))
}
