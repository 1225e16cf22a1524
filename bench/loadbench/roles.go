package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/gateway"
)

// upstreamBody is the fixed JSON answer of the upstream role: about 300
// bytes, the size of a typical small API response.
var upstreamBody = []byte(`{"id":42,"type":"account","owner":{"id":7,"name":"Alice Example","email":"alice@example.com"},` +
	`"balance":{"amount":"1234.56","currency":"EUR"},"status":"active","created_at":"2024-01-15T09:30:00Z",` +
	`"updated_at":"2024-06-01T12:00:00Z","links":{"self":"/v1/accounts/42",` +
	`"transactions":"/v1/accounts/42/transactions"}}` + "\n")

// runRole runs a helper role (a server the bench measures) when args name
// one, and reports whether they did.
func runRole(args []string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	switch args[0] {
	case "upstream":
		return true, runUpstream(args[1:])
	case "bareproxy":
		return true, runBareProxy(args[1:])
	case "coraza":
		return true, runCoraza(args[1:])
	}
	return false, nil
}

// runUpstream serves upstreamBody to any request until SIGINT or SIGTERM;
// with -replay, the recorded answers of a file for their method and path.
func runUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	replay := fs.String("replay", "", "JSON file of recorded answers (see replayAnswer) served for their method and path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	answers := map[string]replayAnswer{}
	if *replay != "" {
		b, err := os.ReadFile(*replay)
		if err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		var list []replayAnswer
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("upstream: %s: %w", *replay, err)
		}
		for _, a := range list {
			answers[a.Method+" "+a.Path] = a
		}
	}
	return serveUntilSignal(*listen, upstreamHandler(answers))
}

// replayAnswer is an answer recorded from a real server, replayed by the
// upstream role for Method and Path.
type replayAnswer struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// upstreamHandler answers the recorded answer for the request's method and
// path, and upstreamBody to anything else.
func upstreamHandler(answers map[string]replayAnswer) http.Handler {
	length := strconv.Itoa(len(upstreamBody))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read a request body whole, as an application would.
		_, _ = io.Copy(io.Discard, r.Body)
		hdr := w.Header()
		if a, ok := answers[r.Method+" "+r.URL.Path]; ok {
			hdr["Content-Type"] = []string{a.ContentType}
			hdr["Content-Length"] = []string{strconv.Itoa(len(a.Body))}
			w.WriteHeader(a.Status)
			_, _ = io.WriteString(w, a.Body)
			return
		}
		hdr["Content-Type"] = []string{"application/json"}
		hdr["Content-Length"] = []string{length}
		_, _ = w.Write(upstreamBody)
	})
}

// runBareProxy serves a bare httputil.ReverseProxy in front of -upstream,
// with the transport apiguard builds for an API with default upstream
// settings. It is the baseline apiguard's pass-through is compared with.
func runBareProxy(args []string) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := fs.String("upstream", "", "upstream URL")
	pooled := fs.Bool("pool", false, "recycle copy buffers with a BufferPool, as apiguard does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	proxy, err := newBareProxy(*upstream)
	if err != nil {
		return err
	}
	if *pooled {
		proxy.BufferPool = &copyBufferPool{}
	}
	return serveUntilSignal(*listen, proxy)
}

// runCoraza serves the plain Coraza + CRS middleware around a bare
// ReverseProxy to -upstream: the Go peer apiguard's WAF is compared with.
func runCoraza(args []string) error {
	fs := flag.NewFlagSet("coraza", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := fs.String("upstream", "", "upstream URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := newCorazaMiddleware(*upstream)
	if err != nil {
		return err
	}
	return serveUntilSignal(*listen, h)
}

// newBareProxy returns the bare-proxy baseline for upstream.
func newBareProxy(upstream string) (*httputil.ReverseProxy, error) {
	target, err := url.Parse(upstream)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("bareproxy: -upstream %q: must be an absolute URL", upstream)
	}
	settings, err := defaultUpstream(upstream)
	if err != nil {
		return nil, err
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: gateway.NewTransport(settings, nil),
	}, nil
}

// copyBufferPool recycles 32 KiB copy buffers: the stricter baseline, since
// apiguard's proxy does the same and a ReverseProxy without it allocates a
// buffer per response.
type copyBufferPool struct{ p sync.Pool }

func (c *copyBufferPool) Get() []byte {
	if b, ok := c.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (c *copyBufferPool) Put(b []byte) { c.p.Put(&b) }

// defaultUpstream returns the upstream settings apiguard uses by default
// for an API proxying to upstream, by parsing a one-API config.
func defaultUpstream(upstream string) (config.Upstream, error) {
	doc := fmt.Sprintf("apis:\n  - name: bench\n    upstream:\n      urls: [%q]\n", upstream)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		return config.Upstream{}, fmt.Errorf("bareproxy: default upstream settings: %w", err)
	}
	return cfg.APIs[0].Upstream, nil
}

// serveUntilSignal serves h on addr until SIGINT or SIGTERM.
func serveUntilSignal(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
