package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/events"
)

// blockingStore wraps a Store; Append signals entered and waits for release.
type blockingStore struct {
	Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Append(ctx context.Context, evs []events.Event) error {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Store.Append(ctx, evs)
}

// failingStore fails every Append.
type failingStore struct{ Store }

func (failingStore) Append(context.Context, []events.Event) error { return errors.New("disk full") }

func count(t *testing.T, s Store) int {
	t.Helper()
	n, before := 0, int64(0)
	for {
		evs, err := s.Events(context.Background(), Filter{Before: before, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
		if len(evs) < MaxLimit {
			return n
		}
		before = evs[len(evs)-1].ID
	}
}

func closeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWriterConcurrentEnqueue(t *testing.T) {
	s := openTest(t)
	w := NewWriter(s, WriterOptions{QueueSize: 20000, FlushInterval: 10 * time.Millisecond})
	const goroutines, each = 20, 100
	var wg sync.WaitGroup
	var refused atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if !w.Enqueue(events.Event{Kind: events.KindGuard, Guard: "waf", Verdict: "block"}) {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(closeCtx(t)); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if refused.Load() != 0 {
		t.Fatalf("Enqueue refused %d events, want 0", refused.Load())
	}
	if got := count(t, s); got != goroutines*each {
		t.Errorf("stored %d events, want %d", got, goroutines*each)
	}
	st := w.Stats()
	if st.Enqueued != goroutines*each || st.Written != goroutines*each || st.Dropped != 0 || st.Lost != 0 {
		t.Errorf("Stats() = %+v, want all %d written", st, goroutines*each)
	}
}

func TestWriterDropsWhenFull(t *testing.T) {
	s := openTest(t)
	bs := &blockingStore{Store: s, entered: make(chan struct{}, 10), release: make(chan struct{})}
	var onDrop atomic.Int64
	w := NewWriter(bs, WriterOptions{QueueSize: 2, BatchSize: 1, OnDrop: func(n int) { onDrop.Add(int64(n)) }})
	e := events.Event{Kind: events.KindGuard}
	if !w.Enqueue(e) {
		t.Fatal("Enqueue(first) = false, want true")
	}
	<-bs.entered // the writer holds the first event and is blocked in Append
	for i := 0; i < 2; i++ {
		if !w.Enqueue(e) {
			t.Fatalf("Enqueue(%d) = false, want true (queue has room)", i+2)
		}
	}
	for i := 0; i < 3; i++ {
		if w.Enqueue(e) {
			t.Fatalf("Enqueue(full queue) = true, want false")
		}
	}
	if got := onDrop.Load(); got != 3 {
		t.Errorf("OnDrop total = %d, want 3", got)
	}
	close(bs.release)
	if err := w.Close(closeCtx(t)); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := count(t, s); got != 3 {
		t.Errorf("stored %d events, want 3", got)
	}
	if st := w.Stats(); st.Dropped != 3 || st.Written != 3 {
		t.Errorf("Stats() = %+v, want 3 dropped, 3 written", st)
	}
	if w.Enqueue(e) {
		t.Errorf("Enqueue(after Close) = true, want false")
	}
}

func TestWriterCloseFlushes(t *testing.T) {
	s := openTest(t)
	// A flush interval longer than the test: only Close can write.
	w := NewWriter(s, WriterOptions{FlushInterval: time.Hour, BatchSize: 1000})
	for i := 0; i < 700; i++ {
		w.Enqueue(events.Event{Kind: events.KindSystem, Verdict: "allow"})
	}
	if err := w.Close(closeCtx(t)); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := count(t, s); got != 700 {
		t.Errorf("after Close stored %d events, want 700", got)
	}
	if err := w.Close(closeCtx(t)); err != nil {
		t.Errorf("Close(again) = %v, want nil", err)
	}
}

func TestWriterFlushesByInterval(t *testing.T) {
	s := openTest(t)
	w := NewWriter(s, WriterOptions{FlushInterval: 20 * time.Millisecond})
	defer w.Close(closeCtx(t))
	w.Enqueue(events.Event{Kind: events.KindSystem})
	deadline := time.Now().Add(5 * time.Second)
	for count(t, s) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("event not written within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWriterCloseDeadline(t *testing.T) {
	s := openTest(t)
	bs := &blockingStore{Store: s, entered: make(chan struct{}, 10), release: make(chan struct{})}
	var lost atomic.Int64
	w := NewWriter(bs, WriterOptions{BatchSize: 1, OnError: func(_ error, n int) { lost.Add(int64(n)) }})
	w.Enqueue(events.Event{Kind: events.KindGuard})
	<-bs.entered
	w.Enqueue(events.Event{Kind: events.KindGuard})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close(expiring ctx) = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v, want bounded by its context", d)
	}
	<-w.done
	if st := w.Stats(); st.Lost != 2 || lost.Load() != 2 {
		t.Errorf("Stats().Lost = %d, OnError lost = %d, want 2, 2", st.Lost, lost.Load())
	}
}

func TestWriterStoreErrors(t *testing.T) {
	s := openTest(t)
	var errs, lost atomic.Int64
	w := NewWriter(failingStore{s}, WriterOptions{BatchSize: 5, OnError: func(_ error, n int) {
		errs.Add(1)
		lost.Add(int64(n))
	}})
	for i := 0; i < 12; i++ {
		if !w.Enqueue(events.Event{Kind: events.KindGuard}) {
			t.Fatal("Enqueue() = false, want true")
		}
	}
	if err := w.Close(closeCtx(t)); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if lost.Load() != 12 || errs.Load() < 3 {
		t.Errorf("OnError: %d calls losing %d events, want >= 3 calls losing 12", errs.Load(), lost.Load())
	}
}

func TestWriterPrunes(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Append(ctx, []events.Event{{Time: time.Now().Add(-48 * time.Hour), Kind: events.KindGuard}}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s, WriterOptions{Retention: Retention{MaxAge: 24 * time.Hour}, PruneInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().Pruned != 1 {
		if time.Now().After(deadline) {
			t.Fatal("old event not pruned within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.Close(closeCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// discardStore stores nothing, so BenchmarkEnqueue measures Enqueue alone.
type discardStore struct{ Store }

func (discardStore) Append(context.Context, []events.Event) error { return nil }

func BenchmarkEnqueue(b *testing.B) {
	s := openTest(b)
	w := NewWriter(discardStore{s}, WriterOptions{QueueSize: 1 << 16})
	defer w.Close(context.Background())
	e := events.Event{Time: time.Now(), Kind: events.KindGuard, Guard: "waf", Rule: "waf.942100", Category: "API8", Verdict: "block"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Enqueue(e)
		}
	})
}
