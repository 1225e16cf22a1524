package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// Refused calls are audited at most refusedPerMinute a minute (with a
// burst of refusedBurst): someone hammering the admin port with bad
// tokens must not fill the audit log. The ones skipped are counted in
// the next entry recorded.
const (
	refusedPerMinute = 30
	refusedBurst     = 30
)

// UnauthenticatedActor is the actor of refused calls without a valid
// token.
const UnauthenticatedActor = "unauthenticated"

// auditWriteTimeout bounds writing one audit entry.
const auditWriteTimeout = 5 * time.Second

// maxAuditText bounds the request path and target kept in an entry.
const maxAuditText = 512

// isStateChanging reports whether a method may change state.
func isStateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// statusWriter remembers the status a handler answered.
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

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// source is the caller's address (the admin listener trusts no proxy).
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func clipText(s string) string {
	if len(s) <= maxAuditText {
		return s
	}
	return events.RedactText(s, maxAuditText)
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// record writes the audit entry of a state-changing call: what the
// handler declared with auditctx.Set, or the route and path when it did
// not.
func (s *Server) record(r *http.Request, rec *auditctx.Record, pattern string, status int) {
	action, target, before, after, ok := rec.Details()
	path := events.RedactText(r.URL.Path, maxAuditText)
	if !ok {
		action, target = r.Method+" "+path, path
		if pattern != "" {
			action = pattern
		}
	}
	e := store.AuditEntry{
		Time: s.opts.Now().UTC(), Actor: rec.Actor, Action: clipText(action), Target: clipText(target),
		Before: jsonText(before), After: jsonText(after),
		Request: r.Method + " " + path, Status: status, Source: source(r),
	}
	s.write(e)
}

// write stores an audit entry and logs it. A failure to store is logged
// and reported as an event: the action itself has happened.
func (s *Server) write(e store.AuditEntry) {
	s.opts.Logger.Info("admin action", slog.String("actor", e.Actor), slog.String("action", e.Action),
		slog.String("target", e.Target), slog.String("request", e.Request), slog.Int("status", e.Status), slog.String("source", e.Source))
	if s.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	defer cancel()
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		s.opts.Logger.Error("admin: recording audit entry", slog.String("action", e.Action), slog.Any("error", err))
		s.opts.Emit(events.Event{Time: e.Time, Kind: events.KindSystem, Guard: "admin", Rule: "admin.audit_failed",
			Verdict: events.VerdictError, ClientIP: e.Source, Detail: "audit entry not stored (" + e.Actor + " " + e.Action + "): " + err.Error()})
	}
}

// refusals rate-limits the audit of refused calls with a token bucket.
type refusals struct {
	mu      sync.Mutex
	bucket  float64
	last    time.Time
	skipped int
}

// take reports whether a refused call may be recorded now, and how many
// were skipped before it.
func (f *refusals) take(now time.Time) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() {
		f.bucket = min(refusedBurst, f.bucket+now.Sub(f.last).Minutes()*refusedPerMinute)
	}
	f.last = now
	if f.bucket < 1 {
		f.skipped++
		return false, 0
	}
	f.bucket--
	n := f.skipped
	f.skipped = 0
	return true, n
}

// refused answers 401 (no valid token) or 403 (a read-only token on a
// state-changing call), and audits the attempt: who (the token's name,
// or "unauthenticated"), from where, what was tried. It also records an
// admin.unauthorized or admin.forbidden event. Both are rate limited.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, status int, actor ...string) {
	who, action, rule, category, reason := UnauthenticatedActor, "auth.refused", "admin.unauthorized", "API2", "no valid admin bearer token"
	if r.Header.Get("Authorization") == "" {
		reason = "no Authorization header"
	}
	if status == http.StatusForbidden {
		who, action, rule, category, reason = actor[0], "auth.forbidden", "admin.forbidden", "API5", "read-only token on a state-changing call"
		writeProblem(w, http.StatusForbidden, "forbidden", "Forbidden", "this admin token is read-only")
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apiguard-admin"`)
		writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "a valid admin bearer token is required")
	}
	now := s.opts.Now().UTC()
	ok, skipped := s.refuse.take(now)
	if !ok {
		return
	}
	path := events.RedactText(r.URL.Path, maxAuditText)
	detail := map[string]any{"reason": reason}
	if skipped > 0 {
		detail["unrecorded_before"] = skipped
		reason += fmt.Sprintf(" (%d earlier refusals not recorded)", skipped)
	}
	s.write(store.AuditEntry{Time: now, Actor: who, Action: action, Target: path, After: jsonText(detail),
		Request: r.Method + " " + path, Status: status, Source: source(r)})
	s.opts.Emit(events.Event{Time: now, Kind: events.KindSystem, Guard: "admin", Rule: rule, Category: category,
		Verdict: events.VerdictBlock, Method: r.Method, Path: path, ClientIP: source(r), Principal: principal(who),
		Status: status, Detail: "admin API call refused: " + reason})
}

func principal(who string) string {
	if who == UnauthenticatedActor {
		return ""
	}
	return who
}

// auditPage serves GET /api/v1/audit: entries newest first, paged with
// before and limit like the events.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	var before int64
	limit := store.DefaultLimit
	for name, vs := range r.URL.Query() {
		if len(vs) != 1 {
			s.badParam(w, name, "must be given once")
			return
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		switch name {
		case "before":
			if err != nil || n < 1 {
				s.badParam(w, name, "must be a positive entry id")
				return
			}
			before = n
		case "limit":
			if err != nil || n < 1 || n > store.MaxLimit {
				s.badParam(w, name, fmt.Sprintf("must be an integer from 1 to %d", store.MaxLimit))
				return
			}
			limit = int(n)
		default:
			s.badParam(w, name, "is not a known parameter")
			return
		}
	}
	if s.audit == nil {
		writeProblem(w, http.StatusServiceUnavailable, "store_disabled", "Service unavailable", "the store is not enabled")
		return
	}
	es, err := s.audit.Audit(r.Context(), before, limit)
	if err != nil {
		s.opts.Logger.Error("admin: reading the audit log", slog.Any("error", err))
		writeProblem(w, http.StatusServiceUnavailable, "store_error", "Service unavailable", "the store did not answer")
		return
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	next := ""
	if len(es) == limit {
		next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es, "next": next})
}

func (s *Server) badParam(w http.ResponseWriter, name, reason string) {
	writeProblemValue(w, problem{Type: problemBase + "invalid_parameter", Title: "Invalid query parameter",
		Status: http.StatusBadRequest, Detail: "parameter " + strconv.Quote(name) + " " + reason, Parameter: name})
}
