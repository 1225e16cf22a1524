package gateway

import (
	"net/url"
	"sync/atomic"
	"time"
)

// upstreamPool picks upstream URLs round robin, skipping the ones passive
// health checking marked down. When every upstream is down it keeps
// trying them all (better a likely failure than a certain one), as Envoy
// does past its panic threshold.
type upstreamPool struct {
	targets  []*target
	next     atomic.Uint64
	maxFails int32
	cooldown time.Duration
	now      func() time.Time
}

// target is one upstream URL and its passive health.
type target struct {
	url       *url.URL
	host      string // for metrics and events
	fails     atomic.Int32
	downUntil atomic.Int64 // unix nanoseconds; 0 = up
}

func newUpstreamPool(urls []*url.URL, maxFails int, cooldown time.Duration, now func() time.Time) *upstreamPool {
	p := &upstreamPool{maxFails: int32(maxFails), cooldown: cooldown, now: now}
	for _, u := range urls {
		p.targets = append(p.targets, &target{url: u, host: u.Host})
	}
	return p
}

// pick returns the next healthy target.
func (p *upstreamPool) pick() *target {
	n := uint64(len(p.targets))
	if n == 1 {
		return p.targets[0]
	}
	start := p.next.Add(1)
	now := p.now().UnixNano()
	for i := uint64(0); i < n; i++ {
		t := p.targets[(start+i)%n]
		if d := t.downUntil.Load(); d == 0 || now >= d {
			return t
		}
	}
	return p.targets[start%n]
}

// success records a response from t: it is healthy again.
func (p *upstreamPool) success(t *target) {
	if t.fails.Load() != 0 {
		t.fails.Store(0)
	}
	if t.downUntil.Load() != 0 {
		t.downUntil.Store(0)
	}
}

// failure records a transport failure of t and reports whether it marked
// t down.
func (p *upstreamPool) failure(t *target) bool {
	if t.fails.Add(1) < p.maxFails {
		return false
	}
	t.fails.Store(0)
	t.downUntil.Store(p.now().Add(p.cooldown).UnixNano())
	return true
}
