package normalize

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestWireH2C checks that an HTTP/2 prior-knowledge connection through
// Listener is not flagged: the scanner stops at the connection preface.
func TestWireH2C(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols:   &protos,
		ConnContext: ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rj := Request(r, Limits{}); rj != nil {
				w.Header().Set("X-Rule", rj.Rule)
				w.WriteHeader(rj.Status)
				return
			}
			_, _ = io.WriteString(w, r.Proto)
		}),
	}
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })

	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &cp}}
	defer client.CloseIdleConnections()
	for i := range 3 {
		resp, err := client.Post("http://"+ln.Addr().String()+"/a", "text/plain", strings.NewReader("Transfer-Encoding: chunked\r\n\r\n"))
		if err != nil {
			t.Fatalf("h2c request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "HTTP/2.0" {
			t.Fatalf("h2c request %d = %d %q (%s), want 200 HTTP/2.0", i, resp.StatusCode, body, resp.Header.Get("X-Rule"))
		}
	}
}

// TestScannerSplits feeds the wire table one byte at a time: a streaming
// scanner must not depend on how reads split the input.
func TestScannerSplits(t *testing.T) {
	for _, tc := range wireCases {
		whole := scanAll([]byte(tc.raw), len(tc.raw)+1)
		bytewise := scanAll([]byte(tc.raw), 1)
		if whole != bytewise {
			t.Errorf("scan(%q) whole = %q, byte by byte = %q", tc.name, whole, bytewise)
		}
	}
}

// scanAll feeds b to a fresh scanner in pieces of size n and returns the
// rule found ("" for none) and the final state.
func scanAll(b []byte, n int) string {
	var s scanner
	for len(b) > 0 {
		k := min(n, len(b))
		if rj := s.feed(b[:k]); rj != nil {
			return rj.Rule
		}
		b = b[k:]
	}
	return string(rune('A' + s.st))
}

func FuzzScanner(f *testing.F) {
	for _, tc := range wireCases {
		f.Add([]byte(tc.raw), uint8(7))
	}
	f.Fuzz(func(t *testing.T, raw []byte, split uint8) {
		n := int(split)%64 + 1
		whole := scanAll(raw, len(raw)+1)
		if got := scanAll(raw, n); got != whole {
			t.Fatalf("scan(%q) in pieces of %d = %q, whole = %q", raw, n, got, whole)
		}
	})
}

const benchHead = "GET /api/v1/accounts/101?expand=owner HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl\r\n" +
	"X-Request-Id: 4f1c2a9e-8d7b-4c3a-9f2e-1a2b3c4d5e6f\r\n" +
	"Connection: keep-alive\r\n\r\n"

// BenchmarkScanner measures the wire scanner per request head.
func BenchmarkScanner(b *testing.B) {
	head := []byte(benchHead)
	var s scanner
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		if rj := s.feed(head); rj != nil {
			b.Fatal(rj)
		}
	}
}

// BenchmarkListener measures a keep-alive request over loopback with and
// without the Listener wrapper: the difference is the wrapper's cost.
func BenchmarkListener(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		name := "plain"
		if wrap {
			name = "wrapped"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{ConnContext: ConnContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if Request(r, Limits{}) != nil {
					w.WriteHeader(400)
				}
			})}
			l := ln
			if wrap {
				l = Listener(ln)
			}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.WriteString(c, benchHead); err != nil {
					b.Fatal(err)
				}
				n, err := c.Read(buf)
				if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
					b.Fatalf("read %q: %v", buf[:n], err)
				}
			}
		})
	}
}
