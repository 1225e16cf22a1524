package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// Defaults of Options.
const (
	// DefaultReportInterval is how often drops and failed deliveries are
	// reported as system events, at most.
	DefaultReportInterval = time.Minute
	// DefaultCloseTimeout bounds the flush of exporters replaced by a
	// reload.
	DefaultCloseTimeout = 5 * time.Second
	// batchSize is the number of events handled between two flushes.
	batchSize = 256
)

// Options configure a Hub. Every field is optional.
type Options struct {
	// Registry receives the exporter metrics; nil keeps them unregistered.
	Registry prometheus.Registerer
	// Emit records the hub's own system events (drops, failures, refused
	// reloads); nil discards them. It is normally the Recorder's Event,
	// so these events reach the exporters too.
	Emit func(events.Event)
	// Logger receives delivery errors; nil discards them.
	Logger *slog.Logger
	// Version is apiguard's version, written in CEF, OCSF and User-Agent.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReportInterval is how often drops are reported, at most. Default 1m.
	ReportInterval time.Duration
	// CloseTimeout bounds the flush of exporters replaced by Apply.
	// Default 5s.
	CloseTimeout time.Duration
}

// Hub fans events out to the configured exporters. It implements
// events.Sink; Export never blocks. Apply replaces the exporters when the
// configuration changes. It is safe for concurrent use.
type Hub struct {
	opts    Options
	metrics *hubMetrics

	cur     atomic.Pointer[exporterSet]
	mu      sync.Mutex // serializes Apply and Close
	cfg     config.Alerts
	dir     string
	applied bool
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// exporterSet is one configuration's exporters.
type exporterSet struct {
	list []*exporter
}

// New starts a Hub without exporters; call Apply to configure it.
func New(opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Emit == nil {
		opts.Emit = func(events.Event) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReportInterval <= 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	h := &Hub{opts: opts, metrics: newHubMetrics(opts.Registry), stop: make(chan struct{}), done: make(chan struct{})}
	h.cur.Store(&exporterSet{})
	go h.report()
	return h
}

// Export hands e to every exporter whose filter keeps it. It never
// blocks: an exporter with a full queue drops the event and counts it.
func (h *Hub) Export(e events.Event) {
	for _, x := range h.cur.Load().list {
		if x.filter.match(&e) {
			x.enqueue(e)
		}
	}
}

// Names lists the exporters in use.
func (h *Hub) Names() []string {
	var out []string
	for _, x := range h.cur.Load().list {
		out = append(out, x.name)
	}
	return out
}

// Apply makes a (with relative paths resolved against dir) the exporters'
// configuration. An unchanged configuration keeps the running exporters
// (their connections, dedupe windows and rate limits). Otherwise the new
// exporters are built first — an error keeps the old ones — then swapped
// in; the old ones flush within the close timeout while the new ones
// queue, then the new ones start.
func (h *Hub) Apply(a config.Alerts, dir string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("alerts: hub closed")
	}
	old := h.cur.Load()
	if h.applied && dir == h.dir && reflect.DeepEqual(a, h.cfg) {
		return nil
	}
	next, err := h.build(a, dir)
	if err != nil {
		return err
	}
	h.cur.Store(next)
	h.cfg, h.dir, h.applied = a, dir, true
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.CloseTimeout)
	for _, x := range old.list {
		if err := x.close(ctx); err != nil {
			h.opts.Logger.Warn("alerts: closing an exporter", "exporter", x.name, "error", err)
		}
	}
	cancel()
	for _, x := range next.list {
		x.start()
	}
	return nil
}

// build creates the exporters of a without starting them.
func (h *Hub) build(a config.Alerts, dir string) (*exporterSet, error) {
	s := &exporterSet{}
	fail := func(err error) (*exporterSet, error) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, x := range s.list {
			_ = x.b.close(ctx)
		}
		return nil, err
	}
	if a.File.Path != "" {
		m := h.metrics.forExporter("file")
		b, err := newFile(a.File, dir, h.opts.Version, m, h.opts.Now)
		if err != nil {
			return fail(err)
		}
		s.list = append(s.list, newExporter("file", "file", newFilter(a.File.Filter), a.File.QueueSize, b, m, h))
	}
	for _, c := range a.Syslog {
		m := h.metrics.forExporter(c.Name)
		b, err := newSyslog(c, dir, h.opts.Version, m, h.opts.Now)
		if err != nil {
			return fail(err)
		}
		s.list = append(s.list, newExporter(c.Name, "syslog", newFilter(c.Filter), c.QueueSize, b, m, h))
	}
	for _, c := range a.Webhooks {
		m := h.metrics.forExporter(c.Name)
		b := newWebhook(c, h.opts.Version, m, h.opts.Now)
		s.list = append(s.list, newExporter(c.Name, "webhook", newFilter(c.Filter), c.QueueSize, b, m, h))
	}
	return s, nil
}

// Close flushes every exporter within ctx's deadline; events still queued
// after it are dropped and counted. Export after Close drops.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	close(h.stop)
	<-h.done
	set := h.cur.Load()
	var errs []error
	for _, x := range set.list {
		if err := x.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", x.name, err))
		}
	}
	h.reportOnce()
	return errors.Join(errs...)
}

// report emits the drops and failed deliveries of each exporter as one
// system event per exporter and interval, at most.
func (h *Hub) report() {
	defer close(h.done)
	t := time.NewTicker(h.opts.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.reportOnce()
		}
	}
}

func (h *Hub) reportOnce() {
	for _, x := range h.cur.Load().list {
		dropped := x.dropped.Swap(0)
		failed := x.m.failedN.Swap(0)
		if dropped == 0 && failed == 0 {
			continue
		}
		detail := fmt.Sprintf("alert exporter %s (%s): %d event(s) dropped (queue full or shutting down), %d delivery failure(s)", x.name, x.kind, dropped, failed)
		if err := x.lastError(); err != nil {
			detail += "; last error: " + err.Error()
		}
		h.opts.Logger.Warn("alerts: events lost", "exporter", x.name, "dropped", dropped, "failed", failed)
		h.opts.Emit(events.Event{Time: h.opts.Now(), Kind: events.KindSystem, Guard: "alerts", Rule: "alerts.events_lost",
			Verdict: events.VerdictError, Detail: detail})
	}
}

// backend is one exporter's destination. Its methods are called from the
// exporter's goroutine only.
type backend interface {
	// handle sends or writes one event; it counts what it sent and lost.
	handle(ctx context.Context, e *events.Event)
	// flush ends a batch (the file writes its buffer).
	flush(ctx context.Context)
	// tick runs every tickInterval (0: never).
	tick(ctx context.Context, now time.Time)
	tickInterval() time.Duration
	// lastError is the last delivery error, or nil after a success.
	lastError() error
	// close flushes and releases the destination.
	close(ctx context.Context) error
}

// exporter is a bounded queue and the goroutine that drains it into a
// backend.
type exporter struct {
	name, kind string
	filter     filter
	q          chan events.Event
	b          backend
	m          *exporterMetrics
	now        func() time.Time

	dropped atomic.Int64 // since the last report
	closing atomic.Bool
	errMu   sync.Mutex
	err     error

	ctx     context.Context
	cancel  context.CancelFunc
	stop    chan struct{}
	done    chan struct{}
	started atomic.Bool
	once    sync.Once
}

func newExporter(name, kind string, f filter, queue int, b backend, m *exporterMetrics, h *Hub) *exporter {
	ctx, cancel := context.WithCancel(context.Background())
	return &exporter{name: name, kind: kind, filter: f, q: make(chan events.Event, queue), b: b, m: m, now: h.opts.Now,
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
}

// enqueue queues e without blocking; a full queue drops it.
func (x *exporter) enqueue(e events.Event) {
	if x.closing.Load() {
		x.drop(1, "shutdown")
		return
	}
	select {
	case x.q <- e:
	default:
		x.drop(1, "queue_full")
	}
}

func (x *exporter) drop(n int, reason string) {
	x.dropped.Add(int64(n))
	if reason == "shutdown" {
		x.m.droppedShutdown.Add(float64(n))
	} else {
		x.m.droppedFull.Add(float64(n))
	}
}

func (x *exporter) lastError() error {
	x.errMu.Lock()
	defer x.errMu.Unlock()
	return x.err
}

func (x *exporter) setError(err error) {
	x.errMu.Lock()
	x.err = err
	x.errMu.Unlock()
}

// start runs the goroutine.
func (x *exporter) start() {
	if x.started.Swap(true) {
		return
	}
	go x.run()
}

func (x *exporter) run() {
	defer close(x.done)
	var tick <-chan time.Time
	if d := x.b.tickInterval(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case e := <-x.q:
			x.batch(e)
		case <-tick:
			x.b.tick(x.ctx, x.now())
			x.setError(x.b.lastError())
		case <-x.stop:
			x.drain()
			return
		}
	}
}

// batch handles e and whatever else is queued, up to batchSize, then
// flushes.
func (x *exporter) batch(e events.Event) {
	x.b.handle(x.ctx, &e)
	for i := 1; i < batchSize && x.next(); i++ {
	}
	x.b.flush(x.ctx)
	x.m.queue.Set(float64(len(x.q)))
	x.setError(x.b.lastError())
}

// next handles one queued event, or drops it once Close's deadline has
// passed, and reports whether there was one.
func (x *exporter) next() bool {
	select {
	case e := <-x.q:
		if x.ctx.Err() != nil {
			x.drop(1, "shutdown")
		} else {
			x.b.handle(x.ctx, &e)
		}
		return true
	default:
		return false
	}
}

// drain handles the queue until it is empty or the close deadline
// passed, then closes the backend.
func (x *exporter) drain() {
	for x.next() {
	}
	x.b.flush(x.ctx)
	_ = x.b.close(x.ctx)
	x.m.queue.Set(0)
	x.setError(x.b.lastError())
}

// close stops the exporter, flushing within ctx; what is still queued
// after ctx ends is dropped and counted.
func (x *exporter) close(ctx context.Context) error {
	var err error
	x.once.Do(func() {
		x.closing.Store(true)
		if !x.started.Load() {
			// Never started (a failed Apply or Close right after):
			// release the backend; queued events are lost.
			x.cancel()
			if n := len(x.q); n > 0 {
				x.drop(n, "shutdown")
			}
			err = x.b.close(x.ctx)
			return
		}
		close(x.stop)
		select {
		case <-x.done:
		case <-ctx.Done():
			x.cancel()
			<-x.done
			err = fmt.Errorf("flush deadline reached: %w", ctx.Err())
		}
		x.cancel()
	})
	return err
}

// hubMetrics are the exporters' Prometheus metrics.
type hubMetrics struct {
	sent       *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	retries    *prometheus.CounterVec
	queue      *prometheus.GaugeVec
}

func newHubMetrics(reg prometheus.Registerer) *hubMetrics {
	m := &hubMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_alerts_sent_total",
			Help: "Events delivered by an alert exporter (written, sent, or posted and acknowledged).",
		}, []string{"exporter"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_alerts_dropped_total",
			Help: "Events an alert exporter lost, by reason: queue_full, failed (delivery gave up), shutdown.",
		}, []string{"exporter", "reason"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_alerts_suppressed_total",
			Help: "Webhook alerts folded into another by dedupe or held back by the rate limit (summarized).",
		}, []string{"exporter", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_alerts_retries_total",
			Help: "Delivery attempts repeated after a failure (webhook retries, syslog reconnections).",
		}, []string{"exporter"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiguard_alerts_queue_length",
			Help: "Events waiting in an alert exporter's queue, after its last batch.",
		}, []string{"exporter"}),
	}
	if reg != nil {
		m.sent = register(reg, m.sent)
		m.dropped = register(reg, m.dropped)
		m.suppressed = register(reg, m.suppressed)
		m.retries = register(reg, m.retries)
		m.queue = register(reg, m.queue)
	}
	return m
}

// register registers c, or returns the collector already registered
// under its name (a second Hub on the same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// exporterMetrics are one exporter's series.
type exporterMetrics struct {
	sent             prometheus.Counter
	droppedFull      prometheus.Counter
	droppedShutdown  prometheus.Counter
	droppedFailed    prometheus.Counter
	suppressedDedupe prometheus.Counter
	suppressedRate   prometheus.Counter
	retries          prometheus.Counter
	queue            prometheus.Gauge
	failedN          atomic.Int64 // failures since the last report
}

func (m *hubMetrics) forExporter(name string) *exporterMetrics {
	return &exporterMetrics{
		sent:             m.sent.WithLabelValues(name),
		droppedFull:      m.dropped.WithLabelValues(name, "queue_full"),
		droppedShutdown:  m.dropped.WithLabelValues(name, "shutdown"),
		droppedFailed:    m.dropped.WithLabelValues(name, "failed"),
		suppressedDedupe: m.suppressed.WithLabelValues(name, "dedupe"),
		suppressedRate:   m.suppressed.WithLabelValues(name, "rate_limit"),
		retries:          m.retries.WithLabelValues(name),
		queue:            m.queue.WithLabelValues(name),
	}
}

// failed counts n events whose delivery gave up.
func (m *exporterMetrics) failed(n int) {
	m.droppedFailed.Add(float64(n))
	m.failedN.Add(int64(n))
}
