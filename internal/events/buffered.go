package events

import (
	"io"
	"sync"
	"time"
)

// Buffering of log lines: written every flushInterval, and as soon as the
// buffer holds flushSize bytes.
const (
	flushInterval = 250 * time.Millisecond
	flushSize     = 64 << 10
)

// BufferedWriter collects log lines (each Write one or more whole lines)
// and writes them to out in batches: every 250 ms, and as soon as 64 KiB
// are waiting. One write system call per request, or per security event
// in a flood of them, costs more than the rest of the line's work; in
// batches the log costs next to nothing. Close writes what is left. A
// failed write drops the batch (a log must never grow without bound) and
// is reported through onError once per distinct error. It is safe for
// concurrent use.
type BufferedWriter struct {
	out     io.Writer
	onError func(err error, lost int)
	mu      sync.Mutex
	buf     []byte
	werr    error // last write error, reported once per change
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewBufferedWriter starts a BufferedWriter in front of out; onError, when
// not nil, hears of failed writes.
func NewBufferedWriter(out io.Writer, onError func(err error, lost int)) *BufferedWriter {
	b := &BufferedWriter{out: out, onError: onError, buf: make([]byte, 0, flushSize+4096),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// Write buffers p, writing the batch when it is full. It never fails: a
// failed batch is reported, not returned to the line's writer.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= flushSize {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

// Flush writes the buffered lines now.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *BufferedWriter) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	n := len(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		if b.onError != nil && (b.werr == nil || b.werr.Error() != err.Error()) {
			b.onError(err, n)
		}
		b.werr = err
		return err
	}
	b.werr = nil
	return nil
}

func (b *BufferedWriter) loop() {
	defer close(b.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Close stops the periodic flush and writes what is buffered. It does not
// close out. Writes after Close still work; they are written when the
// buffer fills or on Flush.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
