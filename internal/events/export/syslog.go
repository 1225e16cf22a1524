package export

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// Reconnection backoff of the stream transports.
const (
	syslogMinBackoff = 100 * time.Millisecond
	syslogMaxBackoff = 30 * time.Second
)

// syslogMessage holds what a syslog exporter needs to frame messages.
type syslogMessage struct {
	facility int
	hostname string
	appName  string
	procID   string
	format   string // cef or json
	max      int
	version  string
	seq      uint32
}

// appendRFC5424 appends one RFC 5424 message (without transport framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [meta sequenceId="n"] MSG
//
// MSG is the CEF or JSON payload, sent as MSG-ANY (no BOM: most SIEM
// parsers do not expect one). A message longer than m.max is shortened:
// the event's detail and path are cut first, then the payload itself (on
// a character boundary, never inside a CEF escape).
func (m *syslogMessage) appendRFC5424(dst []byte, e *events.Event) []byte {
	m.seq++
	if m.seq == 0 || m.seq > 2147483647 {
		m.seq = 1
	}
	start := len(dst)
	dst = m.appendOnce(dst, e)
	if len(dst)-start <= m.max {
		return dst
	}
	c := *e
	c.Detail = cut(c.Detail, 128)
	c.Path = cut(c.Path, 256)
	dst = m.appendOnce(dst[:start], &c)
	if len(dst)-start <= m.max {
		return dst
	}
	return dst[:start+cutPoint(dst[start:], m.max)]
}

func (m *syslogMessage) appendOnce(dst []byte, e *events.Event) []byte {
	pri := m.facility*8 + syslogSeverity(SeverityOf(e))
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(pri), 10)
	dst = append(dst, ">1 "...)
	dst = e.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
	dst = append(dst, ' ')
	dst = append(dst, m.hostname...)
	dst = append(dst, ' ')
	dst = append(dst, m.appName...)
	dst = append(dst, ' ')
	dst = append(dst, m.procID...)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, string(e.Kind), 32)
	dst = append(dst, ` [meta sequenceId="`...)
	dst = strconv.AppendUint(dst, uint64(m.seq), 10)
	dst = append(dst, `"] `...)
	if m.format == "json" {
		return appendJSON(dst, e)
	}
	return AppendCEF(dst, e, m.version)
}

// appendHeaderField appends s as an RFC 5424 header field: printable
// ASCII without spaces, at most max bytes; "-" when empty.
func appendHeaderField(dst []byte, s string, max int) []byte {
	n := 0
	for i := 0; i < len(s) && n < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			dst = append(dst, c)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, '-')
	}
	return dst
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cutPoint returns where to cut b to at most n bytes: on a character
// boundary, and not after an odd run of backslashes (a CEF escape would
// lose its second half).
func cutPoint(b []byte, n int) int {
	if len(b) <= n {
		return len(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	bs := 0
	for i := n - 1; i >= 0 && b[i] == '\\'; i-- {
		bs++
	}
	if bs%2 == 1 {
		n--
	}
	return n
}

// syslogBackend sends events to one syslog receiver.
type syslogBackend struct {
	name         string
	network      string // udp, tcp or tls
	addr         string
	tlsConf      *tls.Config
	dialTimeout  time.Duration
	writeTimeout time.Duration
	msg          syslogMessage
	m            *exporterMetrics
	now          func() time.Time

	conn     net.Conn
	backoff  time.Duration
	nextDial time.Time
	buf      []byte
	frame    []byte
	lastErr  error
}

func newSyslog(c config.AlertSyslog, dir, version string, m *exporterMetrics, now func() time.Time) (*syslogBackend, error) {
	host := c.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "-"
		}
		host = string(appendHeaderField(nil, h, 255))
	}
	b := &syslogBackend{
		name: c.Name, network: c.Network, addr: c.Address,
		dialTimeout: c.DialTimeout.D(), writeTimeout: c.WriteTimeout.D(),
		msg: syslogMessage{facility: config.SyslogFacilities[c.Facility], hostname: host, appName: c.AppName,
			procID: strconv.Itoa(os.Getpid()), format: c.Format, max: int(c.MaxMessageBytes), version: version},
		m: m, now: now, backoff: syslogMinBackoff,
	}
	if c.Network == "tls" {
		tc, err := clientTLS(c.TLS, c.Address, dir)
		if err != nil {
			return nil, fmt.Errorf("alerts.syslog %s: %w", c.Name, err)
		}
		b.tlsConf = tc
	}
	return b, nil
}

// clientTLS builds the TLS client config of a receiver.
func clientTLS(c config.AlertTLS, addr, dir string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	resolve := func(p string) string { return resolvePath(dir, p) }
	if c.CAFile != "" {
		pem, err := os.ReadFile(resolve(c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.ca_file: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(resolve(c.CertFile), resolve(c.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// resolvePath resolves p against the config file's directory.
func resolvePath(dir, p string) string {
	if p == "" || dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// handle sends one event. On a stream transport it reconnects with
// backoff until the message is written or ctx ends (the queue absorbs
// events meanwhile, and drops when full). UDP is fire and forget.
func (b *syslogBackend) handle(ctx context.Context, e *events.Event) {
	b.buf = b.msg.appendRFC5424(b.buf[:0], e)
	frame := b.buf
	if b.network != "udp" {
		// RFC 6587 octet counting: "<length> <message>".
		b.frame = strconv.AppendInt(b.frame[:0], int64(len(b.buf)), 10)
		b.frame = append(b.frame, ' ')
		b.frame = append(b.frame, b.buf...)
		frame = b.frame
	}
	for {
		err := b.write(ctx, frame)
		if err == nil {
			b.m.sent.Inc()
			b.lastErr = nil
			return
		}
		b.lastErr = err
		if b.network == "udp" || ctx.Err() != nil {
			b.m.failed(1)
			return
		}
		b.m.retries.Inc()
	}
}

// write sends one frame, dialing first when needed.
func (b *syslogBackend) write(ctx context.Context, frame []byte) error {
	if b.conn == nil {
		if wait := b.nextDial.Sub(b.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := b.dial(ctx); err != nil {
			b.nextDial = b.now().Add(b.backoff)
			b.backoff = min(b.backoff*2, syslogMaxBackoff)
			return err
		}
	} else if b.network != "udp" && peerClosed(b.conn) {
		b.drop()
		return b.write(ctx, frame)
	}
	_ = b.conn.SetWriteDeadline(b.now().Add(b.writeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = b.conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err := b.conn.Write(frame)
	stop()
	if err != nil {
		if b.network != "udp" {
			b.drop()
			b.nextDial = b.now().Add(b.backoff)
			b.backoff = min(b.backoff*2, syslogMaxBackoff)
		}
		return fmt.Errorf("writing to %s: %w", b.addr, err)
	}
	b.backoff = syslogMinBackoff
	return nil
}

func (b *syslogBackend) dial(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, b.dialTimeout)
	defer cancel()
	var (
		c   net.Conn
		err error
	)
	switch b.network {
	case "tls":
		d := &tls.Dialer{Config: b.tlsConf}
		c, err = d.DialContext(dctx, "tcp", b.addr)
	default:
		var d net.Dialer
		c, err = d.DialContext(dctx, b.network, b.addr)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", b.addr, err)
	}
	b.conn = c
	return nil
}

// peerClosed reports whether the receiver closed a stream connection: a
// read that does not wait answers EOF (or an error) instead of a timeout.
// It catches most half-closed connections before a message is lost in
// them.
func peerClosed(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Unix(1, 0))
	var one [1]byte
	_, err := c.Read(one[:])
	_ = c.SetReadDeadline(time.Time{})
	if err == nil {
		return false // the receiver sent something; syslog receivers do not, but the connection lives
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // EOF or a reset: the receiver is gone
}

func (b *syslogBackend) drop() {
	if b.conn != nil {
		_ = b.conn.Close()
		b.conn = nil
	}
}

func (b *syslogBackend) flush(context.Context)           {}
func (b *syslogBackend) tick(context.Context, time.Time) {}
func (b *syslogBackend) tickInterval() time.Duration     { return 0 }
func (b *syslogBackend) lastError() error                { return b.lastErr }
func (b *syslogBackend) close(context.Context) error     { b.drop(); return nil }
