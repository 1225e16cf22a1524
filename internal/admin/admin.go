// Package admin serves apiguard's admin API: health and readiness probes,
// the Prometheus metrics, the security events and the audit log, behind
// named bearer tokens with roles. Every state-changing call, and every
// refused call, is written to the audit log by one middleware.
// The gateway owns the listener (loopback by default); this package
// provides its http.Handler.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// MinTokenLen is the shortest admin token accepted, in bytes.
const MinTokenLen = 16

// problemBase prefixes problem type URIs.
const problemBase = "https://apiguard.dev/problems/admin."

// Token roles.
const (
	// RoleAdmin may call every route.
	RoleAdmin = "admin"
	// RoleReadOnly may only read (GET, HEAD, OPTIONS); state-changing
	// calls answer 403.
	RoleReadOnly = "read-only"
)

// LegacyTokenName is the audit name of Options.Token (admin.token).
const LegacyTokenName = "admin"

// Token is one named admin token.
type Token struct {
	// Name is recorded as the actor of every call made with the token.
	Name string
	// Token is the bearer token, at least 16 bytes.
	Token string
	// Role is RoleAdmin (default) or RoleReadOnly.
	Role string
}

// Options configure the admin handler.
type Options struct {
	// Token is the bearer token of admin.token, named "admin" with the
	// admin role; at least 16 bytes. Token or Tokens is required.
	Token string
	// Tokens are named tokens (admin.tokens).
	Tokens []Token
	// Emit records refused calls and audit failures as events; nil
	// discards them.
	Emit func(events.Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Store serves GET /api/v1/events; nil answers 503.
	Store store.Store
	// Metrics is served at /metrics; nil answers 404.
	Metrics http.Handler
	// Config returns the current config, already redacted; nil answers 503.
	Config func() any
	// Ready reports readiness for /readyz; nil means always ready.
	Ready func() error
	// Logger receives handler errors; nil discards them.
	Logger *slog.Logger
	// Profiling serves net/http/pprof under /debug/pprof/ to tokens with
	// the admin role (admin.profiling); off, those paths answer 404 like
	// any unknown route, after the token check.
	Profiling bool
}

// Server is the admin http.Handler. It is safe for concurrent use.
type Server struct {
	opts   Options
	tokens atomic.Pointer[[]tokenDigest] // the tokens are not kept, only their digests
	mux    *http.ServeMux
	audit  auditLog // nil: audit entries only go to the log
	refuse refusals
}

// tokenDigest is a token's name, role and SHA-256 digest.
type tokenDigest struct {
	name, role string
	digest     [sha256.Size]byte
}

// auditLog is where admin calls are recorded; *store.SQLite and
// *store.Postgres implement it.
type auditLog interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) error
	Audit(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error)
}

// SetTokens replaces the tokens (on a configuration reload): legacy is
// admin.token (named "admin"), named are admin.tokens. It fails, keeping
// the tokens in use, when there is no token, when one is shorter than
// MinTokenLen bytes, or when names or tokens repeat.
func (s *Server) SetTokens(legacy string, named []Token) error {
	all := named
	if legacy != "" {
		all = append([]Token{{Name: LegacyTokenName, Token: legacy, Role: RoleAdmin}}, named...)
	}
	if len(all) == 0 {
		return errors.New("admin: token is required")
	}
	out := make([]tokenDigest, 0, len(all))
	names := map[string]bool{}
	for _, t := range all {
		if len(t.Token) < MinTokenLen {
			return fmt.Errorf("admin: token %q must be at least 16 bytes", t.Name)
		}
		if t.Role == "" {
			t.Role = RoleAdmin
		}
		if t.Name == "" || names[t.Name] || (t.Role != RoleAdmin && t.Role != RoleReadOnly) {
			return fmt.Errorf("admin: token %q: names must be set and unique, roles admin or read-only", t.Name)
		}
		names[t.Name] = true
		d := tokenDigest{name: t.Name, role: t.Role, digest: sha256.Sum256([]byte(t.Token))}
		for _, o := range out {
			if o.digest == d.digest {
				return fmt.Errorf("admin: tokens %q and %q are the same", o.name, t.Name)
			}
		}
		out = append(out, d)
	}
	s.tokens.Store(&out)
	return nil
}

// New builds the admin handler. It fails when there is no token, when a
// token is shorter than MinTokenLen bytes, or when names or tokens repeat.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Emit == nil {
		opts.Emit = func(events.Event) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), refuse: refusals{bucket: refusedBurst}}
	if err := s.SetTokens(opts.Token, opts.Tokens); err != nil {
		return nil, err
	}
	s.opts.Token, s.opts.Tokens = "", nil
	if a, ok := opts.Store.(auditLog); ok {
		s.audit = a
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.Handle("GET /metrics", http.HandlerFunc(s.metrics))
	s.Handle("GET /api/v1/events", http.HandlerFunc(s.events))
	s.Handle("GET /api/v1/config", http.HandlerFunc(s.config))
	s.Handle("GET /api/v1/audit", http.HandlerFunc(s.auditPage))
	if opts.Profiling {
		s.handleProfiles()
	}
	return s, nil
}

// Handle adds a route. pattern is an http.ServeMux pattern (with a method,
// such as "POST /api/v1/revocations"). Every route added this way requires
// the token. Like ServeMux.Handle, it panics when pattern conflicts with a
// route already added, so call it while wiring up, not per request.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.requireToken(h))
}

// isProtected reports whether path needs the token before routing, so an
// unauthenticated caller learns nothing about which routes exist.
func isProtected(path string) bool {
	return path == "/metrics" || strings.HasPrefix(path, "/metrics/") || strings.HasPrefix(path, "/api/") ||
		path == "/debug" || strings.HasPrefix(path, "/debug/")
}

// ServeHTTP answers admin requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if name, ok := secretInQuery(r); ok {
		writeProblem(w, http.StatusBadRequest, "credentials_in_query",
			"Credentials must not be sent in the query string", "parameter "+strconv.Quote(name)+" looks like a credential; send the token in the Authorization header")
		return
	}
	handler, pattern := s.mux.Handler(r)
	changing := isStateChanging(r.Method)
	var tok *tokenDigest
	if isProtected(r.URL.Path) || (changing && pattern != "") {
		if tok = s.authenticate(r); tok == nil {
			s.refused(w, r, http.StatusUnauthorized)
			return
		}
		if changing && tok.role != RoleAdmin {
			s.refused(w, r, http.StatusForbidden, tok.name)
			return
		}
	}
	var rec *auditctx.Record
	if tok != nil {
		var ctx context.Context
		ctx, rec = auditctx.With(r.Context(), tok.name, tok.role)
		r = r.WithContext(ctx)
	}
	if changing && rec != nil {
		// Every state-changing call is audited once the handler is done,
		// whatever it answered.
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.record(r, rec, pattern, sw.code()) }()
		w = sw
	}
	if pattern == "" {
		// No route: let the mux decide between 404 and 405 (it sets
		// Allow), then answer with a problem instead of its plain text.
		rec := &statusRecorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			h.Set("Allow", allow)
		}
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "")
		case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusFound:
			h.Set("Location", rec.header.Get("Location"))
			w.WriteHeader(rec.status)
		default:
			writeProblem(w, http.StatusNotFound, "not_found", "Not found", "")
		}
		return
	}
	// Route through the mux itself, not the handler it returned: only
	// ServeMux.ServeHTTP sets the path values ({id}) handlers read.
	s.mux.ServeHTTP(w, r)
}

// statusRecorder captures the status and headers of the mux's own
// not-found and method-not-allowed answers.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// secretInQuery finds a credential-looking query parameter.
func secretInQuery(r *http.Request) (string, bool) {
	if r.URL.RawQuery == "" {
		return "", false
	}
	for name := range r.URL.Query() {
		if events.IsSecretParam(name) || strings.EqualFold(name, "bearer") || strings.EqualFold(name, "authorization") {
			return name, true
		}
	}
	return "", false
}

// authenticate finds the token of the request's bearer credential, or
// nil. It runs in constant time: the SHA-256 digest of the credential is
// compared with every token's digest, with no early exit, so neither the
// content, the length nor the position of a token leaks.
func (s *Server) authenticate(r *http.Request) *tokenDigest {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil
	}
	d := sha256.Sum256([]byte(tok))
	tokens := *s.tokens.Load()
	found, idx := 0, 0
	for i := range tokens {
		eq := subtle.ConstantTimeCompare(d[:], tokens[i].digest[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found != 1 {
		return nil
	}
	return &tokens[idx]
}

func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeHTTP authenticates every route added by Handle; this is a
		// second lock for a handler reached some other way.
		if auditctx.From(r.Context()) == nil && s.authenticate(r) == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apiguard-admin"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "a valid admin bearer token is required")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": events.RedactText(err.Error(), 512)})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		writeProblem(w, http.StatusNotFound, "not_found", "Not found", "metrics are not enabled")
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}

func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Config == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "configuration is not available")
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Config())
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal server error", "")
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// problem is an RFC 9457 problem details answer.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Parameter names the query parameter at fault, for 400 answers.
	Parameter string `json:"parameter,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, typ, title, detail string) {
	writeProblemValue(w, problem{Type: problemBase + typ, Title: title, Status: status, Detail: detail})
}

func writeProblemValue(w http.ResponseWriter, p problem) {
	body, _ := json.Marshal(p) // strings and an int: cannot fail
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
