package normalize

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Why a listener: net/http resolves some ambiguous framings before the
// handler runs and leaves no trace of them in the *http.Request (Go 1.26,
// checked by TestGoAloneShapes):
//
//   - Content-Length with Transfer-Encoding: chunked: Content-Length is
//     deleted, the body is read as chunked.
//   - repeated identical Content-Length: collapsed into one value.
//   - obs-fold (a header line starting with SP or HTAB): joined into the
//     previous value with a space, for Transfer-Encoding too.
//   - bare LF line endings: accepted.
//   - Transfer-Encoding on HTTP/1.0: deleted, the body length is taken
//     from Content-Length or is zero.
//
// A front proxy that reads such a request differently is desynchronised
// from us (request smuggling). Listener wraps each connection with a small
// streaming scanner of the HTTP/1 request heads; it tracks request
// boundaries through Content-Length and chunked bodies exactly as net/http
// does, flags the connection at the first ambiguous head and stops
// scanning. Request then rejects every request served on a flagged
// connection (the flag is sticky: a pipelined request read together with a
// bad one is refused too, which is the fail-closed choice).

// Listener wraps l so that Request can see the HTTP/1 framing shapes that
// net/http hides from handlers. The server must also use ConnContext:
//
//	srv := &http.Server{Handler: h, ConnContext: normalize.ConnContext}
//	srv.Serve(normalize.Listener(ln))
//
// Wrap a plaintext listener only (the usual deployment behind a TLS
// terminating load balancer, which is where desynchronisation matters). A
// TLS listener's connections must stay *tls.Conn for net/http to do ALPN
// and HTTP/2, and a wrapper under TLS would see ciphertext: under TLS the
// scanner flags nothing and Request works on the parsed request alone.
// An HTTP/2 prior-knowledge connection (h2c) stops the scanner without a
// flag. The cost is one pass over the head bytes and a mutex per Read.
func Listener(l net.Listener) net.Listener {
	return &listener{Listener: l}
}

type listener struct {
	net.Listener
}

// Accept wraps the accepted connection.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c}, nil
}

// wireState is the per-connection verdict shared with handlers.
type wireState struct {
	flagged atomic.Pointer[Rejection] // rule template; never modified
	done    atomic.Bool               // scanner stopped
	mu      sync.Mutex
	sc      scanner
}

// wireConn is a net.Conn whose reads pass through a scanner.
type wireConn struct {
	net.Conn
	st wireState
}

// Read reads from the connection and scans what was read.
func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.st.done.Load() {
		c.st.mu.Lock()
		if rj := c.st.sc.feed(p[:n]); rj != nil {
			c.st.flagged.Store(rj)
		}
		if c.st.sc.st == sDone {
			c.st.done.Store(true)
		}
		c.st.mu.Unlock()
	}
	return n, err
}

// ReadFrom lets the server's response writer use sendfile/splice of the
// underlying connection.
func (c *wireConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the underlying connection when it supports it
// (net/http uses it for a graceful close after an error answer).
func (c *wireConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the wrapped connection.
func (c *wireConn) Unwrap() net.Conn { return c.Conn }

type wireKey struct{}

// ConnContext records a Listener connection in the connection context, so
// that Request can consult its wire verdict. Use it as
// http.Server.ConnContext, or call it from your own ConnContext. For a
// connection not made by Listener it returns ctx unchanged.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wireConn); ok {
		return context.WithValue(ctx, wireKey{}, &wc.st)
	}
	return ctx
}

func wireStateFrom(ctx context.Context) *wireState {
	ws, _ := ctx.Value(wireKey{}).(*wireState)
	return ws
}

// Scanner states.
const (
	sReqLine      uint8 = iota // request line
	sHdrStart                  // first byte of a header line, or the empty line
	sHdrName                   // header field name
	sHdrValue                  // header field value
	sBody                      // Content-Length body bytes
	sChunkSize                 // chunk size hex digits
	sChunkExt                  // after the size: whitespace and extensions
	sChunkData                 // chunk data bytes
	sChunkDataCR               // CR after chunk data
	sChunkDataLF               // LF after chunk data
	sTrailerStart              // first byte of a trailer line, or the empty line
	sTrailerLine               // rest of a trailer line
	sDone                      // stopped: flagged, or HTTP/2
)

// Header kinds.
const (
	kOther uint8 = iota
	kCL
	kTE
)

// Content-Length value parse states.
const (
	clLead uint8 = iota
	clDigits
	clTrail
)

// maxChunkHex is the number of hex digits net/http accepts in a chunk size.
const maxChunkHex = 16

// scanner is a streaming recognizer of HTTP/1 request heads and bodies. It
// keeps no buffer: every field it needs is a counter or a few bytes.
type scanner struct {
	st        uint8
	cr        bool // the previous byte was a CR inside a line
	lineLen   int
	spaces    int
	isPRI     bool // request line starts with "PRI "
	ver       [8]byte
	verLen    int
	name      [17]byte // enough for "transfer-encoding"
	nameLen   int
	kind      uint8
	clCount   int
	clState   uint8
	clBad     bool
	clVal     uint64
	teCount   int
	teBuf     [8]byte
	teLen     int
	teTrail   int // teLen before trailing whitespace
	teBad     bool
	remaining uint64
	hexDigits int
	extWS     bool // after the chunk size came whitespace, not ';'
}

// feed scans p and returns the rule template of the first ambiguity found,
// after which the scanner is in sDone and ignores further input.
func (s *scanner) feed(p []byte) *Rejection {
	for i := 0; i < len(p); {
		switch s.st {
		case sDone:
			return nil
		case sBody, sChunkData:
			n := uint64(len(p) - i)
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			i += int(n)
			if s.remaining == 0 {
				if s.st == sBody {
					s.reset()
				} else {
					s.st = sChunkDataCR
				}
			}
			continue
		}
		if s.st == sHdrValue && s.kind == kOther {
			// Fast path: an ordinary field value needs no inspection
			// (net/http itself refuses control bytes in values); jump to
			// the end of the line.
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				s.lineLen += len(p) - i
				s.cr = p[len(p)-1] == '\r'
				return nil
			}
			if j > 0 {
				s.lineLen += j
				s.cr = p[i+j-1] == '\r'
			}
			i += j // at the LF, handled by step below
		}
		if rj := s.step(p[i]); rj != nil {
			s.st = sDone
			return rj
		}
		i++
	}
	return nil
}

// reset prepares for the next request head.
func (s *scanner) reset() {
	*s = scanner{}
}

// step consumes one byte in a line-oriented state.
func (s *scanner) step(c byte) *Rejection {
	switch s.st {
	case sChunkDataCR:
		if c != '\r' {
			return ruleChunked
		}
		s.st = sChunkDataLF
		return nil
	case sChunkDataLF:
		if c != '\n' {
			return ruleChunked
		}
		s.st = sChunkSize
		s.remaining, s.hexDigits = 0, 0
		return nil
	}
	if c == '\r' {
		if s.cr {
			return ruleBareCR
		}
		s.cr = true
		return nil
	}
	if c == '\n' {
		if !s.cr {
			return ruleBareLF
		}
		s.cr = false
		return s.endLine()
	}
	if s.cr {
		return ruleBareCR
	}
	s.lineLen++
	switch s.st {
	case sReqLine:
		return s.reqLineByte(c)
	case sHdrStart:
		if c == ' ' || c == '\t' {
			return ruleObsFold
		}
		s.st = sHdrName
		s.nameLen = 0
		return s.nameByte(c)
	case sHdrName:
		return s.nameByte(c)
	case sHdrValue:
		return s.valueByte(c)
	case sChunkSize:
		if v, ok := hexVal(c); ok {
			s.hexDigits++
			if s.hexDigits > maxChunkHex {
				return ruleChunked
			}
			s.remaining = s.remaining<<4 | uint64(v)
			return nil
		}
		if s.hexDigits == 0 || (c != ';' && c != ' ' && c != '\t') {
			return ruleChunked
		}
		// net/http trims trailing whitespace, then cuts at ';': whitespace
		// may end the line but may not precede an extension.
		s.extWS = c != ';'
		s.st = sChunkExt
		return nil
	case sChunkExt:
		if c < 0x20 && c != '\t' || c == 0x7f || s.extWS && c != ' ' && c != '\t' {
			return ruleChunked
		}
		return nil
	case sTrailerStart:
		if c == ' ' || c == '\t' {
			return ruleObsFold
		}
		s.st = sTrailerLine
		return nil
	case sTrailerLine:
		if c < 0x20 && c != '\t' || c == 0x7f {
			return ruleWireCtl
		}
		return nil
	}
	return ruleMalformed
}

func (s *scanner) reqLineByte(c byte) *Rejection {
	if c < 0x20 || c == 0x7f {
		return ruleWireCtl
	}
	if c == ' ' {
		s.spaces++
		if s.spaces == 1 && s.lineLen == 4 && s.ver[0] == 'P' && s.ver[1] == 'R' && s.ver[2] == 'I' {
			s.isPRI = true
		}
		return nil
	}
	switch s.spaces {
	case 0: // method: remember the first 3 bytes to spot "PRI"
		if s.lineLen <= 3 {
			s.ver[s.lineLen-1] = c
		}
	case 2:
		if s.verLen < len(s.ver) {
			if s.verLen == 0 {
				s.ver = [8]byte{}
			}
			s.ver[s.verLen] = c
		}
		s.verLen++
	}
	return nil
}

func (s *scanner) nameByte(c byte) *Rejection {
	if c == ':' {
		if s.nameLen == 0 {
			return ruleWireName
		}
		s.kind = kOther
		switch {
		case s.nameLen == 14 && equalFoldBytes(s.name[:14], "content-length"):
			s.kind = kCL
			s.clCount++
			s.clState, s.clVal = clLead, 0
		case s.nameLen == 17 && equalFoldBytes(s.name[:17], "transfer-encoding"):
			s.kind = kTE
			s.teCount++
			s.teLen, s.teTrail = 0, 0
		}
		s.st = sHdrValue
		return nil
	}
	if !tchar[c] {
		return ruleWireName
	}
	if s.nameLen < len(s.name) {
		s.name[s.nameLen] = c
	}
	s.nameLen++
	return nil
}

func (s *scanner) valueByte(c byte) *Rejection {
	if c < 0x20 && c != '\t' || c == 0x7f {
		return ruleWireCtl
	}
	ows := c == ' ' || c == '\t'
	switch s.kind {
	case kCL:
		switch {
		case ows:
			if s.clState == clDigits {
				s.clState = clTrail
			}
		case c >= '0' && c <= '9' && s.clState != clTrail:
			s.clState = clDigits
			if s.clVal > 1<<60 {
				s.clBad = true
			}
			s.clVal = s.clVal*10 + uint64(c-'0')
		default:
			s.clBad = true
		}
	case kTE:
		if ows && s.teLen == 0 {
			return nil
		}
		if s.teLen >= len(s.teBuf) {
			s.teBad = true
			return nil
		}
		s.teBuf[s.teLen] = c
		s.teLen++
		if !ows {
			s.teTrail = s.teLen
		}
	}
	return nil
}

// endLine handles a CRLF.
func (s *scanner) endLine() *Rejection {
	empty := s.lineLen == 0
	s.lineLen = 0
	switch s.st {
	case sReqLine:
		if empty || s.spaces != 2 {
			return ruleMalformed
		}
		if s.isPRI && s.verLen == 8 && string(s.ver[:]) == "HTTP/2.0" {
			s.st = sDone // HTTP/2 connection preface: not HTTP/1 any more
			return nil
		}
		s.st = sHdrStart
	case sHdrStart:
		return s.endHead()
	case sHdrName:
		return ruleWireName // a line without a colon
	case sHdrValue:
		switch s.kind {
		case kCL:
			if s.clState == clLead {
				s.clBad = true // empty value
			}
		case kTE:
			if s.teTrail != 7 || !equalFoldBytes(s.teBuf[:7], "chunked") {
				s.teBad = true
			}
		}
		s.st = sHdrStart
	case sChunkSize, sChunkExt:
		if s.hexDigits == 0 {
			return ruleChunked
		}
		if s.remaining == 0 {
			s.st = sTrailerStart
			return nil
		}
		s.st = sChunkData
	case sTrailerStart:
		s.reset()
	case sTrailerLine:
		s.st = sTrailerStart
	default:
		return ruleMalformed
	}
	return nil
}

// endHead decides the framing of the body, as net/http does, or flags.
func (s *scanner) endHead() *Rejection {
	http10 := s.verLen == 8 && string(s.ver[:]) == "HTTP/1.0"
	switch {
	case s.teCount > 0 && s.clCount > 0:
		return ruleCLTE
	case s.clCount > 1:
		return ruleCLRepeated
	case s.clBad:
		return ruleCLInvalid
	case s.teCount > 1 || s.teBad:
		return ruleTEInvalid
	case s.teCount == 1 && http10:
		return ruleTEHTTP10
	case s.teCount == 1:
		s.st = sChunkSize
		s.remaining, s.hexDigits = 0, 0
	case s.clVal > 0:
		s.st = sBody
		s.remaining = s.clVal
	default:
		s.reset()
	}
	return nil
}

func hexVal(c byte) (byte, bool) {
	if !isHex(c) {
		return 0, false
	}
	return unhex(c), true
}

// equalFoldBytes compares b with the lower-case ASCII string s, ignoring
// ASCII case in b.
func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}
