package admin

import (
	"net/http"
	"net/http/pprof"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
)

// handleProfiles adds Go's runtime profiles (net/http/pprof) under
// /debug/pprof/, for tokens with the admin role only: a profile shows the
// code paths and, for goroutine dumps, the arguments in flight, which a
// read-only monitoring token has no need to see. The CPU profile and the
// execution trace run for ?seconds=N (default 30) and stop by themselves.
func (s *Server) handleProfiles() {
	adminOnly := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rec := auditctx.From(r.Context()); rec == nil || rec.Role != RoleAdmin {
				writeProblem(w, http.StatusForbidden, "forbidden", "Forbidden", "runtime profiles need a token with the admin role")
				return
			}
			h(w, r)
		})
	}
	s.Handle("GET /debug/pprof/", adminOnly(pprof.Index))
	s.Handle("GET /debug/pprof/cmdline", adminOnly(pprof.Cmdline))
	s.Handle("GET /debug/pprof/profile", adminOnly(pprof.Profile))
	s.Handle("GET /debug/pprof/symbol", adminOnly(pprof.Symbol))
	s.Handle("GET /debug/pprof/trace", adminOnly(pprof.Trace))
}
