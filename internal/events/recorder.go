package events

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// detailMax bounds an event's Detail in the log.
const detailMax = 1024

// Enqueuer takes events for storage without blocking. It returns false
// when it dropped the event. *store.Writer implements it.
type Enqueuer interface {
	Enqueue(Event) bool
}

// Sink takes security events for export (SIEM, alerts) without blocking.
// *export.Hub implements it.
type Sink interface {
	Export(Event)
}

// RecorderOptions configure a Recorder. Every field is optional.
type RecorderOptions struct {
	// AccessLog receives one JSON line per request; nil turns it off.
	AccessLog io.Writer
	// Metrics counts requests and events; nil turns metrics off.
	Metrics *Metrics
	// Store receives security events; nil turns storage off.
	Store Enqueuer
	// Logger receives security events (never access lines); nil discards.
	Logger *slog.Logger
	// Sink receives every security event, redacted, after the store;
	// nil turns export off.
	Sink Sink
}

// Recorder fans requests and security events out to the access log, the
// metrics, the logger and the store. It is safe for concurrent use.
type Recorder struct {
	metrics *Metrics
	store   Enqueuer
	logger  *slog.Logger
	sink    Sink

	out *BufferedWriter // the access log, in batches; nil when it is off

	sampler observeSampler
}

// accessScratch is the pooled per-call state of Access.
type accessScratch struct {
	line  []byte
	query []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &accessScratch{line: make([]byte, 0, 1024), query: make([]byte, 0, 256)}
}}

// NewRecorder starts a Recorder; Close it to flush the access log.
func NewRecorder(o RecorderOptions) *Recorder {
	r := &Recorder{
		metrics: o.Metrics,
		store:   o.Store,
		logger:  o.Logger,
		sink:    o.Sink,
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if o.AccessLog != nil {
		r.out = NewBufferedWriter(o.AccessLog, func(err error, lost int) {
			r.logger.Error("writing access log", slog.Int("bytes_lost", lost), slog.Any("error", err))
		})
	}
	return r
}

// Access records one completed request: one access-log line and the
// request metrics. It does not block on I/O except when the buffer is full.
func (r *Recorder) Access(a *Access) {
	if r.metrics != nil {
		r.metrics.request(a)
	}
	if r.out == nil {
		return
	}
	s := scratchPool.Get().(*accessScratch)
	s.line, s.query = appendAccess(s.line[:0], a, s.query[:0])
	_, _ = r.out.Write(s.line)
	if cap(s.line) <= 64<<10 && cap(s.query) <= 64<<10 {
		scratchPool.Put(s)
	}
}

// Event records one security event: a log line (warn for blocks and guard
// failures, info otherwise), the event metrics, the store and the sink.
func (r *Recorder) Event(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Detail = RedactText(e.Detail, detailMax)
	if r.metrics != nil {
		r.metrics.event(&e)
	}
	ok, folded := r.sampler.admit(&e)
	if !ok {
		return // counted; folded into the next event of its kind
	}
	if folded > 0 {
		e.Detail += foldedNote(folded, time.Duration(r.sampler.every.Load()))
	}
	level := slog.LevelInfo
	if e.Verdict == VerdictBlock || e.Verdict == VerdictError || e.Severity == "high" {
		level = slog.LevelWarn
	}
	if r.logger.Enabled(context.Background(), level) {
		r.logger.LogAttrs(context.Background(), level, "security event",
			slog.String("kind", string(e.Kind)),
			slog.String("verdict", e.Verdict),
			slog.String("request_id", e.RequestID),
			slog.String("api", e.API),
			slog.String("operation", e.Operation),
			slog.String("method", e.Method),
			slog.String("path", e.Path),
			slog.String("client_ip", e.ClientIP),
			slog.String("principal", e.Principal),
			slog.String("guard", e.Guard),
			slog.String("rule", e.Rule),
			slog.String("category", e.Category),
			slog.String("mode", e.Mode),
			slog.Int("status", e.Status),
			slog.Duration("latency", e.Latency),
			slog.String("detail", e.Detail),
			slog.String("severity", e.Severity),
		)
	}
	if r.store != nil && !r.store.Enqueue(e) && r.metrics != nil {
		r.metrics.EventsDropped(1)
	}
	if r.sink != nil {
		r.sink.Export(e)
	}
}

// SetObserveInterval keeps guards' "observe" security events (detections
// that let the request through) to one per API, operation, guard and rule
// per interval; 0 records every one. Blocks, errors and events of other
// kinds (anomaly detectors, config, system) are always recorded.
// Safe to call at any time (configuration reloads).
func (r *Recorder) SetObserveInterval(d time.Duration) { r.sampler.every.Store(int64(d)) }

// Flush writes the buffered access-log lines now.
func (r *Recorder) Flush() error {
	if r.out == nil {
		return nil
	}
	return r.out.Flush()
}

// Close stops the access log's periodic flush and writes what is
// buffered. It does not close the access-log writer, the logger or the
// store. Access after Close still works; its lines are written when the
// buffer fills or on Flush.
func (r *Recorder) Close() error {
	if r.out == nil {
		return nil
	}
	return r.out.Close()
}
