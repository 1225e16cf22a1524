package export

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// alertsConfig parses an alerts section the way apiguard does (defaults,
// validation) inside a minimal config.
func alertsConfig(t testing.TB, section string) config.Alerts {
	t.Helper()
	doc := "apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\nalerts:\n" + section
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config.Parse(alerts %s) error = %v", section, err)
	}
	return cfg.Alerts
}

// syslogListener is a syslog receiver in the test process: it parses
// RFC 5424 messages, one per UDP datagram or octet-counted on TCP/TLS.
type syslogListener struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	msgs []syslogFrame
	errs []error
	conn chan net.Conn // accepted stream connections
	got  chan struct{}
}

func (l *syslogListener) add(raw string) {
	f, err := parseRFC5424(raw)
	l.mu.Lock()
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%w in %q", err, raw))
	} else {
		l.msgs = append(l.msgs, f)
	}
	l.mu.Unlock()
	select {
	case l.got <- struct{}{}:
	default:
	}
}

// wait returns once n messages arrived; it fails the test after 10s.
func (l *syslogListener) wait(n int) []syslogFrame {
	l.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		msgs, errs := append([]syslogFrame(nil), l.msgs...), append([]error(nil), l.errs...)
		l.mu.Unlock()
		for _, err := range errs {
			l.t.Errorf("syslog listener: %v", err)
		}
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-l.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			l.t.Fatalf("syslog listener got %d messages, want %d", len(msgs), n)
		}
	}
}

func udpListener(t *testing.T) *syslogListener {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	l := &syslogListener{t: t, addr: pc.LocalAddr().String(), got: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			l.add(string(buf[:n]))
		}
	}()
	return l
}

// streamListener accepts TCP (or TLS when tc is set) connections and
// reads octet-counted frames (RFC 6587).
func streamListener(t *testing.T, tc *tls.Config) *syslogListener {
	var ln net.Listener
	var err error
	if tc != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tc)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l := &syslogListener{t: t, addr: ln.Addr().String(), got: make(chan struct{}, 1), conn: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.conn <- c
			go l.readFrames(c)
		}
	}()
	return l
}

func (l *syslogListener) readFrames(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		n, err := readOctetCount(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				l.mu.Lock()
				l.errs = append(l.errs, err)
				l.mu.Unlock()
			}
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		l.add(string(buf))
	}
}

// readOctetCount reads "<digits> " and returns the length.
func readOctetCount(r *bufio.Reader) (int, error) {
	s, err := r.ReadString(' ')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, " "))
	if err != nil || n < 1 || n > 1<<20 || s[0] == '0' {
		return 0, fmt.Errorf("bad octet count %q", s)
	}
	return n, nil
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written to files.
type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string // client certificate
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, server bool) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames = []string{"syslog.test"}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	p := &testPKI{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := leaf(2, true)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, false)
	cKeyDER, _ := x509.MarshalECPrivateKey(cKey)
	p.certFile = write("client.pem", "CERTIFICATE", cDER)
	p.keyFile = write("client-key.pem", "EC PRIVATE KEY", cKeyDER)
	return p
}

// blocked is a blocked request from a client.
func blocked(i int) events.Event {
	e := sample()
	e.ClientIP = fmt.Sprintf("198.51.100.%d", i%250+1)
	e.Detail = fmt.Sprintf("attempt %d: a=b|c\\d\nline two", i)
	return e
}

func TestSyslogTransports(t *testing.T) {
	pki := newPKI(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	tests := []struct {
		name     string
		listener func(t *testing.T) *syslogListener
		section  func(addr string) string
	}{
		{"udp", udpListener, func(addr string) string {
			return fmt.Sprintf("  syslog: [{address: %q, facility: auth, app_name: gw, hostname: edge-1}]\n", addr)
		}},
		{"tcp", func(t *testing.T) *syslogListener { return streamListener(t, nil) }, func(addr string) string {
			return fmt.Sprintf("  syslog: [{address: %q, network: tcp, facility: auth, app_name: gw, hostname: edge-1}]\n", addr)
		}},
		{"tls", func(t *testing.T) *syslogListener { return streamListener(t, serverTLS) }, func(addr string) string {
			return fmt.Sprintf("  syslog: [{address: %q, network: tls, facility: auth, app_name: gw, hostname: edge-1, tls: {ca_file: %q, server_name: syslog.test, cert_file: %q, key_file: %q}}]\n",
				addr, pki.caFile, pki.certFile, pki.keyFile)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.listener(t)
			h := New(Options{Version: "9.9.9"})
			if err := h.Apply(alertsConfig(t, tt.section(l.addr)), ""); err != nil {
				t.Fatalf("Apply() error = %v", err)
			}
			const n = 20
			for i := range n {
				h.Export(blocked(i))
			}
			msgs := l.wait(n)
			seen := map[string]bool{}
			for i, m := range msgs[:n] {
				if m.pri != 4*8+4 || m.hostname != "edge-1" || m.appName != "gw" || m.msgID != "guard" || m.sdID != "meta" {
					t.Errorf("message %d header = pri %d host %s app %s msgid %s sd %s; want 36 edge-1 gw guard meta", i, m.pri, m.hostname, m.appName, m.msgID, m.sdID)
				}
				r, err := parseCEF(m.msg)
				if err != nil {
					t.Fatalf("message %d: parseCEF(%q) error = %v", i, m.msg, err)
				}
				if r.header[3] != "9.9.9" || r.header[4] != "authz.object_owner" || r.header[6] != "6" {
					t.Errorf("message %d CEF header = %q, want version 9.9.9, rule, severity 6", i, r.header)
				}
				seen[r.ext["msg"]] = true
			}
			for i := range n {
				if want := blocked(i).Detail; !seen[want] {
					t.Errorf("no message with msg %q (CEF escaping lost it)", want)
				}
			}
			if err := h.Close(t.Context()); err != nil {
				t.Errorf("Close() error = %v", err)
			}
		})
	}
}

// TestSyslogReconnect closes the receiver's side of the TCP connection:
// the exporter notices, reconnects and keeps sending.
func TestSyslogReconnect(t *testing.T) {
	l := streamListener(t, nil)
	h := New(Options{})
	defer h.Close(t.Context())
	if err := h.Apply(alertsConfig(t, fmt.Sprintf("  syslog: [{address: %q, network: tcp, format: json}]\n", l.addr)), ""); err != nil {
		t.Fatal(err)
	}
	h.Export(blocked(1))
	l.wait(1)
	first := <-l.conn
	first.Close()
	// Messages sent after the close reach the receiver on a new connection.
	deadline := time.Now().Add(10 * time.Second)
	for i := 2; ; i++ {
		h.Export(blocked(i))
		select {
		case <-l.conn:
			msgs := l.wait(2)
			if !strings.Contains(msgs[len(msgs)-1].msg, `"kind":"guard"`) {
				t.Errorf("JSON payload = %s, want the event", msgs[len(msgs)-1].msg)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not reconnect")
		}
	}
}

// TestSyslogTLSRefusesUnknownCA checks that the receiver's certificate is
// verified: without the CA, nothing is delivered and the failure counts.
func TestSyslogTLSRefusesUnknownCA(t *testing.T) {
	pki := newPKI(t)
	l := streamListener(t, &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12})
	var mu sync.Mutex
	var reported []events.Event
	h := New(Options{ReportInterval: 50 * time.Millisecond, Emit: func(e events.Event) { mu.Lock(); reported = append(reported, e); mu.Unlock() }})
	if err := h.Apply(alertsConfig(t, fmt.Sprintf("  syslog: [{name: siem, address: %q, network: tls, tls: {server_name: syslog.test}}]\n", l.addr)), ""); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.Export(blocked(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = h.Close(ctx)
	l.mu.Lock()
	got := len(l.msgs)
	l.mu.Unlock()
	if got != 0 {
		t.Errorf("receiver got %d messages through an unverified TLS connection, want 0", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) == 0 || reported[len(reported)-1].Rule != "alerts.events_lost" || !strings.Contains(reported[len(reported)-1].Detail, "siem") {
		t.Errorf("reported = %+v, want an alerts.events_lost event naming siem", reported)
	}
}
