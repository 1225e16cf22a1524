// Package demobank is the bundled demo API that apiguard protects in its
// quickstart: a small multi-user banking JSON API that is deliberately
// vulnerable when reached directly.
//
// Every planted vulnerability has a stable id (DB-01, DB-02, ...) listed in
// docs/demobank.md; that table is the ground truth of apiguard's active
// scanner. With Options.Fixed the same API runs with every planted
// vulnerability switched off.
//
// Never expose a vulnerable demobank on a network you do not control: it
// fetches any URL it is given (SSRF) and serves a SQL injection.
package demobank

import (
	"context"
	"crypto/x509"
	"database/sql"
	_ "embed" // for Spec
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Spec is the OpenAPI 3.1 description of demobank as it should be: the
// policy apiguard enforces in front of it. The undocumented shadow endpoint
// /internal/debug is deliberately absent.
//
//go:embed openapi.yaml
var Spec []byte

// Options configure a demobank instance.
type Options struct {
	// Fixed serves the same API with every planted vulnerability switched
	// off. The default (false) is the deliberately vulnerable variant.
	Fixed bool
	// Now is the clock used for tokens, lockouts and quotas; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives one line per request and internal errors; nil
	// discards them.
	Logger *slog.Logger
}

// Identity is one seeded demobank user, with the clear-text password a test
// or the quickstart logs in with.
type Identity struct {
	ID       int
	Username string
	Password string
	Role     string
}

// seedUser is a seeded user with its profile and primary account.
type seedUser struct {
	Identity
	DisplayName  string
	Email        string
	Phone        string
	SSN          string
	AccountID    int
	BalanceCents int64
}

var seedUsers = []seedUser{
	{Identity{1, "alice", "alice-pass", "user"}, "Alice Example", "alice@demobank.example", "+1-202-555-0143", "078-05-1120", 101, 250000},
	{Identity{2, "bob", "bob-pass", "user"}, "Bob Example", "bob@demobank.example", "+1-202-555-0178", "219-09-9999", 102, 180000},
	{Identity{3, "admin", "admin-pass", "admin"}, "Demobank Admin", "admin@demobank.example", "+1-202-555-0100", "457-55-5462", 103, 1000000},
}

// Seeds returns the seeded identities (alice, bob, admin) with their
// passwords, so that tests and the quickstart can log in.
func Seeds() []Identity {
	out := make([]Identity, len(seedUsers))
	for i, u := range seedUsers {
		out[i] = u.Identity
	}
	return out
}

// Server is one demobank instance with its own in-memory database, signing
// key and counters. It is an http.Handler.
type Server struct {
	fixed  bool
	now    func() time.Time
	log    *slog.Logger
	db     *sql.DB
	priv   jwk.Key
	pub    jwk.Key
	kid    string
	jwks   []byte
	routes []route

	// blocked decides which resolved addresses the fixed variant refuses
	// to dial; tlsRoots are the roots it trusts (nil: system roots). Tests
	// in this package replace them.
	blocked  func(netip.Addr) bool
	tlsRoots *x509.CertPool

	// userRate and userBurst bound each principal's requests in the fixed
	// variant (token bucket); benchmarks in this package raise them.
	userRate  float64
	userBurst float64

	mu          sync.Mutex
	loginFails  map[string]*loginState
	loginByIP   map[string][]time.Time
	transfersBy map[int][]time.Time
	buckets     map[int]*bucket
}

// bucket is one principal's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// New builds a demobank with freshly seeded data in its own in-memory
// SQLite database. Close releases it.
func New(opts Options) (*Server, error) {
	s := &Server{
		fixed:       opts.Fixed,
		now:         opts.Now,
		log:         opts.Logger,
		blocked:     isBlockedAddr,
		loginFails:  make(map[string]*loginState),
		loginByIP:   make(map[string][]time.Time),
		transfersBy: make(map[int][]time.Time),
		buckets:     make(map[int]*bucket),
		userRate:    perUserRate,
		userBurst:   perUserBurst,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.initKeys(); err != nil {
		return nil, fmt.Errorf("demobank: signing key: %w", err)
	}
	db, err := openDB()
	if err != nil {
		return nil, fmt.Errorf("demobank: %w", err)
	}
	s.db = db
	if err := seed(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("demobank: seeding: %w", err)
	}
	s.routes = s.buildRoutes()
	return s, nil
}

// Close releases the instance's database.
func (s *Server) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	return s.db.Close()
}

// handlerFunc is a route handler; p is nil on public routes.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal)

type route struct {
	method   string
	segments []string // "{name}" segments are path parameters
	public   bool
	h        handlerFunc
}

func (s *Server) buildRoutes() []route {
	rt := []struct {
		method, path string
		public       bool
		h            handlerFunc
	}{
		{"POST", "/api/v1/auth/login", true, s.handleLogin},
		{"GET", "/.well-known/jwks.json", true, s.handleJWKS},
		{"GET", "/.well-known/openid-configuration", true, s.handleDiscovery},
		{"GET", "/api/v1/users/{userId}", false, s.handleGetUser},
		{"PATCH", "/api/v1/users/{userId}", false, s.handleUpdateUser},
		{"POST", "/api/v1/users/{userId}/avatar/import", false, s.handleImportAvatar},
		{"GET", "/api/v1/accounts", false, s.handleListAccounts},
		{"GET", "/api/v1/accounts/{accountId}", false, s.handleGetAccount},
		{"POST", "/api/v1/transfers", false, s.handleCreateTransfer},
		{"POST", "/api/v1/transfer-orders", false, s.handleCreateTransferOrder},
		{"GET", "/api/v1/transactions", false, s.handleListTransactions},
		{"GET", "/api/v1/admin/users", false, s.handleAdminListUsers},
		{"GET", "/api/v1/search", false, s.handleSearch},
		{"POST", "/api/v1/webhooks", false, s.handleCreateWebhook},
		{"POST", "/api/v1/webhooks/{webhookId}/test", false, s.handleTestWebhook},
	}
	if !s.fixed {
		// DB-20: the deprecated v0 API is still live, without auth.
		// DB-21: an undocumented debug endpoint.
		rt = append(rt, []struct {
			method, path string
			public       bool
			h            handlerFunc
		}{
			{"GET", "/api/v0/users/{userId}", true, s.handleGetUserV0},
			{"GET", "/internal/debug", true, s.handleDebug},
		}...)
	}
	out := make([]route, len(rt))
	for i, x := range rt {
		out[i] = route{method: x.method, segments: strings.Split(x.path, "/"), public: x.public, h: x.h}
	}
	return out
}

// match finds the route for method and path. It returns the allowed
// methods when the path exists but the method does not.
func (s *Server) match(method, path string) (*route, map[string]string, []string) {
	segs := strings.Split(path, "/")
	var allowed []string
	for i := range s.routes {
		rt := &s.routes[i]
		params, ok := matchSegments(rt.segments, segs)
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, params, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, nil, allowed
}

func matchSegments(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string, 1)
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// statusWriter records the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP serves the demobank API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if sw.status == 0 {
				s.internalError(sw, r, fmt.Errorf("panic: %v", v))
			}
		}
		// The query is not logged: it may carry an access token.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "demobank request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	}()
	s.commonHeaders(sw, r)

	if !s.fixed && r.Method == http.MethodOptions && r.Header.Get("Origin") != "" {
		// DB-22: permissive CORS preflight for any origin.
		h := sw.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
		sw.WriteHeader(http.StatusNoContent)
		return
	}

	rt, params, allowed := s.match(r.Method, r.URL.Path)
	if rt == nil {
		if len(allowed) > 0 {
			sw.Header().Set("Allow", strings.Join(allowed, ", "))
			s.fail(sw, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.fail(sw, http.StatusNotFound, "not found")
		return
	}
	for k, v := range params {
		r.SetPathValue(k, v)
	}
	var p *principal
	if !rt.public {
		var err error
		p, err = s.authenticate(r)
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "demobank authentication failed", slog.String("reason", err.Error()))
		}
		if p == nil {
			if r.Header.Get("Authorization") != "" || r.URL.Query().Has("access_token") {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="demobank", error="invalid_token"`)
			} else {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="demobank"`)
			}
			s.fail(sw, http.StatusUnauthorized, "authentication required")
			return
		}
		if s.fixed {
			sw.Header().Set("Cache-Control", "no-store")
			// DB-24: only the fixed variant limits each principal.
			if !s.allowPrincipal(p.userID, s.now()) {
				sw.Header().Set("Retry-After", "1")
				s.fail(sw, http.StatusTooManyRequests, "rate limit exceeded")
				return
			}
		}
	}
	rt.h(sw, r, p)
}

// Per-principal request budget of the fixed variant.
const (
	perUserRate  = 20  // requests per second, sustained
	perUserBurst = 200 // requests at once
)

// allowPrincipal takes one token from the user's bucket.
func (s *Server) allowPrincipal(user int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[user]
	if b == nil {
		b = &bucket{tokens: s.userBurst, last: now}
		s.buckets[user] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(s.userBurst, b.tokens+el*s.userRate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// commonHeaders sets the headers every answer carries.
func (s *Server) commonHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if s.fixed {
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return
	}
	// DB-23: version banners.
	h.Set("Server", "demobank")
	h.Set("X-Powered-By", "demobank/0.1 (Go)")
	// DB-22: any origin may read answers with the victim's credentials.
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
}

// problem is the error body; Trace is only ever set by the vulnerable
// variant (DB-19).
type problem struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
	Trace  string `json:"trace,omitempty"`
}

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, problem{Error: msg, Status: status})
}

// internalError answers 500. The vulnerable variant leaks the error text
// and a Go stack trace (DB-19); the fixed one says nothing.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelError, "demobank internal error",
		slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	if s.fixed {
		writeJSON(w, http.StatusInternalServerError, problem{Error: "internal error", Status: http.StatusInternalServerError})
		return
	}
	writeJSON(w, http.StatusInternalServerError, problem{
		Error:  err.Error(),
		Status: http.StatusInternalServerError,
		Trace:  string(debug.Stack()),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal error","status":500}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errBadBody is returned by decodeBody for any malformed request body.
type errBadBody struct{ msg string }

func (e errBadBody) Error() string { return e.msg }

// decodeBody reads one JSON value into dst. The fixed variant requires a
// JSON content type, rejects unknown fields and trailing data.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	limit := int64(1 << 20)
	if s.fixed {
		limit = 64 << 10
		ct := r.Header.Get("Content-Type")
		if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return errBadBody{"content type must be application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if s.fixed {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		if s.fixed {
			return errBadBody{"invalid JSON body"}
		}
		return errBadBody{"invalid JSON body: " + err.Error()}
	}
	if s.fixed {
		if _, err := dec.Token(); err != io.EOF {
			return errBadBody{"invalid JSON body: trailing data"}
		}
	}
	return nil
}

// baseURL is the public base URL derived from the request: the JWT issuer.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// clientIP is the peer address of the request, without port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// queryContext bounds one database use by a request.
func queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 5*time.Second)
}
