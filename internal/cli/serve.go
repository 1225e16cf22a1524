package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/admin"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/egress"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/events/export"
	"github.com/apiguard/apiguard/internal/gateway"
	"github.com/apiguard/apiguard/internal/guard/schema"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/detect"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// serveFlags are the serve command's flags.
type serveFlags struct {
	config      string
	upstream    string
	spec        string
	listen      string
	adminListen string
	dataDir     string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (with no flags: protecting the bundled demobank API)",
		Long: `Run the gateway.

  apiguard serve                                         protect the bundled demobank, started in-process
  apiguard serve --upstream http://127.0.0.1:3000 --spec openapi.yaml
  apiguard serve --config apiguard.yaml

The config file is reloaded when it changes and on SIGHUP; an invalid one is
refused with an event and the previous one keeps serving. SIGTERM and SIGINT
stop accepting, drain in-flight requests and flush events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (YAML)")
	fl.StringVar(&f.upstream, "upstream", "", "protect this upstream URL without a config file")
	fl.StringVar(&f.spec, "spec", "", "OpenAPI 3.0/3.1 file of the upstream (with --upstream)")
	fl.StringVar(&f.listen, "listen", "", "gateway address (overrides server.listen)")
	fl.StringVar(&f.adminListen, "admin-listen", "", `admin address (overrides admin.listen; "off" disables it)`)
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides data_dir)")
	return cmd
}

// loadServeConfig returns the config the flags ask for, and the in-process
// demobank when the embedded default is used.
func loadServeConfig(f serveFlags, logger *slog.Logger) (*config.Loaded, *demobank.Server, error) {
	var (
		cfg  *config.Loaded
		bank *demobank.Server
		err  error
	)
	switch {
	case f.config != "" && (f.upstream != "" || f.spec != ""):
		return nil, nil, errors.New("--config cannot be combined with --upstream or --spec")
	case f.config != "":
		cfg, err = config.Load(f.config)
	case f.upstream != "":
		cfg, err = upstreamConfig(f)
	case f.spec != "":
		return nil, nil, errors.New("--spec needs --upstream")
	default:
		bank, err = demobank.New(demobank.Options{Logger: logger.With("component", "demobank")})
		if err != nil {
			return nil, nil, err
		}
		var url string
		url, err = startInProcess(bank)
		if err == nil {
			var c *config.Config
			c, err = config.Parse(demobank.Config, func(name string) (string, bool) {
				if name == "DEMOBANK_URL" {
					return url, true
				}
				return os.LookupEnv(name)
			})
			if err == nil {
				cfg = &config.Loaded{Config: c}
			}
		}
	}
	if err != nil {
		if bank != nil {
			_ = bank.Close()
		}
		return nil, nil, err
	}
	if err := applyOverrides(cfg, f); err != nil {
		if bank != nil {
			_ = bank.Close()
		}
		return nil, nil, err
	}
	return cfg, bank, nil
}

// upstreamConfig is the config of `serve --upstream URL [--spec FILE]`.
func upstreamConfig(f serveFlags) (*config.Loaded, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "apis:\n  - name: default\n    upstream:\n      urls: [%q]\n", f.upstream)
	dir := ""
	if f.spec != "" {
		abs, err := filepath.Abs(f.spec)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "    spec: %q\n", abs)
	}
	c, err := config.Parse([]byte(b.String()), os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return &config.Loaded{Config: c, Dir: dir}, nil
}

// applyOverrides applies the command-line overrides and validates again.
func applyOverrides(cfg *config.Loaded, f serveFlags) error {
	if f.listen != "" {
		cfg.Server.Listen = f.listen
	}
	if f.adminListen != "" {
		cfg.Admin.Listen = f.adminListen
	}
	if f.dataDir != "" {
		// A flag is relative to the working directory, not to the config.
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		cfg.DataDir = abs
	}
	return cfg.Validate()
}

// startInProcess serves demobank on a loopback port for the default run.
func startInProcess(bank *demobank.Server) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("starting demobank: %w", err)
	}
	srv := &http.Server{Handler: bank, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// specLoader loads specs relative to the config, and the embedded demobank
// spec for the embedded default config.
func specLoader(cfg *config.Loaded) func(ref, dir string) (*openapi.Spec, error) {
	return func(ref, dir string) (*openapi.Spec, error) {
		if cfg.File == "" && dir == "" && ref == "openapi.yaml" {
			return openapi.Parse(demobank.Spec)
		}
		p := ref
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		return openapi.Load(p)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// accessLogWriter opens the access log destination; nil means off.
func accessLogWriter(dest string, stdout, stderr io.Writer) (io.Writer, func() error, error) {
	switch dest {
	case "off":
		return nil, func() error { return nil }, nil
	case "stdout":
		return stdout, func() error { return nil }, nil
	case "stderr":
		return stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("log.access_log: %w", err)
	}
	return f, f.Close, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func runServe(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	// apiguard's own log, security events included, is written in
	// batches: a write per event is the largest cost of a request that
	// raises one (a DLP detection on every answer, an attack flood).
	logW := events.NewBufferedWriter(stderr, nil)
	defer logW.Close()
	// SIGHUP is caught from the start: its default action ends the
	// process, so a reload asked for as soon as the banner is out (or
	// while the config loads) must not find it uncaught. Reloads asked
	// for before the gateway runs wait in the channel.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger := newLogger(logW, "info")
	// say prints a line for the operator at once, after the log lines
	// written before it.
	say := func(format string, args ...any) {
		_ = logW.Flush()
		fmt.Fprintf(stderr, format, args...)
	}
	cfg, bank, err := loadServeConfig(f, logger)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return &ExitError{Code: 2, Err: fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(errs.Error(), "\n", "\n  "))}
		}
		return &ExitError{Code: 2, Err: err}
	}
	if bank != nil {
		defer bank.Close()
	}
	logger = newLogger(logW, cfg.Log.Level)

	if err := os.MkdirAll(cfg.Resolve(cfg.DataDir), 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer db.Close()
	metrics := events.NewMetrics()
	writer := store.NewWriter(db, store.WriterOptions{
		QueueSize: cfg.Store.QueueSize,
		Retention: store.Retention{MaxAge: cfg.Store.Retention.MaxAge.D(), MaxEvents: cfg.Store.Retention.MaxEvents},
		// Drops of a full queue are counted by the recorder; failed
		// batches and events lost at shutdown here.
		OnError: func(_ error, lost int) { metrics.StoreError(lost) },
		Logger:  logger,
	})
	accessW, closeAccess, err := accessLogWriter(cfg.Log.AccessLog, stdout, stderr)
	if err != nil {
		return err
	}
	defer closeAccess()
	// Alert exporters (docs/alerts.md): their own drops are reported as
	// events, which go through the recorder like any other.
	var rec *events.Recorder
	alerts := export.New(export.Options{Registry: metrics.Registry(), Emit: func(e events.Event) { rec.Event(e) },
		Logger: logger.With("component", "alerts"), Version: Version})
	rec = events.NewRecorder(events.RecorderOptions{AccessLog: accessW, Metrics: metrics, Store: writer, Logger: logger, Sink: alerts})
	rec.SetObserveInterval(cfg.Log.ObserveEventInterval.D())
	if err := alerts.Apply(cfg.Alerts, cfg.Dir); err != nil {
		_ = alerts.Close(context.Background())
		return &ExitError{Code: 2, Err: fmt.Errorf("alerts: %w", err)}
	}

	rdb, err := gateway.NewRedis(cfg.Redis, cfg.Dir)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if rdb != nil {
		defer rdb.Close()
	}

	// The admin API comes first so guard services can add their routes;
	// it shows the gateway's config once the gateway exists.
	var gw *gateway.Gateway
	var adm *admin.Server
	var adminToken string
	generatedToken := false
	if cfg.Admin.Listen != "off" {
		adminToken = cfg.Admin.Token.Value()
		if adminToken == "" && len(cfg.Admin.Tokens) == 0 {
			adminToken, generatedToken = randomToken(), true
		}
		adm, err = admin.New(admin.Options{
			Token:   adminToken,
			Tokens:  adminTokens(cfg.Config),
			Emit:    rec.Event,
			Store:   db,
			Metrics: metrics.Handler(),
			Config:  func() any { return gw.Config().Redacted() },
			Ready: func() error {
				pctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return db.Ping(pctx)
			},
			Logger:    logger,
			Profiling: cfg.Admin.Profiling,
		})
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
	}
	services := pipeline.NewServices(pipeline.Services{Redis: rdb, Store: db, Emit: rec.Event, Logger: logger})
	if adm != nil {
		services.Admin = adm.Handle
	}
	defer services.Close()
	if err := pipeline.StartServices(services); err != nil {
		return &ExitError{Code: 2, Err: err}
	}

	// The anomaly detectors (docs/detectors.md) report and block through
	// the services; deferred before the hub, they close after it has
	// delivered the last observations.
	detectors, err := detect.New(cfg.Observe.Detectors, services)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer detectors.Close()

	// The API inventory (docs/inventory.md); deferred before the hub, its
	// last snapshot holds the last observations.
	invs := newServeInventory(cfg, db, logger)
	defer invs.Close()

	// The observers (inventory, detectors) learn from every exchange off
	// the request path; the hub outlives the gateway so queued
	// observations still reach them at shutdown.
	hub := observe.NewHub(observe.HubOptions{Logger: logger})
	metrics.Registry().MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "apiguard_observations_total",
			Help: "Exchanges the observers (inventory, detectors) have seen."}, func() float64 { return float64(hub.Observed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "apiguard_observations_dropped_total",
			Help: "Exchanges the observers missed because their queue was full."}, func() float64 { return float64(hub.Dropped()) }))
	defer hub.Close(5 * time.Second)
	if detectors.Active() {
		hub.AddObserver("detectors", detectors)
	}
	invs.Attach(hub)
	if adm != nil {
		adm.Handle("GET "+inventory.AdminPath, inventory.Handler(invs.Current, hub.Dropped))
	}

	gw, err = gateway.New(cfg, gateway.Options{Logger: logger, Recorder: rec, Metrics: metrics, SpecLoader: specLoader(cfg), Services: services, Observers: hub})
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return &ExitError{Code: 2, Err: fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(errs.Error(), "\n", "\n  "))}
		}
		return &ExitError{Code: 2, Err: err}
	}
	defer gw.Close()

	srv := gw.NewServer()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	scheme := "http"
	if gw.TLSEnabled() {
		scheme = "https"
	}
	errc := make(chan error, 3)
	go func() { errc <- gw.Serve(srv, ln) }()

	var adminSrv *http.Server
	if adm != nil {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		adminSrv = &http.Server{Handler: adm, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		go func() {
			if err := adminSrv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
		say("apiguard admin API on http://%s\n", aln.Addr())
		if generatedToken {
			say("apiguard admin token (generated, shown once; set admin.token or APIGUARD_ADMIN_TOKEN to choose it): %s\n", adminToken)
		}
	}
	// The egress proxy (docs/egress.md): off unless egress.listen is set.
	var egressProxy *egress.Proxy
	if cfg.Egress.Listen != "" {
		egressProxy, err = egress.New(cfg, services)
		if err != nil {
			var errs config.Errors
			if errors.As(err, &errs) {
				return &ExitError{Code: 2, Err: fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(errs.Error(), "\n", "\n  "))}
			}
			return &ExitError{Code: 2, Err: err}
		}
		// Answers of destinations with a spec are validated with the
		// schema guard's engine.
		egressProxy.SetValidator(schema.NewAnswerValidator())
		eln, err := net.Listen("tcp", cfg.Egress.Listen)
		if err != nil {
			return fmt.Errorf("egress.listen: %w", err)
		}
		go func() {
			if err := egressProxy.Serve(eln); err != nil {
				errc <- fmt.Errorf("egress: %w", err)
			}
		}()
		say("apiguard egress proxy on http://%s for %d destination(s)\n", eln.Addr(), len(egressProxy.Destinations()))
	}
	what := fmt.Sprintf("%d API(s)", len(cfg.APIs))
	if bank != nil {
		what = "the bundled demobank API (docs/demobank.md)"
	}
	say("apiguard %s protecting %s on %s://%s\n", Version, what, scheme, ln.Addr())

	// Reloads come from SIGHUP and from the file watcher, often both
	// for one edit: one at a time, each reading the file anew.
	var reloadMu sync.Mutex
	reload := func(reason string) {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		if cfg.File == "" {
			logger.Warn("reload requested but the config did not come from a file", "reason", reason)
			return
		}
		next, err := config.Load(cfg.File)
		if err == nil {
			err = applyOverrides(next, f)
		}
		if err != nil {
			metrics.ConfigReload(false)
			rec.Event(events.Event{Time: time.Now(), Kind: events.KindConfig, Guard: "gateway", Rule: "config.reload_refused",
				Verdict: events.VerdictError, Detail: "invalid configuration refused, the previous one keeps serving: " + err.Error()})
			logger.Error("config reload refused; the previous configuration keeps serving", "reason", reason, "error", err)
			return
		}
		if err := gw.Reload(next); err != nil {
			logger.Error("config reload refused; the previous configuration keeps serving", "reason", reason, "error", err)
			return
		}
		invs.Apply(next)
		rec.SetObserveInterval(next.Log.ObserveEventInterval.D())
		if err := detectors.Apply(next.Observe.Detectors); err != nil {
			logger.Error("detectors reload refused; the previous settings stay", "reason", reason, "error", err)
		} else if detectors.Active() {
			hub.AddObserver("detectors", detectors)
		} else {
			hub.AddObserver("detectors", nil)
		}
		if adm != nil {
			// Admin tokens follow the config; a generated token stays
			// while the config names none.
			legacy := next.Admin.Token.Value()
			if legacy == "" && len(next.Admin.Tokens) == 0 && generatedToken {
				legacy = adminToken
			}
			if err := adm.SetTokens(legacy, adminTokens(next.Config)); err != nil {
				logger.Error("admin tokens not changed; the previous ones stay valid", "reason", reason, "error", err)
			}
		}
		if err := alerts.Apply(next.Alerts, next.Dir); err != nil {
			rec.Event(events.Event{Time: time.Now(), Kind: events.KindConfig, Guard: "alerts", Rule: "config.alerts_refused",
				Verdict: events.VerdictError, Detail: "alert exporters not changed, the previous ones keep running: " + err.Error()})
			logger.Error("alerts reload refused; the previous exporters keep running", "reason", reason, "error", err)
		}
		if egressProxy != nil {
			// Destinations reload; a changed egress.listen needs a restart.
			if err := egressProxy.Reload(next); err != nil {
				logger.Error("egress reload refused; the previous destinations keep serving", "reason", reason, "error", err)
			}
		}
		logger.Info("config reloaded", "reason", reason)
	}
	if cfg.File != "" {
		w, err := gateway.WatchFiles(ctx, watchedFiles(cfg), func() { reload("file changed") }, logger)
		if err != nil {
			logger.Warn("config file watching is off; SIGHUP still reloads", "error", err)
		} else {
			defer w.Close()
		}
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			reload("SIGHUP")
		case runErr = <-errc:
			break loop
		}
	}
	logger.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.Timeouts.Shutdown.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("drain deadline reached; closing remaining connections", "error", err)
		_ = srv.Close()
	}
	if adminSrv != nil {
		_ = adminSrv.Shutdown(sctx)
	}
	if egressProxy != nil {
		_ = egressProxy.Shutdown(sctx)
	}
	_ = rec.Close()
	if err := alerts.Close(sctx); err != nil {
		logger.Warn("flushing alert exporters", "error", err)
	}
	if err := writer.Close(sctx); err != nil {
		logger.Warn("flushing events", "error", err)
	}
	return runErr
}

// adminTokens are the named admin tokens of cfg (admin.tokens).
func adminTokens(cfg *config.Config) []admin.Token {
	out := make([]admin.Token, 0, len(cfg.Admin.Tokens))
	for _, t := range cfg.Admin.Tokens {
		out = append(out, admin.Token{Name: t.Name, Token: t.Token.Value(), Role: t.Role})
	}
	return out
}

// openStore opens the event store of cfg.Store: the SQLite file (default
// <data_dir>/apiguard.db) or the PostgreSQL database of store.dsn.
func openStore(ctx context.Context, cfg *config.Loaded) (store.DB, error) {
	target := cfg.Store.DSN.Value()
	if cfg.Store.Driver != store.DriverPostgres {
		target = cfg.StorePath()
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
	}
	return store.Open(ctx, cfg.Store.Driver, target)
}

// watchedFiles are the config file and the spec files it names.
func watchedFiles(cfg *config.Loaded) []string {
	files := []string{cfg.File}
	for _, a := range cfg.APIs {
		if a.Spec != "" {
			p := a.Spec
			if !filepath.IsAbs(p) {
				p = filepath.Join(cfg.Dir, p)
			}
			files = append(files, p)
		}
	}
	return files
}
