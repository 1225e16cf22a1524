package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/events"
)

// Writer defaults.
const (
	DefaultQueueSize     = 10000
	DefaultBatchSize     = 256
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultPruneInterval = time.Minute
	// writeTimeout bounds one batch insert or one prune.
	writeTimeout = 30 * time.Second
)

// WriterOptions configure a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// QueueSize is the number of events waiting for the store; default 10000.
	QueueSize int
	// BatchSize is the most events written in one transaction; default 256.
	BatchSize int
	// FlushInterval is the longest an event waits before being written;
	// default 200ms.
	FlushInterval time.Duration
	// Retention is applied every PruneInterval (see Retention's defaults).
	Retention Retention
	// PruneInterval is how often old events are pruned; default 1m.
	PruneInterval time.Duration
	// OnDrop, when set, is called with 1 for every event Enqueue refuses
	// (queue full or Writer closed). Enqueue also returns false then, so a
	// caller that counts refusals itself (events.Recorder does) leaves it nil.
	OnDrop func(n int)
	// OnError, when set, is called for each failed store operation with
	// the number of events it lost (0 for a failed prune); wire it to
	// events.Metrics.StoreError.
	OnError func(err error, lost int)
	// Logger receives store errors; nil discards them.
	Logger *slog.Logger
}

// WriterStats are a Writer's counters since it started.
type WriterStats struct {
	// Enqueued is the number of events accepted by Enqueue.
	Enqueued int64
	// Dropped is the number of events Enqueue refused.
	Dropped int64
	// Written is the number of events stored.
	Written int64
	// Lost is the number of accepted events that failed to be stored.
	Lost int64
	// Errors is the number of failed store operations.
	Errors int64
	// Pruned is the number of events deleted by retention.
	Pruned int64
}

// Writer takes events from the request path and writes them to a Store in
// batches, from one goroutine. Enqueue never blocks; when the queue is full
// events are dropped and counted. It is safe for concurrent use.
type Writer struct {
	s    Store
	opts WriterOptions
	ch   chan events.Event

	mu     sync.RWMutex // guards closed against Enqueue racing Close
	closed bool

	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context // cancelled when Close's context ends
	cancel context.CancelFunc

	enqueued, dropped, written, lost, errs, pruned atomic.Int64
}

// NewWriter starts a Writer on s. Close it to flush; closing the Writer
// does not close s.
func NewWriter(s Store, opts WriterOptions) *Writer {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		s:      s,
		opts:   opts,
		ch:     make(chan events.Event, opts.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	go w.run()
	return w
}

// Enqueue queues e for storage. It never blocks: it returns false, and
// calls OnDrop(1), when the queue is full or the Writer is closed.
func (w *Writer) Enqueue(e events.Event) bool {
	w.mu.RLock()
	if !w.closed {
		select {
		case w.ch <- e:
			w.mu.RUnlock()
			w.enqueued.Add(1)
			return true
		default:
		}
	}
	w.mu.RUnlock()
	w.dropped.Add(1)
	if w.opts.OnDrop != nil {
		w.opts.OnDrop(1)
	}
	return false
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Enqueued: w.enqueued.Load(),
		Dropped:  w.dropped.Load(),
		Written:  w.written.Load(),
		Lost:     w.lost.Load(),
		Errors:   w.errs.Load(),
		Pruned:   w.pruned.Load(),
	}
}

// Close stops accepting events, writes those queued and stops the Writer.
// When ctx ends first, the write in progress is cancelled, the events still
// queued are counted as lost, and Close returns ctx's error without waiting
// further.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		w.cancel()
		return nil
	case <-ctx.Done():
		w.cancel()
		return fmt.Errorf("closing event writer: %w", ctx.Err())
	}
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]events.Event, 0, w.opts.BatchSize)
	flush := time.NewTicker(w.opts.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(w.opts.PruneInterval)
	defer prune.Stop()
	w.prune()
	for {
		select {
		case e := <-w.ch:
			batch = append(batch, e)
			if len(batch) >= w.opts.BatchSize {
				batch = w.write(batch)
			}
		case <-flush.C:
			batch = w.write(batch)
		case <-prune.C:
			batch = w.write(batch)
			w.prune()
		case <-w.stop:
			// Enqueue can no longer add: drain what is queued.
			for {
				select {
				case e := <-w.ch:
					batch = append(batch, e)
					if len(batch) >= w.opts.BatchSize {
						batch = w.write(batch)
					}
				default:
					w.write(batch)
					return
				}
			}
		}
	}
}

// write stores batch and returns it emptied for reuse.
func (w *Writer) write(batch []events.Event) []events.Event {
	if len(batch) == 0 {
		return batch
	}
	err := w.ctx.Err()
	if err == nil {
		ctx, cancel := context.WithTimeout(w.ctx, writeTimeout)
		err = w.s.Append(ctx, batch)
		cancel()
	}
	if err != nil {
		w.fail(err, len(batch))
	} else {
		w.written.Add(int64(len(batch)))
	}
	clear(batch) // drop references to the strings
	return batch[:0]
}

func (w *Writer) prune() {
	if w.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, writeTimeout)
	defer cancel()
	n, err := w.s.Prune(ctx, w.opts.Retention)
	w.pruned.Add(n)
	if err != nil {
		w.fail(err, 0)
	}
}

func (w *Writer) fail(err error, lost int) {
	w.errs.Add(1)
	w.lost.Add(int64(lost))
	w.opts.Logger.Error("event store", slog.Int("events_lost", lost), slog.Any("error", err))
	if w.opts.OnError != nil {
		w.opts.OnError(err, lost)
	}
}
