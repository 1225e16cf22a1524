// Package gateway is apiguard's gateway: it owns the listener, normalizes
// every request, routes it to an API, runs the API's guard pipeline, and
// proxies it upstream. Configuration generations are swapped atomically on
// reload, so no request fails during one.
package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/normalize"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Recorder receives the access record of every request and every
// security event. events.Recorder implements it.
type Recorder interface {
	Access(a *events.Access)
	Event(e events.Event)
}

// Metrics receives the counts the gateway itself produces.
// events.Metrics implements it.
type Metrics interface {
	UpstreamError(api, upstream, kind string)
	ConfigReload(ok bool)
	InFlight(delta int)
}

// Options are the gateway's collaborators. Zero fields get defaults.
type Options struct {
	// Logger is apiguard's own log. Default: discard.
	Logger *slog.Logger
	// Recorder gets access records and events. Default: discard.
	Recorder Recorder
	// Metrics gets gateway counts. Default: discard.
	Metrics Metrics
	// SpecLoader loads an API's spec; ref is the config's spec value and
	// dir the config's directory. Default: openapi.Load of dir/ref.
	SpecLoader func(ref, dir string) (*openapi.Spec, error)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Services are shared with guards across reloads. Default: services
	// with no Redis, no store and no admin routes.
	Services *pipeline.Services
	// Observers receives a copy of every completed exchange for the
	// inventory and the anomaly detectors; nil (or a Hub without
	// observers) turns it off.
	Observers *observe.Hub
}

// Gateway is the protecting reverse proxy.
type Gateway struct {
	opts     Options
	state    atomic.Pointer[state]
	ids      *requestIDs
	errorLog *log.Logger
	reloadMu sync.Mutex
	draining sync.WaitGroup
}

// New builds a gateway for cfg. It fails, naming the field, when the config
// cannot be used (a spec or certificate that does not load, a guard that
// refuses its section).
func New(cfg *config.Loaded, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recorder == nil {
		opts.Recorder = nopRecorder{}
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	if opts.SpecLoader == nil {
		opts.SpecLoader = func(ref, dir string) (*openapi.Spec, error) {
			return openapi.Load(resolvePath(dir, ref))
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Services == nil {
		opts.Services = pipeline.NewServices(pipeline.Services{Now: opts.Now, Logger: opts.Logger, Emit: opts.Recorder.Event})
	}
	g := &Gateway{
		opts:     opts,
		ids:      newRequestIDs(),
		errorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	if opts.Services.Subrequest == nil {
		opts.Services.Subrequest = g.Subrequest
	}
	st, warnings, err := g.buildState(cfg)
	if err != nil {
		return nil, err
	}
	g.state.Store(st)
	for _, w := range warnings {
		g.event(w)
	}
	return g, nil
}

// Check builds everything a config needs without serving it, for
// `apiguard config validate`.
func Check(cfg *config.Loaded, opts Options) error {
	g, err := New(cfg, opts)
	if err != nil {
		return err
	}
	g.state.Load().close()
	return nil
}

// Config returns the configuration in use.
func (g *Gateway) Config() *config.Loaded { return g.state.Load().cfg }

// Reload builds a new configuration generation and swaps it in. When cfg
// is invalid the old generation keeps serving, an event is raised and the
// error returned. Listener settings (server.listen, TLS on or off, admin)
// need a restart; a change to them is reported and otherwise ignored.
func (g *Gateway) Reload(cfg *config.Loaded) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.state.Load()
	st, warnings, err := g.buildState(cfg)
	if err != nil {
		g.opts.Metrics.ConfigReload(false)
		g.event(events.Event{Kind: events.KindConfig, Guard: "gateway", Rule: "config.reload_refused", Verdict: events.VerdictError,
			Detail: "invalid configuration refused, the previous one keeps serving: " + firstLines(err.Error(), 5)})
		return err
	}
	var restart []string
	if cfg.Server.Listen != old.cfg.Server.Listen {
		restart = append(restart, "server.listen")
	}
	if st.tls.enabled != old.tls.enabled {
		restart = append(restart, "server.tls")
	}
	if cfg.Admin.Listen != old.cfg.Admin.Listen || cfg.Admin.Token != old.cfg.Admin.Token {
		restart = append(restart, "admin")
	}
	if cfg.Store != old.cfg.Store || cfg.DataDir != old.cfg.DataDir || cfg.Log != old.cfg.Log {
		restart = append(restart, "store/log")
	}
	g.state.Store(st)
	g.opts.Metrics.ConfigReload(true)
	detail := fmt.Sprintf("configuration reloaded: %d APIs", len(st.apis))
	if len(restart) > 0 {
		detail += "; changes to " + strings.Join(restart, ", ") + " take effect after a restart"
	}
	g.event(events.Event{Kind: events.KindConfig, Guard: "gateway", Rule: "config.reloaded", Verdict: events.VerdictAllow, Detail: detail})
	for _, w := range warnings {
		g.event(w)
	}
	g.retire(old)
	return nil
}

// retire closes a replaced state once the requests that started on it
// are done (bounded by the shutdown timeout).
func (g *Gateway) retire(old *state) {
	g.draining.Add(1)
	go func() {
		defer g.draining.Done()
		deadline := time.Now().Add(old.cfg.Server.Timeouts.Shutdown.D())
		time.Sleep(100 * time.Millisecond) // let requests that loaded old register
		for old.inflight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		old.close()
	}()
}

// Close releases the current configuration generation's resources.
func (g *Gateway) Close() {
	g.draining.Wait()
	g.state.Load().close()
}

// NewServer returns the http.Server for the gateway listener, with the
// config's timeouts and limits, and TLS when configured.
func (g *Gateway) NewServer() *http.Server {
	st := g.state.Load()
	c := st.cfg.Server
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: c.Timeouts.ReadHeader.D(),
		ReadTimeout:       c.Timeouts.Read.D(),
		WriteTimeout:      c.Timeouts.Write.D(),
		IdleTimeout:       c.Timeouts.Idle.D(),
		MaxHeaderBytes:    int(c.MaxHeaderBytes),
		ErrorLog:          g.errorLog,
		ConnContext:       normalize.ConnContext,
	}
	if st.tls.enabled {
		base := st.tls.config
		srv.TLSConfig = &tls.Config{
			MinVersion: base.MinVersion,
			NextProtos: base.NextProtos,
			// Certificates and client CAs follow reloads.
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				if cur := g.state.Load().tls.config; cur != nil {
					return cur, nil
				}
				return base, nil
			},
		}
		if c.TLS.DisableHTTP2 {
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		}
	}
	return srv
}

// TLSEnabled reports whether the gateway listener terminates TLS.
func (g *Gateway) TLSEnabled() bool { return g.state.Load().tls.enabled }

// Serve serves the gateway on ln until srv is shut down, with TLS when
// configured.
func (g *Gateway) Serve(srv *http.Server, ln net.Listener) error {
	var err error
	if g.TLSEnabled() {
		// The connection must stay a *tls.Conn for HTTP/2, so the wire
		// scanner cannot sit below TLS; see docs/hardening.md.
		err = srv.ServeTLS(ln, "", "")
	} else {
		// The wire scanner sees request-head shapes net/http erases
		// (Content-Length beside Transfer-Encoding, obs-fold, bare LF).
		err = srv.Serve(normalize.Listener(ln))
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (g *Gateway) event(e events.Event) {
	if e.Time.IsZero() {
		e.Time = g.opts.Now()
	}
	g.opts.Recorder.Event(e)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "; ")
}

type nopRecorder struct{}

func (nopRecorder) Access(*events.Access) {}
func (nopRecorder) Event(events.Event)    {}

type nopMetrics struct{}

func (nopMetrics) UpstreamError(string, string, string) {}
func (nopMetrics) ConfigReload(bool)                    {}
func (nopMetrics) InFlight(int)                         {}
