package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

const (
	legacyToken  = "legacy-admin-token-0123456789"
	aliceToken   = "alice-ops-token-0123456789"
	auditorToken = "auditor-ro-token-0123456789"
)

// auditEnv is an admin server with named tokens over a real SQLite store,
// and two state-changing routes.
type auditEnv struct {
	srv    *httptest.Server
	admin  *Server
	db     *store.SQLite
	mu     sync.Mutex
	events []events.Event
	calls  int
	now    time.Time
}

func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &auditEnv{db: db, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a, err := New(Options{
		Token: legacyToken,
		Tokens: []Token{
			{Name: "ops-alice", Token: aliceToken},
			{Name: "auditor", Token: auditorToken, Role: RoleReadOnly},
		},
		Store: db,
		Emit: func(ev events.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.now
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Handle("POST /api/v1/things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.calls++
		e.mu.Unlock()
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		auditctx.Set(r.Context(), "thing.add", "t1", nil, map[string]string{"id": "t1", "by": auditctx.Actor(r.Context())})
		w.WriteHeader(http.StatusCreated)
	}))
	a.Handle("DELETE /api/v1/things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	e.admin = a
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *auditEnv) call(t *testing.T, method, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// entries returns the audit log, newest first, through the API.
func (e *auditEnv) entries(t *testing.T, token string) []store.AuditEntry {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Entries []store.AuditEntry `json:"entries"`
		Next    string             `json:"next"`
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/audit = %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Entries
}

func TestAuditEveryStateChangingCall(t *testing.T) {
	e := newAuditEnv(t)
	steps := []struct {
		name, method, path, token string
		status                    int
		// the audit entry written, or none
		actor, action, target, request string
		audited                        bool
	}{
		{"named admin token", "POST", "/api/v1/things", aliceToken, 201, "ops-alice", "thing.add", "t1", "POST /api/v1/things", true},
		{"legacy token, no Set", "DELETE", "/api/v1/things/t-9", legacyToken, 204, "admin", "DELETE /api/v1/things/{id}", "/api/v1/things/t-9", "DELETE /api/v1/things/t-9", true},
		{"failed call is audited", "POST", "/api/v1/things?fail=1", aliceToken, 400, "ops-alice", "POST /api/v1/things", "/api/v1/things", "POST /api/v1/things", true},
		{"read-only token may read", "GET", "/api/v1/events", auditorToken, 200, "", "", "", "", false},
		{"read-only token may not write", "POST", "/api/v1/things", auditorToken, 403, "auditor", "auth.forbidden", "/api/v1/things", "POST /api/v1/things", true},
		{"wrong token", "DELETE", "/api/v1/things/t-9", "not-a-token-0123456789", 401, UnauthenticatedActor, "auth.refused", "/api/v1/things/t-9", "DELETE /api/v1/things/t-9", true},
		{"no token on a read", "GET", "/api/v1/events", "", 401, UnauthenticatedActor, "auth.refused", "/api/v1/events", "GET /api/v1/events", true},
		{"method not allowed, authenticated", "POST", "/api/v1/events", legacyToken, 405, "admin", "POST /api/v1/events", "/api/v1/events", "POST /api/v1/events", true},
		{"reads are not audited", "GET", "/api/v1/config", legacyToken, 503, "", "", "", "", false},
	}
	want := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := e.call(t, st.method, st.path, st.token); got != st.status {
				t.Fatalf("%s %s = %d, want %d", st.method, st.path, got, st.status)
			}
			es := e.entries(t, auditorToken)
			if st.audited {
				want++
			}
			if len(es) != want {
				t.Fatalf("audit entries = %d, want %d: %+v", len(es), want, es)
			}
			if !st.audited {
				return
			}
			got := es[0]
			if got.Actor != st.actor || got.Action != st.action || got.Target != st.target || got.Request != st.request ||
				got.Status != st.status || got.Source != "127.0.0.1" || !got.Time.Equal(e.now) {
				t.Errorf("audit entry = %+v, want actor %s action %s target %s request %q status %d from 127.0.0.1 at %v",
					got, st.actor, st.action, st.target, st.request, st.status, e.now)
			}
		})
	}
	es := e.entries(t, legacyToken)
	if add := es[len(es)-1]; add.After != `{"by":"ops-alice","id":"t1"}` || add.Before != "" {
		t.Errorf("thing.add before/after = %q / %q, want the handler's after", add.Before, add.After)
	}
	if refused := es[2]; !strings.Contains(refused.After, `"reason":"no valid admin bearer token"`) {
		t.Errorf("refused entry after = %q, want the reason", refused.After)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.calls != 2 {
		t.Errorf("handler calls = %d, want 2 (the read-only token never reaches it)", e.calls)
	}
	var rules []string
	for _, ev := range e.events {
		rules = append(rules, ev.Rule)
		if ev.ClientIP != "127.0.0.1" || ev.Verdict != events.VerdictBlock || ev.Kind != events.KindSystem {
			t.Errorf("refusal event = %+v, want a system block event from 127.0.0.1", ev)
		}
	}
	if strings.Join(rules, ",") != "admin.forbidden,admin.unauthorized,admin.unauthorized" {
		t.Errorf("events = %v, want forbidden, unauthorized, unauthorized", rules)
	}
	if ev := e.events[0]; ev.Principal != "auditor" || ev.Category != "API5" {
		t.Errorf("forbidden event = %+v, want principal auditor, API5", ev)
	}
}

// TestAuditRefusalsRateLimited hammers the admin API with a bad token:
// only a burst is recorded, and the next entry counts the rest.
func TestAuditRefusalsRateLimited(t *testing.T) {
	e := newAuditEnv(t)
	for range 100 {
		if got := e.call(t, "GET", "/metrics", "wrong-token-0123456789"); got != 401 {
			t.Fatalf("GET /metrics with a wrong token = %d, want 401", got)
		}
	}
	if n := len(e.entries(t, legacyToken)); n != refusedBurst {
		t.Fatalf("audit entries after 100 refusals = %d, want the burst %d", n, refusedBurst)
	}
	e.mu.Lock()
	e.now = e.now.Add(time.Minute)
	e.mu.Unlock()
	e.call(t, "GET", "/metrics", "wrong-token-0123456789")
	es := e.entries(t, legacyToken)
	if len(es) != refusedBurst+1 || !strings.Contains(es[0].After, `"unrecorded_before":70`) {
		t.Errorf("entry after a minute = %+v (of %d), want unrecorded_before 70", es[0], len(es))
	}
}

func TestSetTokens(t *testing.T) {
	e := newAuditEnv(t)
	if err := e.admin.SetTokens("", []Token{{Name: "ops-bob", Token: "bob-token-0123456789abc"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.call(t, "GET", "/api/v1/audit", aliceToken); got != 401 {
		t.Errorf("a removed token = %d, want 401", got)
	}
	if got := e.call(t, "POST", "/api/v1/things", "bob-token-0123456789abc"); got != 201 {
		t.Errorf("the new token = %d, want 201", got)
	}
	bad := [][]Token{
		nil,
		{{Name: "a", Token: "short"}},
		{{Name: "a", Token: "same-token-0123456789"}, {Name: "b", Token: "same-token-0123456789"}},
		{{Name: "a", Token: "one-token-0123456789"}, {Name: "a", Token: "two-token-0123456789"}},
		{{Name: "a", Token: "one-token-0123456789", Role: "root"}},
	}
	for i, ts := range bad {
		if err := e.admin.SetTokens("", ts); err == nil {
			t.Errorf("SetTokens(bad %d) = nil, want an error", i)
		}
	}
	if got := e.call(t, "POST", "/api/v1/things", "bob-token-0123456789abc"); got != 201 {
		t.Errorf("the token after refused SetTokens = %d, want 201 (kept)", got)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New(no token) = nil, want an error")
	}
}
