package ratelimit

import (
	"hash/maphash"
	"sync"
)

// maxLimits is the most limits one rule may have; the in-memory state of a
// key is a fixed array of that many theoretical arrival times.
const maxLimits = 4

// numShards spreads keys over independently locked maps.
const numShards = 256

// sweepEvery is the shortest time between two full sweeps of one shard, so
// a shard full of active keys cannot make every insert scan it.
const sweepEvery = int64(1e9)

// evictSample is how many entries are looked at to pick one to evict when
// a shard is full of active keys.
const evictSample = 8

// tats are the theoretical arrival times (unix ns) of one key, one per
// limit. A key whose every TAT is in the past is idle: its state equals a
// fresh key's, so it can be dropped without changing any decision.
type tats [maxLimits]int64

func (t *tats) max() int64 {
	m := t[0]
	for _, v := range t[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// gcraParams are one limit's emission interval T and tolerance tau (burst
// times T), in nanoseconds.
type gcraParams struct {
	t, tau int64
}

func paramsOf(ls []Limit) []gcraParams {
	out := make([]gcraParams, len(ls))
	for i, l := range ls {
		t := int64(l.Interval())
		out[i] = gcraParams{t: t, tau: t * l.Burst}
	}
	return out
}

// outcome is the result of one check, for answers and headers.
type outcome struct {
	allowed bool
	// tat are the theoretical arrival times after the check (allowed) or
	// as they stood (denied), clamped to now.
	tat tats
}

// gcra applies the generic cell rate algorithm for all limits at once:
// the request is admitted only if every limit admits it, and only then is
// any state advanced.
func gcra(now int64, cur *tats, ps []gcraParams) outcome {
	var o outcome
	o.allowed = true
	for i, p := range ps {
		tat := cur[i]
		if tat < now {
			tat = now
		}
		o.tat[i] = tat
		if tat+p.t-p.tau > now {
			o.allowed = false
		}
	}
	if o.allowed {
		for i, p := range ps {
			o.tat[i] += p.t
			cur[i] = o.tat[i]
		}
	}
	return o
}

// memStore is the in-memory GCRA state of one rule: sharded maps from a
// 64-bit keyed hash of the key to its arrival times, bounded in size.
type memStore struct {
	seed     maphash.Seed
	params   []gcraParams
	perShard int
	shards   [numShards]memShard
}

type memShard struct {
	mu        sync.Mutex
	m         map[uint64]tats
	lastSweep int64
	_         [24]byte // keep shards on separate cache lines
}

// newMemStore returns a store for the limits, holding at most maxKeys keys.
func newMemStore(ls []Limit, maxKeys int) *memStore {
	s := &memStore{seed: maphash.MakeSeed(), params: paramsOf(ls)}
	s.perShard = max(maxKeys/numShards, 1)
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]tats)
	}
	return s
}

// hash returns the keyed hash of a composed key. The seed is random per
// process, so an attacker cannot craft colliding keys.
func (s *memStore) hash(key []byte) uint64 { return maphash.Bytes(s.seed, key) }

// check applies one request for the key hashed h at now (unix ns).
func (s *memStore) check(h uint64, now int64) outcome {
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	cur, ok := sh.m[h]
	if !ok && len(sh.m) >= s.perShard {
		sh.makeRoom(now, s.perShard)
	}
	o := gcra(now, &cur, s.params)
	if o.allowed {
		sh.m[h] = cur
	}
	sh.mu.Unlock()
	return o
}

// makeRoom drops idle keys (a full sweep at most once a second), then, if
// the shard is still full, evicts the entry closest to idle among a small
// random sample. Evicting an active key resets its limits; that only
// happens when more than max_keys keys are active at once.
func (sh *memShard) makeRoom(now int64, limit int) {
	if now-sh.lastSweep >= sweepEvery {
		sh.lastSweep = now
		for k, v := range sh.m {
			if v.max() <= now {
				delete(sh.m, k)
			}
		}
		if len(sh.m) < limit {
			return
		}
	}
	var victim uint64
	best, n := int64(0), 0
	for k, v := range sh.m {
		if m := v.max(); n == 0 || m < best {
			victim, best = k, m
		}
		n++
		if n == evictSample {
			break
		}
	}
	if n > 0 {
		delete(sh.m, victim)
	}
}

// Len returns the number of keys held.
func (s *memStore) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].m)
		s.shards[i].mu.Unlock()
	}
	return n
}
