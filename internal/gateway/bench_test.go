package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// The gateway's cost per request beyond a bare httputil.ReverseProxy with
// the same transport, both in-process against the same loopback upstream.
// Compare the two: go test -run x -bench 'Proxy' -benchmem ./internal/gateway

func benchUpstream(b *testing.B) *httptest.Server {
	body := []byte(`{"id":101,"owner_id":1,"balance":2500,"iban":"DE78370400440532013101","currency":"EUR"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func runProxyBench(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/v1/accounts/101", nil)
			req.RemoteAddr = "127.0.0.1:50000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			_, _ = io.Copy(io.Discard, rec.Body)
		}
	})
}

// benchConfig is a one-API config (admin off) in front of up.
func benchConfig(b *testing.B, up string) *config.Config {
	cfg, err := config.Parse([]byte("admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\""+up+"\"]}\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// bareProxy is a bare httputil.ReverseProxy with the gateway's transport
// settings for up, and pool as its BufferPool (nil: none).
func bareProxy(b *testing.B, up string, pool httputil.BufferPool) *httputil.ReverseProxy {
	target, _ := url.Parse(up)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  NewTransport(benchConfig(b, up).APIs[0].Upstream, nil),
		BufferPool: pool,
	}
}

func BenchmarkBareReverseProxy(b *testing.B) {
	up := benchUpstream(b)
	runProxyBench(b, bareProxy(b, up.URL, nil))
}

// BenchmarkBareReverseProxyPooled is the stricter baseline: the bare proxy
// with the same copy-buffer pool the gateway uses.
func BenchmarkBareReverseProxyPooled(b *testing.B) {
	up := benchUpstream(b)
	runProxyBench(b, bareProxy(b, up.URL, bufferPool{}))
}

func BenchmarkGatewayProxy(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(b, up.URL)
	g, err := New(&config.Loaded{Config: cfg}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	runProxyBench(b, g)
}

// BenchmarkGatewayProxyRecorded adds what production adds: the access log
// (to io.Discard) and the Prometheus metrics.
func BenchmarkGatewayProxyRecorded(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(b, up.URL)
	m := events.NewMetrics()
	rec := events.NewRecorder(events.RecorderOptions{AccessLog: io.Discard, Metrics: m})
	b.Cleanup(func() { _ = rec.Close() })
	g, err := New(&config.Loaded{Config: cfg}, Options{Recorder: rec, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	runProxyBench(b, g)
}
