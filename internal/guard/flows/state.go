package flows

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// checkReq is everything one request reads and writes in the flow state,
// applied atomically: in Redis by one script (one round trip), in memory
// under one lock. Times are unix microseconds.
type checkReq struct {
	now    int64
	nonce  string
	auto   *autoReq
	quotas []quotaReq
	seqs   []seqReq
	marks  []markReq
}

// autoReq is the automation part: the client's keys, the signals seen on
// this request, and the thresholds.
type autoReq struct {
	key, tsKey  string
	signals     int
	cadenceN    int
	maxCV       float64
	minSignals  int
	strikeTTL   int64
	challengeAt int // strikes from which the request is refused (not counted)
	blockAt     int
	blockTTL    int64
}

// quotaReq is one exact sliding-window quota: at most limit events in any
// window.
type quotaReq struct {
	key    string
	limit  int64
	window int64
}

// seqReq requires a mark younger than within.
type seqReq struct {
	key    string
	within int64
}

// markReq records that an operation happened, for sequence rules.
type markReq struct {
	key string
	ttl int64
}

// checkRes is the outcome.
type checkRes struct {
	blockedUntil int64 // the client is blocked until then (0: not blocked)
	strikes      int   // the client's current strikes
	suspicious   bool  // this request counted as a strike
	cadence      bool  // the cadence signal fired
	quota        int   // index of the first exhausted quota, or -1
	retry        int64 // microseconds until that quota admits again
	seq          int   // index of the first unmet sequence rule, or -1
}

// backend is where flow state lives.
type backend interface {
	check(ctx context.Context, r *checkReq) (checkRes, error)
}

// cadenceIsMachine reports whether timestamps (oldest first) are too
// regular for a person: the coefficient of variation of the gaps between
// them is below maxCV (all gaps zero counts as regular).
func cadenceIsMachine(ts []int64, maxCV float64) bool {
	if len(ts) < 3 {
		return false
	}
	n := float64(len(ts) - 1)
	var sum float64
	for i := 1; i < len(ts); i++ {
		sum += float64(ts[i] - ts[i-1])
	}
	mean := sum / n
	if mean <= 0 {
		return true
	}
	var ss float64
	for i := 1; i < len(ts); i++ {
		d := float64(ts[i]-ts[i-1]) - mean
		ss += d * d
	}
	return math.Sqrt(ss/n)/mean < maxCV
}

// memBackend keeps flow state in this process, bounded in keys.
type memBackend struct {
	mu       sync.Mutex
	maxKeys  int
	logs     map[string][]int64 // quota key -> event times, oldest first
	marks    map[string]expiring
	auto     map[string]*autoState
	lastSwep int64
}

type expiring struct{ v, exp int64 }

type autoState struct {
	ts           []int64
	tsExp        int64
	strikes      int
	strikesExp   int64
	blockedUntil int64
}

func newMemBackend(maxKeys int) *memBackend {
	return &memBackend{maxKeys: maxKeys, logs: map[string][]int64{}, marks: map[string]expiring{}, auto: map[string]*autoState{}}
}

func (m *memBackend) size() int { return len(m.logs) + len(m.marks) + len(m.auto) }

// sweep drops expired state (at most once a second); when the store is
// still full, it drops arbitrary entries until a tenth is free.
func (m *memBackend) sweep(now int64, longest int64) {
	if m.size() < m.maxKeys || now-m.lastSwep < 1e6 {
		if m.size() < m.maxKeys {
			return
		}
	} else {
		m.lastSwep = now
		for k, v := range m.logs {
			if len(v) == 0 || v[len(v)-1] <= now-longest {
				delete(m.logs, k)
			}
		}
		for k, v := range m.marks {
			if v.exp <= now {
				delete(m.marks, k)
			}
		}
		for k, v := range m.auto {
			if v.strikesExp <= now && v.blockedUntil <= now && v.tsExp <= now {
				delete(m.auto, k)
			}
		}
	}
	for m.size() >= m.maxKeys*9/10 {
		for k := range m.logs {
			delete(m.logs, k)
			break
		}
		for k := range m.marks {
			delete(m.marks, k)
			break
		}
		for k := range m.auto {
			delete(m.auto, k)
			break
		}
	}
}

func (m *memBackend) check(_ context.Context, r *checkReq) (checkRes, error) {
	res := checkRes{quota: -1, seq: -1}
	now := r.now
	m.mu.Lock()
	defer m.mu.Unlock()
	var longest int64
	for _, q := range r.quotas {
		longest = max(longest, q.window)
	}
	m.sweep(now, longest)
	if a := r.auto; a != nil {
		st := m.auto[a.key]
		if st == nil {
			st = &autoState{}
			m.auto[a.key] = st
		}
		if st.tsExp <= now {
			st.ts = st.ts[:0]
		}
		if st.strikesExp <= now {
			st.strikes = 0
		}
		if st.blockedUntil > now {
			res.blockedUntil, res.strikes = st.blockedUntil, st.strikes
			return res, nil
		}
		st.ts = append(st.ts, now)
		if len(st.ts) > a.cadenceN {
			st.ts = slices.Delete(st.ts, 0, len(st.ts)-a.cadenceN)
		}
		st.tsExp = now + a.strikeTTL
		res.cadence = len(st.ts) >= a.cadenceN && cadenceIsMachine(st.ts, a.maxCV)
		sig := a.signals
		if res.cadence {
			sig++
		}
		if sig >= a.minSignals {
			st.strikes++
			st.strikesExp = now + a.strikeTTL
			res.suspicious = true
			if a.blockAt > 0 && st.strikes >= a.blockAt {
				st.blockedUntil = now + a.blockTTL
				st.strikesExp = max(st.strikesExp, st.blockedUntil)
				res.blockedUntil, res.strikes = st.blockedUntil, st.strikes
				return res, nil
			}
		}
		res.strikes = st.strikes
		if a.challengeAt > 0 && st.strikes >= a.challengeAt {
			return res, nil
		}
	}
	for i, q := range r.quotas {
		log := m.logs[q.key]
		cut := 0
		for cut < len(log) && log[cut] <= now-q.window {
			cut++
		}
		log = log[cut:]
		m.logs[q.key] = log
		if int64(len(log)) >= q.limit && res.quota < 0 {
			res.quota, res.retry = i, log[int64(len(log))-q.limit]+q.window-now
		}
	}
	for i, s := range r.seqs {
		mk, ok := m.marks[s.key]
		if res.seq < 0 && (!ok || now-mk.v > s.within) {
			res.seq = i
		}
	}
	if res.quota >= 0 || res.seq >= 0 {
		return res, nil
	}
	for _, q := range r.quotas {
		m.logs[q.key] = append(m.logs[q.key], now)
	}
	for _, mk := range r.marks {
		m.marks[mk.key] = expiring{v: now, exp: now + mk.ttl}
	}
	return res, nil
}

// Expiry in Redis (PEXPIRE) only collects garbage: every decision compares
// stored times with the caller's now, as memBackend does, so both agree
// with an injected clock.
//
// flowScript is the Redis twin of memBackend.check: the same steps in the
// same order, atomically, in one round trip. KEYS: [1] automation hash,
// [2] automation timestamps list, then quota zsets, sequence marks and
// marks to set, in that order. ARGV: now, nonce, auto flag, signals,
// cadenceN, maxCV, minSignals, strikeTTL, challengeAt, blockAt, blockTTL,
// #quotas, #seqs, #marks, then limit and window per quota, within per
// sequence, ttl per mark. Times are microseconds; TTLs are set in ms.
const flowScript = `
local now = tonumber(ARGV[1])
local nonce = ARGV[2]
local auto = ARGV[3] == '1'
local nq, ns, nm = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local function ms(us) return math.ceil(us / 1000) + 1 end
local function fmt(x) return string.format('%.0f', x) end
local blocked, strikes, suspicious, cadence = 0, 0, 0, 0
if auto then
  local signals, n, maxcv, minsig = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local sttl, challenge, blockat, bttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
  local h = redis.call('HMGET', KEYS[1], 'b', 's', 'e')
  local b, e = tonumber(h[1] or '0'), tonumber(h[3] or '0')
  strikes = tonumber(h[2] or '0')
  if e <= now then strikes = 0 end
  if b > now then return {fmt(b), strikes, 0, 0, -1, 0, -1} end
  local last = redis.call('LINDEX', KEYS[2], -1)
  if last and tonumber(last) + sttl <= now then redis.call('DEL', KEYS[2]) end
  redis.call('RPUSH', KEYS[2], fmt(now))
  redis.call('LTRIM', KEYS[2], -n, -1)
  redis.call('PEXPIRE', KEYS[2], ms(sttl))
  local ts = redis.call('LRANGE', KEYS[2], 0, -1)
  if #ts >= n and #ts >= 3 then
    local sum = 0
    for i = 2, #ts do sum = sum + (tonumber(ts[i]) - tonumber(ts[i-1])) end
    local mean = sum / (#ts - 1)
    if mean <= 0 then cadence = 1 else
      local ss = 0
      for i = 2, #ts do local d = (tonumber(ts[i]) - tonumber(ts[i-1])) - mean; ss = ss + d * d end
      if math.sqrt(ss / (#ts - 1)) / mean < maxcv then cadence = 1 end
    end
  end
  if signals + cadence >= minsig then
    strikes = strikes + 1
    suspicious = 1
    redis.call('HSET', KEYS[1], 's', strikes, 'e', fmt(now + sttl))
    redis.call('PEXPIRE', KEYS[1], ms(sttl))
    if blockat > 0 and strikes >= blockat then
      redis.call('HSET', KEYS[1], 'b', fmt(now + bttl), 'e', fmt(math.max(now + sttl, now + bttl)))
      redis.call('PEXPIRE', KEYS[1], ms(math.max(sttl, bttl)))
      return {fmt(now + bttl), strikes, 1, cadence, -1, 0, -1}
    end
  end
  if challenge > 0 and strikes >= challenge then
    return {0, strikes, suspicious, cadence, -1, 0, -1}
  end
end
local k = 3
local a = 15
local qfail, retry, sfail = -1, 0, -1
for i = 0, nq - 1 do
  local limit, window = tonumber(ARGV[a]), tonumber(ARGV[a+1])
  a = a + 2
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', fmt(now - window))
  local c = redis.call('ZCARD', KEYS[k])
  if c >= limit and qfail < 0 then
    local e = redis.call('ZRANGE', KEYS[k], c - limit, c - limit, 'WITHSCORES')
    qfail, retry = i, tonumber(e[2]) + window - now
  end
  k = k + 1
end
for i = 0, ns - 1 do
  local within = tonumber(ARGV[a])
  a = a + 1
  local t = redis.call('GET', KEYS[k])
  if sfail < 0 and (not t or now - tonumber(t) > within) then sfail = i end
  k = k + 1
end
if qfail < 0 and sfail < 0 then
  local qa = 15
  for i = 0, nq - 1 do
    local window = tonumber(ARGV[qa+1])
    redis.call('ZADD', KEYS[3+i], fmt(now), nonce .. ':' .. i)
    redis.call('PEXPIRE', KEYS[3+i], ms(window))
    qa = qa + 2
  end
  for i = 0, nm - 1 do
    redis.call('SET', KEYS[k+i], fmt(now), 'PX', ms(tonumber(ARGV[a+i])))
  end
end
return {0, strikes, suspicious, cadence, qfail, fmt(retry), sfail}
`

var flowLua = redis.NewScript(flowScript)

// redisBackend keeps flow state in Redis.
type redisBackend struct {
	client redis.UniversalClient
}

func (rb *redisBackend) check(ctx context.Context, r *checkReq) (checkRes, error) {
	keys := make([]string, 0, 2+len(r.quotas)+len(r.seqs)+len(r.marks))
	args := make([]any, 0, 14+2*len(r.quotas)+len(r.seqs)+len(r.marks))
	a := r.auto
	if a == nil {
		a = &autoReq{key: "-", tsKey: "-"}
	}
	autoFlag := "0"
	if r.auto != nil {
		autoFlag = "1"
	}
	keys = append(keys, a.key, a.tsKey)
	args = append(args, r.now, r.nonce, autoFlag, a.signals, a.cadenceN, strconv.FormatFloat(a.maxCV, 'g', -1, 64), a.minSignals,
		a.strikeTTL, a.challengeAt, a.blockAt, a.blockTTL, len(r.quotas), len(r.seqs), len(r.marks))
	for _, q := range r.quotas {
		keys = append(keys, q.key)
		args = append(args, q.limit, q.window)
	}
	for _, s := range r.seqs {
		keys = append(keys, s.key)
		args = append(args, s.within)
	}
	for _, m := range r.marks {
		keys = append(keys, m.key)
		args = append(args, m.ttl)
	}
	vals, err := flowLua.Run(ctx, rb.client, keys, args...).Slice()
	if err != nil {
		return checkRes{}, fmt.Errorf("flows redis script: %w", err)
	}
	if len(vals) != 7 {
		return checkRes{}, fmt.Errorf("flows redis script: %d values, want 7", len(vals))
	}
	n := make([]int64, 7)
	for i, v := range vals {
		switch t := v.(type) {
		case int64:
			n[i] = t
		case string:
			n[i], err = strconv.ParseInt(t, 10, 64)
			if err != nil {
				return checkRes{}, fmt.Errorf("flows redis script: value %d: %w", i, err)
			}
		default:
			return checkRes{}, fmt.Errorf("flows redis script: value %d has type %T", i, v)
		}
	}
	return checkRes{blockedUntil: n[0], strikes: int(n[1]), suspicious: n[2] == 1, cadence: n[3] == 1, quota: int(n[4]), retry: n[5], seq: int(n[6])}, nil
}
