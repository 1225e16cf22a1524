package dlp

import (
	"io"
	"sync"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Streaming: answers above max_buffer with over_limit: stream are scanned
// as text in chunks while they are copied to the client. Each chunk is
// scanned together with the last overlap bytes of the previous one, so a
// finding up to overlap bytes long is never split. Masks keep the length,
// so Content-Length stays right. Findings are reported in one event when
// the body is closed.

const (
	streamChunk   = 32 << 10
	streamOverlap = 8 << 10
)

type stream struct {
	g    *guard
	src  io.ReadCloser
	buf  []byte // scanned, not yet released (the overlap) + new data
	out  []byte // ready for the reader
	eof  bool
	err  error
	res  result
	ev   events.Event
	once sync.Once
}

func (g *guard) newStream(x *pipeline.Exchange, src io.ReadCloser) io.ReadCloser {
	ev := events.Event{Kind: events.KindGuard, RequestID: x.ID, API: x.API, Operation: x.OperationName(),
		Method: x.Request.Method, Path: x.Path, Guard: "dlp", Category: "API3", Verdict: events.VerdictObserve, Mode: string(pipeline.Enforce)}
	if x.ClientIP.IsValid() {
		ev.ClientIP = x.ClientIP.String()
	}
	if x.Principal != nil {
		ev.Principal = x.Principal.Subject
	}
	if g.monitor {
		ev.Mode = string(pipeline.Monitor)
	}
	return &stream{g: g, src: src, ev: ev}
}

func (s *stream) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.eof {
			if s.err != nil {
				return 0, s.err
			}
			return 0, io.EOF
		}
		s.fill()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// fill reads one chunk, scans the window and releases what can no longer
// be part of a finding that is not yet masked.
func (s *stream) fill() {
	start := len(s.buf)
	if cap(s.buf)-start < streamChunk {
		nb := make([]byte, start, start+streamChunk+streamOverlap)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := io.ReadFull(s.src, s.buf[start:start+streamChunk])
	s.buf = s.buf[:start+n]
	if err != nil {
		s.eof = true
		if err != io.EOF && err != io.ErrUnexpectedEOF {
			s.err = err
		}
	}
	cut := len(s.buf)
	if !s.eof {
		cut = max(0, len(s.buf)-streamOverlap)
	}
	spans := scan(nil, s.buf, s.g.enabled, 0)
	for _, sp := range spans {
		if sp.start >= cut {
			continue // found again, and reported, with the next chunk
		}
		a := s.g.acts[sp.kind]
		s.res.add(sp.kind, a, nil)
		if a >= actMask && !s.g.monitor {
			maskSpan(s.buf, sp)
		}
	}
	s.out = append([]byte(nil), s.buf[:cut]...)
	s.buf = append(s.buf[:0], s.buf[cut:]...)
	if s.eof {
		s.report()
	}
}

// report emits the stream's findings once.
func (s *stream) report() {
	s.once.Do(func() {
		if s.res.total == 0 {
			return
		}
		s.ev.Time = s.g.now()
		s.ev.Rule = "dlp." + s.res.worstK.String()
		s.ev.Detail = "streamed answer: " + describe(s.res)
		s.g.emit(s.ev)
	})
}

func (s *stream) Close() error {
	s.report()
	return s.src.Close()
}
