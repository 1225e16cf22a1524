// Package observe hands every completed exchange to the observers that
// learn from traffic — the API inventory and the anomaly detectors — off
// the request path: the gateway copies what they need into an
// Observation and submits it to a Hub, whose bounded queue never makes a
// request wait (a full queue drops the observation and counts the drop).
package observe

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Decision is one guard verdict recorded on the exchange, as observers see it.
type Decision struct {
	// Guard is the step that decided, such as "waf" or "dlp".
	Guard string
	// Rule is the stable rule id, such as "dlp.ssn".
	Rule string
	// Category is the OWASP API Security Top 10 (2023) id.
	Category string
	// Action is block, observe, answer or error (a guard failure).
	Action string
}

// Observation is one completed exchange, copied off the request path.
// Observers must treat it as read-only and must not keep the pointer
// after Observe returns (the Hub recycles it); the strings, byte slices
// and Header they read from it may be kept.
type Observation struct {
	// Time is when the request was received.
	Time time.Time
	// RequestID is the request's id.
	RequestID string
	// API is the name of the API the request was routed to; empty when
	// no API matched.
	API string
	// Spec is the API's spec when it has one: the operations that are
	// documented, deprecated, never called.
	Spec *openapi.Spec
	// Operation is the spec operation matched, or nil (undocumented).
	Operation *openapi.Operation
	// PathParams are the values of the matched template's parameters.
	PathParams []openapi.Param
	// MethodMismatch is true when the path is documented but not for
	// this method.
	MethodMismatch bool
	// Host is the request's Host, without a port.
	Host string
	// Method is the request method.
	Method string
	// Path is the canonical path as received (with the API's prefix).
	Path string
	// RoutePath is the path matched against the spec (Path without a
	// stripped prefix).
	RoutePath string
	// RawQuery is the request's raw query string. It may hold secrets:
	// never log it.
	RawQuery string
	// RequestHeader is the client's request header. It holds credentials:
	// never log it. Read-only.
	RequestHeader http.Header
	// RequestContentType is the request's media type, as sent.
	RequestContentType string
	// RequestBody is the request body when a guard read it (nil
	// otherwise), at most MaxBody bytes. It may hold passwords: never log it.
	RequestBody []byte
	// Status is the status answered to the client.
	Status int
	// ResponseContentType is the answer's media type.
	ResponseContentType string
	// ResponseBody is the upstream's answer body when a response guard
	// read it (nil otherwise), at most MaxBody bytes, after masking.
	ResponseBody []byte
	// BytesIn and BytesOut are the request and answer body sizes.
	BytesIn  int64
	BytesOut int64
	// Latency is the time from receiving the request to the end of the answer.
	Latency time.Duration
	// ClientIP is the client's address.
	ClientIP netip.Addr
	// Principal is the authenticated caller's subject; empty when anonymous.
	Principal string
	// AuthMethod is how the caller authenticated (jwt, apikey, mtls, hmac,
	// introspection); empty when anonymous.
	AuthMethod string
	// ClientID is the OAuth client or API key name, when known.
	ClientID string
	// Credential is a fingerprint of the credential the caller presented
	// (the token id when the token has one, else the first 16 bytes of
	// the SHA-256 of the Authorization or API key header, in hex); never
	// the credential itself. Empty when none was presented.
	Credential string
	// Upstreamed is true when the request reached the upstream.
	Upstreamed bool
	// Blocked is true when apiguard refused the request or withheld the
	// answer.
	Blocked bool
	// Decisions are the guard verdicts recorded on the exchange.
	Decisions []Decision

	// rawCredential is the header value the fingerprint is computed from,
	// off the request path; cleared before observers run.
	rawCredential string
}

// MaxBody is the largest request or answer body copied into an Observation.
const MaxBody = 64 << 10

// SetRawCredential records the credential the caller presented (the
// value of the Authorization or API key header); the Hub turns it into
// the Credential fingerprint off the request path and forgets it. A
// token id (jti), when known, is a better fingerprint: set Credential
// instead.
func (o *Observation) SetRawCredential(v string) { o.rawCredential = v }

// Fingerprint is the Credential of a raw credential: the first 16 bytes
// of its SHA-256, in hex.
func Fingerprint(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:16])
}

func (o *Observation) reset() {
	params, decisions := o.PathParams[:0], o.Decisions[:0]
	clear(o.PathParams[:cap(o.PathParams)])
	clear(o.Decisions[:cap(o.Decisions)])
	*o = Observation{PathParams: params, Decisions: decisions}
}

// Observer learns from observations. Observe runs on the Hub's goroutine,
// one observation at a time; it must not block for long (it delays every
// other observer) and must not keep o.
type Observer interface {
	Observe(o *Observation)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(o *Observation)

// Observe calls f(o).
func (f ObserverFunc) Observe(o *Observation) { f(o) }

// HubOptions configure a Hub.
type HubOptions struct {
	// QueueSize bounds the observations waiting for the observers.
	// Default 8192.
	QueueSize int
	// Logger receives a warning when observations start being dropped.
	Logger *slog.Logger
	// OnDrop, when set, is called (on the submitting goroutine) for
	// every dropped observation, for example to count it in a metric.
	OnDrop func()
}

// Hub queues observations and fans them out to the observers on one
// goroutine. Submit never blocks. It is safe for concurrent use.
type Hub struct {
	queue  chan *Observation
	opts   HubOptions
	mu     sync.Mutex                 // guards base and named
	obs    atomic.Pointer[[]Observer] // what deliver runs: base, then named; read without a lock
	base   []Observer                 // set by SetObservers
	named  []namedObserver
	drops  atomic.Uint64
	seen   atomic.Uint64
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	pool   sync.Pool
	once   sync.Once
}

// NewHub starts a Hub; Close stops it.
func NewHub(o HubOptions) *Hub {
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{queue: make(chan *Observation, o.QueueSize), opts: o, stop: make(chan struct{}), done: make(chan struct{})}
	h.pool.New = func() any {
		return &Observation{PathParams: make([]openapi.Param, 0, 4), Decisions: make([]Decision, 0, 4)}
	}
	go h.run()
	return h
}

// SetObservers replaces the observers (on a config reload). Observations
// already queued go to the new set. Observers added by AddObserver are
// kept.
func (h *Hub) SetObservers(obs ...Observer) {
	h.mu.Lock()
	h.base = append([]Observer(nil), obs...)
	h.rebuild()
	h.mu.Unlock()
}

// namedObserver is an observer added by AddObserver.
type namedObserver struct {
	name string
	o    Observer
}

// AddObserver adds o under name, replacing the observer already added
// under that name (keeping its place in the order); a nil o removes it.
// Independent owners (the inventory, the detectors) each manage their own
// name, including on a config reload, without knowing about each other.
// Named observers run after those of SetObservers, in the order their
// names were first added.
func (h *Hub) AddObserver(name string, o Observer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.named {
		if h.named[i].name == name {
			if o == nil {
				h.named = append(h.named[:i:i], h.named[i+1:]...)
			} else {
				h.named[i].o = o
			}
			h.rebuild()
			return
		}
	}
	if o != nil {
		h.named = append(h.named, namedObserver{name: name, o: o})
		h.rebuild()
	}
}

// rebuild recomputes the delivery list; h.mu is held. The list is never
// modified in place, so readers use the one they loaded.
func (h *Hub) rebuild() {
	obs := make([]Observer, 0, len(h.base)+len(h.named))
	obs = append(obs, h.base...)
	for _, n := range h.named {
		obs = append(obs, n.o)
	}
	h.obs.Store(&obs)
}

// observers is the current delivery list.
func (h *Hub) observers() []Observer {
	if p := h.obs.Load(); p != nil {
		return *p
	}
	return nil
}

// Active reports whether any observer is set: when none is, the gateway
// skips building observations.
func (h *Hub) Active() bool {
	return h != nil && len(h.observers()) > 0
}

// Get returns an empty Observation to fill and Submit.
func (h *Hub) Get() *Observation { return h.pool.Get().(*Observation) }

// Submit queues o for the observers and reports whether it was queued;
// when the queue is full (or the Hub closed) o is dropped and counted.
// The caller must not touch o after Submit.
func (h *Hub) Submit(o *Observation) bool {
	if h.closed.Load() {
		h.put(o)
		return false
	}
	select {
	case h.queue <- o:
		return true
	default:
		if n := h.drops.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th, ... drop
			h.opts.Logger.Warn("observers fall behind: observation dropped", "dropped", n)
		}
		if h.opts.OnDrop != nil {
			h.opts.OnDrop()
		}
		h.put(o)
		return false
	}
}

// Dropped is how many observations were dropped because the queue was full.
func (h *Hub) Dropped() uint64 { return h.drops.Load() }

// Observed is how many observations the observers have seen.
func (h *Hub) Observed() uint64 { return h.seen.Load() }

// Close stops taking observations, lets the observers see the queued
// ones, and returns when they have or after d, whichever comes first.
func (h *Hub) Close(d time.Duration) {
	h.once.Do(func() {
		h.closed.Store(true)
		close(h.stop)
	})
	select {
	case <-h.done:
	case <-time.After(d):
	}
}

func (h *Hub) put(o *Observation) {
	o.reset()
	h.pool.Put(o)
}

func (h *Hub) run() {
	defer close(h.done)
	// The queue is drained on a tick rather than on every observation: a
	// receiver parked on the channel would be woken by every request (a
	// scheduler round trip on the request path); a sender to a buffered
	// channel with nobody waiting costs only the copy.
	tick := time.NewTicker(drainInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			h.drain()
		case <-h.stop:
			h.drain() // what was queued before Close still goes out
			return
		}
	}
}

// drainInterval is how often the observers get the queued observations.
// The queue must hold what arrives in one interval (QueueSize / interval:
// 8192 every 5 ms is 1.6 million exchanges a second).
const drainInterval = 5 * time.Millisecond

// drain delivers every queued observation.
func (h *Hub) drain() {
	for {
		select {
		case o := <-h.queue:
			h.deliver(o)
		default:
			return
		}
	}
}

func (h *Hub) deliver(o *Observation) {
	if o.rawCredential != "" {
		if o.Credential == "" {
			o.Credential = Fingerprint(o.rawCredential)
		}
		o.rawCredential = ""
	}
	for _, ob := range h.observers() {
		h.safeObserve(ob, o)
	}
	h.seen.Add(1)
	h.put(o)
}

// safeObserve runs one observer; a panicking observer is logged and the
// others still run.
func (h *Hub) safeObserve(ob Observer, o *Observation) {
	defer func() {
		if r := recover(); r != nil {
			h.opts.Logger.Error("observer panicked", "panic", r)
		}
	}()
	ob.Observe(o)
}
