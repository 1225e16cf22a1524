// Package admin serves apiguard's admin API: health and readiness probes,
// the Prometheus metrics and the security events, behind a bearer token.
// The gateway owns the listener (loopback by default); this package
// provides its http.Handler.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// MinTokenLen is the shortest admin token accepted, in bytes.
const MinTokenLen = 16

// problemBase prefixes problem type URIs.
const problemBase = "https://apiguard.dev/problems/admin."

// Options configure the admin handler.
type Options struct {
	// Token is the bearer token; required, at least 16 bytes.
	Token string
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
}

// Server is the admin http.Handler. It is safe for concurrent use.
type Server struct {
	opts   Options
	digest [sha256.Size]byte // SHA-256 of the token; the token is not kept
	mux    *http.ServeMux
}

// New builds the admin handler. It fails when the token is missing or
// shorter than MinTokenLen bytes.
func New(opts Options) (*Server, error) {
	if opts.Token == "" {
		return nil, errors.New("admin: token is required")
	}
	if len(opts.Token) < MinTokenLen {
		return nil, errors.New("admin: token must be at least 16 bytes")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, digest: sha256.Sum256([]byte(opts.Token)), mux: http.NewServeMux()}
	s.opts.Token = ""
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.Handle("GET /metrics", http.HandlerFunc(s.metrics))
	s.Handle("GET /api/v1/events", http.HandlerFunc(s.events))
	s.Handle("GET /api/v1/config", http.HandlerFunc(s.config))
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
	return path == "/metrics" || strings.HasPrefix(path, "/metrics/") || strings.HasPrefix(path, "/api/")
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
	if isProtected(r.URL.Path) && !s.authorized(r) {
		s.unauthorized(w)
		return
	}
	handler, pattern := s.mux.Handler(r)
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

// authorized checks the bearer token in constant time: the SHA-256 digests
// are compared, so neither the content nor the length of the token leaks.
func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], s.digest[:]) == 1
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="apiguard-admin"`)
	writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "a valid admin bearer token is required")
}

func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			s.unauthorized(w)
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
