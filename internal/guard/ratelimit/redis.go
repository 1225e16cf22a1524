package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// gcraScript is the whole check of one key against all of a rule's limits,
// atomically, in one round trip. Times are microseconds (exact in Lua's
// doubles). KEYS[1] is a hash with one field per limit holding its TAT.
// ARGV: now, then T and tau per limit. It answers {allowed, tat1, ...}:
// the TATs after the check when allowed, as they stood (clamped to now)
// when denied, so the caller computes Retry-After and remaining.
const gcraScript = `
local now = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local fields = {}
for i = 1, n do fields[i] = tostring(i) end
local cur = redis.call('HMGET', KEYS[1], unpack(fields))
local out = {1}
local newt = {}
for i = 1, n do
  local t = tonumber(ARGV[2*i])
  local tau = tonumber(ARGV[2*i+1])
  local tat = tonumber(cur[i]) or now
  if tat < now then tat = now end
  out[i+1] = tat
  newt[i] = tat + t
  if tat + t - tau > now then out[1] = 0 end
end
if out[1] == 1 then
  local args = {}
  local ttl = 0
  for i = 1, n do
    args[2*i-1] = fields[i]
    args[2*i] = string.format('%.0f', newt[i])
    out[i+1] = newt[i]
    if newt[i] - now > ttl then ttl = newt[i] - now end
  end
  redis.call('HSET', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1)
end
return out
`

var gcra1 = redis.NewScript(gcraScript)

// redisStore is the Redis GCRA state of one rule. Keys are
// "apiguard:rl:{<api>|<rule>|<definition hash>|<key hash>}": the whole
// name is one hash tag, so a Redis Cluster keeps it on one slot, and the
// key's identity is only stored as a SHA-256 prefix (never a raw header
// or API key).
type redisStore struct {
	client redis.UniversalClient
	prefix string // "apiguard:rl:{api|rule|def|"
	args   []any  // reused template: now, then T and tau per limit (µs)
	params []gcraParams
}

func newRedisStore(c redis.UniversalClient, api, rule, def string, ls []Limit) *redisStore {
	d := sha256.Sum256([]byte(def))
	s := &redisStore{client: c, prefix: "apiguard:rl:{" + api + "|" + rule + "|" + hex.EncodeToString(d[:6]) + "|", params: paramsOf(ls)}
	for _, p := range s.params {
		s.args = append(s.args, p.t/1000, p.tau/1000)
	}
	return s
}

// redisKey names the Redis key of a composed key.
func (s *redisStore) redisKey(key []byte) string {
	h := sha256.Sum256(key)
	var buf [96]byte
	b := append(buf[:0], s.prefix...)
	b = hex.AppendEncode(b, h[:16])
	b = append(b, '}')
	return string(b)
}

// check runs the script once (EVALSHA; EVAL when the server does not know
// the script yet) and converts its answer to an outcome in nanoseconds.
func (s *redisStore) check(ctx context.Context, key []byte, nowNS int64) (outcome, error) {
	args := make([]any, 0, 1+len(s.args))
	args = append(args, nowNS/1000)
	args = append(args, s.args...)
	res, err := gcra1.Run(ctx, s.client, []string{s.redisKey(key)}, args...).Int64Slice()
	if err != nil {
		return outcome{}, fmt.Errorf("ratelimit redis script: %w", err)
	}
	if len(res) != 1+len(s.params) {
		return outcome{}, fmt.Errorf("ratelimit redis script: %d values, want %d", len(res), 1+len(s.params))
	}
	var o outcome
	o.allowed = res[0] == 1
	for i := range s.params {
		o.tat[i] = res[i+1] * 1000
	}
	return o, nil
}
