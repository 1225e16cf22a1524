package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/guard/denylist"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
)

// credentialStuffing catches credential stuffing and brute force on
// login operations (API2): failed logins for many usernames from one
// address (IPv6: one /64), for one username from many addresses, and
// spikes of failed logins across all clients. Usernames are read from the
// login body (never anything else) and kept only as hashes; events name
// them by the first 8 bytes of their SHA-256.
type credentialStuffing struct {
	cfg    config.CredentialStuffingDetector
	window uint32
	byIP   *table[uint64, credIP] // by address (IPv6: /64)
	byUser *table[uint64, credUser]
	spike  spike
	logins map[*openapi.Operation]loginInfo
	fail   map[int]bool
}

type credIP struct {
	users tset
	fired uint32
}

type credUser struct {
	ips   tset
	fired uint32
}

// loginInfo says whether an operation is a login and where its body
// holds the username.
type loginInfo struct {
	login   bool
	pointer string // from x-apiguard-login, or ""
}

func newCredentialStuffing(s *Set) *credentialStuffing {
	return &credentialStuffing{byIP: newTable[uint64, credIP](1), byUser: newTable[uint64, credUser](1),
		logins: map[*openapi.Operation]loginInfo{}}
}

func (c *credentialStuffing) name() string { return NameCredentialStuffing }
func (c *credentialStuffing) keys() int    { return c.byIP.len() + c.byUser.len() }
func (c *credentialStuffing) reset() {
	c.byIP.clear()
	c.byUser.clear()
	c.spike = spike{}
	clear(c.logins)
}

func (c *credentialStuffing) configure(d *config.Detectors) {
	c.cfg = d.CredentialStuffing
	c.window = windowSecs(c.cfg.Window.D())
	c.byIP.resize(d.MaxKeys)
	c.byUser.resize(d.MaxKeys)
	c.spike.configure(c.window)
	clear(c.logins) // the operations named may have changed
	c.fail = map[int]bool{}
	for _, st := range c.cfg.FailureStatuses {
		c.fail[st] = true
	}
}

// loginOf says whether op is a login: marked x-apiguard-login, named in
// the config, or looking like one (operationId login/signin/...; POST
// to .../login, .../signin, .../token, .../authenticate).
func (c *credentialStuffing) loginOf(op *openapi.Operation) loginInfo {
	if li, ok := c.logins[op]; ok {
		return li
	}
	var li loginInfo
	if ext, ok := op.Extensions["x-apiguard-login"]; ok {
		li.login = true
		if m, ok := ext.(map[string]any); ok {
			if p, ok := m["username"].(string); ok && strings.HasPrefix(p, "/") {
				li.pointer = p
			}
		}
	} else if slices.Contains(c.cfg.Operations, op.ID) {
		li.login = true
	} else {
		id := strings.ToLower(op.ID)
		last := op.Template[strings.LastIndexByte(op.Template, '/')+1:]
		li.login = id == "login" || id == "signin" || strings.HasSuffix(id, "login") || strings.HasSuffix(id, "signin") ||
			(op.Method == "POST" && (last == "login" || last == "signin" || last == "token" || last == "authenticate"))
	}
	if len(c.logins) >= 4096 { // specs reloaded many times: start over
		clear(c.logins)
	}
	c.logins[op] = li
	return li
}

func (c *credentialStuffing) observe(o *observe.Observation, in *input, s *Set) {
	now := in.now
	if o.Operation == nil || !c.fail[o.Status] {
		return
	}
	li := c.loginOf(o.Operation)
	if !li.login {
		return
	}
	win := c.cfg.Window.D().String()
	if c.cfg.SpikeFactor > 0 {
		if sum, usual, ok := c.spike.add(now, c.cfg.SpikeFactor, c.cfg.SpikeMinFailures); ok {
			s.fire(o, trigger{detector: NameCredentialStuffing, rule: "detect.credential_stuffing.failure_spike", category: "API2",
				detail: itoa(int(sum)) + " failed logins across all clients within " + win + " (usually about " +
					strconv.FormatFloat(usual, 'f', 0, 64) + ")",
				common: c.cfg.DetectorCommon})
		}
	}
	ip := o.ClientIP.Unmap()
	if !ip.IsValid() {
		return
	}
	fields := c.cfg.UsernameFields
	if li.pointer != "" {
		fields = append([]string{li.pointer}, fields...)
	}
	user := usernameOf(o.RequestContentType, o.RequestBody, fields)
	if user == "" {
		return
	}
	uh := s.hash(user)
	key, target := ip, blockTarget{kind: denylist.KindIP, value: ip.String()}
	if ip.Is6() { // one host has a whole /64
		p, _ := ip.Prefix(64)
		key, target = p.Addr(), blockTarget{kind: denylist.KindCIDR, value: p.String()}
	}
	st, _ := c.byIP.put(maphash.Comparable(s.seed, key))
	if n, _ := st.users.add(uint32(uh), false, now, c.window, c.cfg.UsernamesPerIP); n >= c.cfg.UsernamesPerIP && !within(st.fired, now, c.window) {
		st.fired = now
		s.fire(o, trigger{detector: NameCredentialStuffing, rule: "detect.credential_stuffing.usernames_per_ip", category: "API2",
			detail: itoa(n) + " usernames failed to log in from " + target.kind + " " + target.value + " within " + win,
			target: target, common: c.cfg.DetectorCommon})
	}
	if c.cfg.IPsPerUsername == 0 {
		return
	}
	su, _ := c.byUser.put(uh)
	if n, _ := su.ips.add(uint32(maphash.Comparable(s.seed, key)), false, now, c.window, c.cfg.IPsPerUsername); n >= c.cfg.IPsPerUsername && !within(su.fired, now, c.window) {
		su.fired = now
		s.fire(o, trigger{detector: NameCredentialStuffing, rule: "detect.credential_stuffing.ips_per_username", category: "API2",
			detail: itoa(n) + " addresses failed to log in as username sha256:" + usernameFingerprint(user) + " within " + win,
			common: c.cfg.DetectorCommon})
	}
}

// usernameFingerprint names a username in events without writing it: the
// first 8 bytes of its SHA-256, in hex (hash a suspect's username to
// compare).
func usernameFingerprint(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:8])
}

// spike counts events across all clients in a sliding window of ten
// buckets and keeps the usual count per bucket as an exponential moving
// average (spanning six windows).
type spike struct {
	bucketSecs uint32
	buckets    [10]uint32
	cur        uint32 // absolute number of the newest bucket
	started    bool
	usual      float64 // per bucket
	fired      uint32
	window     uint32
}

func (p *spike) configure(window uint32) {
	bs := window / 10
	if bs < 1 {
		bs = 1
	}
	if bs != p.bucketSecs {
		*p = spike{}
	}
	p.bucketSecs, p.window = bs, window
}

// add counts one event at now and reports whether the window's count is
// a spike: at least min, and above factor times the usual count.
func (p *spike) add(now uint32, factor float64, min int) (sum uint32, usual float64, spiking bool) {
	b := now / p.bucketSecs
	if !p.started {
		p.cur, p.started = b, true
	}
	if b > p.cur {
		alpha := ewmaAlpha(60)
		gap := b - p.cur
		for j := uint32(0); j < gap && j < 10; j++ {
			i := (p.cur + j) % 10
			p.usual = alpha*float64(p.buckets[i]) + (1-alpha)*p.usual
			p.buckets[(p.cur+j+1)%10] = 0
		}
		if gap > 10 {
			p.usual = decay(p.usual, alpha, gap-10)
		}
		p.cur = b
	}
	p.buckets[p.cur%10]++
	for _, n := range p.buckets {
		sum += n
	}
	usual = p.usual * 10
	if int(sum) < min || float64(sum) <= factor*usual || within(p.fired, now, p.window) {
		return sum, usual, false
	}
	p.fired = now
	return sum, usual, true
}
