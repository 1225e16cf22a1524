// Package detect holds the anomaly detectors: observers of every
// completed exchange (off the request path, fed by the observe.Hub) that
// find what no single request shows — object enumeration, credential
// stuffing, token sharing, error ratio spikes, data exfiltration and the
// first sight of new clients, operations and shadow endpoints.
//
// Each detector keeps sliding windows in bounded memory: at most max_keys
// tracked clients (least recently seen forgotten first) and, per client, a
// bounded set of distinct values. Time is the observations' own (their
// Time), so replays and tests are deterministic. A detector that trips
// reports an event of kind "detector" (guard detect.<name>, rule
// detect.<name>.<what>) through the services' Emit, at most once per
// client and window; configured to, it marks the event for the alert
// channels (severity high) or blocks the client for a while through the
// denylist, which shares the block with every instance. See
// docs/detectors.md.
package detect

import (
	"context"
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/guard/authn"
	"github.com/apiguard/apiguard/internal/guard/denylist"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// Detector names, as in the config and in event guards (detect.<name>).
const (
	NameEnumeration        = "enumeration"
	NameCredentialStuffing = "credential_stuffing"
	NameTokenSharing       = "token_sharing"
	NameErrorRatio         = "error_ratio"
	NameExfiltration       = "exfiltration"
	NameFirstSight         = "first_sight"
)

// Severities of detector events.
const (
	severityInfo = "info"
	severityLow  = "low"
	severityHigh = "high"
)

// blockQueue bounds the blocks waiting to be placed.
const blockQueue = 256

// detector is one anomaly detector. Its methods run with the Set's lock
// held, one observation at a time.
type detector interface {
	// name is the detector's config name.
	name() string
	// configure applies (new) settings; state is kept where it still fits.
	configure(c *config.Detectors)
	// observe looks at one exchange.
	observe(o *observe.Observation, in *input, s *Set)
	// keys is the number of keys tracked, for tests and stats.
	keys() int
	// reset forgets everything (the detector was turned off).
	reset()
}

// Set is the configured detectors, fed as one observe.Observer. It is
// safe for concurrent use: Observe (on the hub's goroutine) and Apply (on
// a reload) serialise on a lock.
type Set struct {
	svc  *pipeline.Services
	seed maphash.Seed

	mu    sync.Mutex
	in    input        // the observation at hand
	h     maphash.Hash // seeded with seed
	cfg   config.Detectors
	all   []detector
	on    []detector
	allow allowlist

	// blocks placed recently (target → expiry, Unix seconds), so that a
	// client tripping several detectors or operations is blocked once.
	recent map[blockTarget]int64

	queue   chan blockRequest
	pending sync.WaitGroup
	done    chan struct{}
	closeMu sync.Mutex
	closed  bool
}

// allowlist is who is never blocked.
type allowlist struct {
	nets       []netip.Prefix
	principals map[string]bool
}

// blockTarget is what a trigger would block: a denylist kind and value.
type blockTarget struct {
	kind, value string
}

// blockRequest is a block waiting to be placed by the blocker goroutine.
type blockRequest struct {
	block  store.Block
	target blockTarget
	ev     events.Event
}

// New builds the detectors of cfg, reporting through svc (Emit, Logger)
// and blocking through the denylist of svc. Close stops it.
func New(cfg config.Detectors, svc *pipeline.Services) (*Set, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	s := &Set{svc: svc, seed: maphash.MakeSeed(), recent: map[blockTarget]int64{},
		queue: make(chan blockRequest, blockQueue), done: make(chan struct{})}
	s.h.SetSeed(s.seed)
	s.all = []detector{
		newEnumeration(s), newCredentialStuffing(s), newTokenSharing(s),
		newErrorRatio(), newExfiltration(), newFirstSight(s),
	}
	s.applyLocked(cfg)
	go s.blocker()
	return s, nil
}

// validate checks a detectors section.
func validate(cfg config.Detectors) error { return cfg.Validate() }

// Apply installs new settings (a configuration reload). Windows and
// counts survive; a detector turned off forgets its state.
func (s *Set) Apply(cfg config.Detectors) error {
	if err := validate(cfg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(cfg)
	return nil
}

func (s *Set) applyLocked(cfg config.Detectors) {
	s.cfg = cfg
	s.on = s.on[:0]
	enabled := map[string]bool{
		NameEnumeration:        cfg.Enumeration.On(),
		NameCredentialStuffing: cfg.CredentialStuffing.On(),
		NameTokenSharing:       cfg.TokenSharing.On(),
		NameErrorRatio:         cfg.ErrorRatio.On(),
		NameExfiltration:       cfg.Exfiltration.On(),
		NameFirstSight:         cfg.FirstSight.On(),
	}
	for _, d := range s.all {
		if cfg.On() && enabled[d.name()] {
			d.configure(&s.cfg)
			s.on = append(s.on, d)
		} else {
			d.reset()
		}
	}
	s.allow = allowlist{principals: map[string]bool{}}
	for _, n := range cfg.Allowlist.Networks {
		if p, err := config.ParsePrefix(n); err == nil {
			s.allow.nets = append(s.allow.nets, p)
		}
	}
	for _, p := range cfg.Allowlist.Principals {
		s.allow.principals[p] = true
	}
}

// Active reports whether any detector is on.
func (s *Set) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.on) > 0
}

// Observe feeds one completed exchange to every detector that is on.
// Requests the denylist refused are skipped: their client is already
// blocked.
func (s *Set) Observe(o *observe.Observation) {
	if refusedByDenylist(o) {
		return
	}
	t := o.Time
	if t.IsZero() {
		t = s.svc.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &s.in // reused: Observe is serialised
	*in = input{now: secs(t), actor: actorOf(o)}
	if in.actor.valid() {
		in.key = s.actorKey(in.actor)
	}
	if o.Operation != nil {
		s.h.Reset()
		_, _ = s.h.WriteString(o.API)
		_ = s.h.WriteByte(0)
		_, _ = s.h.WriteString(o.Operation.ID)
		in.op = s.h.Sum64()
	}
	for _, d := range s.on {
		d.observe(o, in, s)
	}
	*in = input{} // keep no client name past the call
}

// input is what every detector needs of an observation, computed once.
type input struct {
	// now is the observation's time, in the detectors' seconds.
	now uint32
	// actor is the client, and key its hash (0 when there is none).
	actor actor
	key   uint64
	// op is the hash of the API and the operation id (0: undocumented).
	op uint64
}

// mix combines two keys into one (a SplitMix64 finalizer): the inputs are
// keyed hashes, so the result is as unpredictable.
func mix(a, b uint64) uint64 {
	x := a ^ (b * 0x9e3779b97f4a7c15)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// actorKey is the 64-bit key of an actor in the detectors' tables. The
// tables keep keys, never the clients' names: events and blocks name the
// client of the observation at hand. With a random seed per process, a
// client cannot choose a name that collides with another's.
func (s *Set) actorKey(a actor) uint64 {
	if a.principal != "" {
		return maphash.String(s.seed, a.principal)
	}
	return maphash.Comparable(s.seed, a.ip.Unmap()) ^ 0x9e3779b97f4a7c15 // apart from principals
}

// Keys returns how many keys each detector tracks, by name.
func (s *Set) Keys() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.all))
	for _, d := range s.all {
		out[d.name()] = d.keys()
	}
	return out
}

// Flush waits until the blocks requested so far are placed (or failed).
func (s *Set) Flush() { s.pending.Wait() }

// Close stops placing blocks once the queued ones are placed. Observe
// after Close still reports events but blocks nothing.
func (s *Set) Close() error {
	s.closeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.closeMu.Unlock()
	<-s.done
	return nil
}

// refusedByDenylist reports whether the denylist refused the request.
func refusedByDenylist(o *observe.Observation) bool {
	if !o.Blocked {
		return false
	}
	for i := range o.Decisions {
		if d := &o.Decisions[i]; d.Guard == "denylist" && d.Action == events.VerdictBlock {
			return true
		}
	}
	return false
}

// hash is the 64-bit hash of a string, with the Set's seed.
func (s *Set) hash(v string) uint64 { return maphash.String(s.seed, v) }

// actor is who a client-keyed detector tracks: the principal when the
// request authenticated, else the client address.
type actor struct {
	principal string
	ip        netip.Addr
}

func actorOf(o *observe.Observation) actor {
	if o.Principal != "" {
		return actor{principal: o.Principal}
	}
	return actor{ip: o.ClientIP}
}

// valid reports whether the actor names someone.
func (a actor) valid() bool { return a.principal != "" || a.ip.IsValid() }

// String is the actor for an event's detail.
func (a actor) String() string {
	if a.principal != "" {
		return "principal " + a.principal
	}
	return "address " + a.ip.String()
}

// targetOf is the block that stops an actor: its API key (when it
// authenticated with one whose id the header shows), its principal, or
// its address.
func targetOf(a actor, o *observe.Observation) blockTarget {
	if a.principal != "" {
		if o.AuthMethod == authn.MethodAPIKey {
			if v := o.RequestHeader["X-Api-Key"]; len(v) == 1 {
				if id, _, ok := authn.ParseAPIKey(v[0]); ok {
					return blockTarget{kind: denylist.KindKey, value: id}
				}
			}
		}
		return blockTarget{kind: denylist.KindPrincipal, value: a.principal}
	}
	if a.ip.IsValid() {
		return blockTarget{kind: denylist.KindIP, value: a.ip.Unmap().String()}
	}
	return blockTarget{}
}

// trigger is one detector finding.
type trigger struct {
	detector string // config name
	rule     string // detect.<detector>.<what>
	category string // OWASP API 2023 id
	detail   string // for the operator; never a secret
	target   blockTarget
	common   config.DetectorCommon
	severity string // overrides the action's severity when set
}

// fire reports a finding: an event, and a block when the detector's
// action is block and the target may be blocked.
func (s *Set) fire(o *observe.Observation, tr trigger) {
	ev := events.Event{Time: o.Time, Kind: events.KindDetector, RequestID: o.RequestID, API: o.API,
		Method: o.Method, Path: o.Path, Principal: o.Principal, Guard: "detect." + tr.detector, Rule: tr.rule,
		Category: tr.category, Verdict: events.VerdictObserve, Status: o.Status, Detail: tr.detail,
		Severity: severityLow}
	if ev.Time.IsZero() {
		ev.Time = s.svc.Now()
	}
	if o.ClientIP.IsValid() {
		ev.ClientIP = o.ClientIP.Unmap().String()
	}
	ev.Operation = "unmatched"
	if o.Operation != nil {
		ev.Operation = o.Operation.ID
	}
	switch tr.common.Action {
	case "alert", "block":
		ev.Severity = severityHigh
	}
	if tr.severity != "" && ev.Severity == severityLow {
		ev.Severity = tr.severity
	}
	if tr.common.Action == "block" {
		switch why := s.blockable(tr.target, o, ev.Time.Unix()); {
		case why != "":
			ev.Detail += "; not blocked: " + why
		default:
			ttl := tr.common.BlockTTL.D()
			now := ev.Time.UTC()
			b := store.Block{Kind: tr.target.kind, Value: tr.target.value, Reason: truncate(tr.rule+": "+tr.detail, 500),
				CreatedBy: "detector:" + tr.detector, Created: now, Expires: now.Add(ttl)}
			if why := s.enqueue(b, tr.target, ev); why == "" {
				s.recent[tr.target] = now.Add(ttl).Unix()
				ev.Verdict = events.VerdictBlock
				ev.Detail += "; blocking " + tr.target.kind + " " + tr.target.value + " for " + ttl.String()
			} else {
				ev.Detail += "; not blocked: " + why
			}
		}
	}
	s.svc.Emit(ev)
}

// blockable returns why target must not be blocked, or "".
func (s *Set) blockable(t blockTarget, o *observe.Observation, now int64) string {
	if t.kind == "" {
		return "nothing to block for this finding"
	}
	if t.kind == denylist.KindIP {
		a, err := netip.ParseAddr(t.value)
		if err != nil {
			return "no valid address"
		}
		for _, p := range s.allow.nets {
			if p.Contains(a) {
				return "the address is allowlisted"
			}
		}
	} else if s.allow.principals[t.value] || (o.Principal != "" && s.allow.principals[o.Principal]) {
		return "the principal is allowlisted"
	}
	if exp, ok := s.recent[t]; ok {
		if now < exp {
			return "already blocked"
		}
		delete(s.recent, t)
	}
	if len(s.recent) >= 10_000 { // bound: forget lapsed entries, else all
		for k, exp := range s.recent {
			if now >= exp {
				delete(s.recent, k)
			}
		}
		if len(s.recent) >= 10_000 {
			clear(s.recent)
		}
	}
	return ""
}

// enqueue hands a block to the blocker goroutine; it returns why it
// could not, or "".
func (s *Set) enqueue(b store.Block, t blockTarget, ev events.Event) string {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return "the detectors are shutting down"
	}
	s.pending.Add(1)
	select {
	case s.queue <- blockRequest{block: b, target: t, ev: ev}:
		return ""
	default:
		s.pending.Done()
		return "too many blocks waiting to be placed"
	}
}

// blocker places blocks through the denylist (store, Redis) off the
// observers' goroutine, so a slow store never delays the detectors.
func (s *Set) blocker() {
	defer close(s.done)
	for r := range s.queue {
		s.place(r)
		s.pending.Done()
	}
}

func (s *Set) place(r blockRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The block runs from now: the observation's time may lag.
	now := s.svc.Now().UTC()
	ttl := r.block.Expires.Sub(r.block.Created)
	r.block.Created, r.block.Expires = now, now.Add(ttl)
	b, err := denylist.Block(ctx, s.svc, r.block)
	if err != nil {
		s.mu.Lock() // a later finding may try again
		delete(s.recent, r.target)
		s.mu.Unlock()
		s.svc.Logger.Error("detector block failed", "detector", r.block.CreatedBy, "kind", r.block.Kind, "error", err)
		ev := r.ev
		ev.Time, ev.Verdict, ev.Severity = now, events.VerdictError, severityHigh
		ev.Rule = ev.Guard + ".block_failed"
		ev.Detail = "the block of " + r.block.Kind + " could not be placed: " + events.RedactText(err.Error(), 256)
		s.svc.Emit(ev)
		return
	}
	s.svc.Logger.Info("detector blocked a client", "detector", b.CreatedBy, "kind", b.Kind, "block", b.ID,
		"expires", b.Expires.Format(time.RFC3339))
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }
