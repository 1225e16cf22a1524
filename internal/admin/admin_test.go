package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

const token = "test-admin-token-0123456789"

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	srv   *httptest.Server
	admin *Server
	ready error
}

func newEnv(t *testing.T, withStore bool) *env {
	t.Helper()
	e := &env{}
	var st store.Store
	if withStore {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		evs := []events.Event{
			{Time: t0, Kind: events.KindGuard, API: "pets", Guard: "waf", Rule: "waf.942100", Category: "API8", Verdict: "block", Principal: "alice", ClientIP: "192.0.2.1", RequestID: "r1"},
			{Time: t0.Add(time.Minute), Kind: events.KindGuard, API: "pets", Guard: "authn", Rule: "authn.token_expired", Category: "API2", Verdict: "block", ClientIP: "192.0.2.2", RequestID: "r2"},
			{Time: t0.Add(2 * time.Minute), Kind: events.KindGuard, API: "shop", Guard: "schema", Rule: "schema.type", Category: "API3", Verdict: "observe", Principal: "bob", ClientIP: "192.0.2.1", RequestID: "r3"},
			{Time: t0.Add(3 * time.Minute), Kind: events.KindProtocol, API: "shop", Guard: "normalize", Rule: "normalize.dot_segment", Category: "API8", Verdict: "block", ClientIP: "192.0.2.3", RequestID: "r4"},
			{Time: t0.Add(4 * time.Minute), Kind: events.KindConfig, Verdict: "allow"},
		}
		if err := s.Append(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		st = s
	}
	m := events.NewMetrics()
	m.ConfigReload(true)
	a, err := New(Options{
		Token:   token,
		Store:   st,
		Metrics: m.Handler(),
		Config:  func() any { return map[string]any{"listen": ":8080", "admin": map[string]string{"token": "REDACTED"}} },
		Ready:   func() error { return e.ready },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = a
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request; auth is the Authorization header ("" for none).
func (e *env) do(t *testing.T, method, path, auth string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestNew(t *testing.T) {
	tests := []struct {
		token   string
		wantErr bool
	}{{"", true}, {"short", true}, {"0123456789abcde", true}, {"0123456789abcdef", false}}
	for _, tt := range tests {
		_, err := New(Options{Token: tt.token})
		if (err != nil) != tt.wantErr {
			t.Errorf("New(token %q) error = %v, want error %v", tt.token, err, tt.wantErr)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"healthz open", "GET", "/healthz", "", 200},
		{"readyz open", "GET", "/readyz", "", 200},
		{"events no token", "GET", "/api/v1/events", "", 401},
		{"events wrong token", "GET", "/api/v1/events", "Bearer wrong-token-0123456789", 401},
		{"events token prefix", "GET", "/api/v1/events", "Bearer " + token[:len(token)-1], 401},
		{"events token longer", "GET", "/api/v1/events", "Bearer " + token + "x", 401},
		{"events basic scheme", "GET", "/api/v1/events", "Basic " + token, 401},
		{"events empty bearer", "GET", "/api/v1/events", "Bearer ", 401},
		{"events ok", "GET", "/api/v1/events", "Bearer " + token, 200},
		{"events ok lower-case scheme", "GET", "/api/v1/events", "bearer " + token, 200},
		{"config no token", "GET", "/api/v1/config", "", 401},
		{"config ok", "GET", "/api/v1/config", "Bearer " + token, 200},
		{"metrics no token", "GET", "/metrics", "", 401},
		{"metrics ok", "GET", "/metrics", "Bearer " + token, 200},
		{"unknown api path no token", "GET", "/api/v2/nothing", "", 401},
		{"unknown api path", "GET", "/api/v2/nothing", "Bearer " + token, 404},
		{"unknown path", "GET", "/nothing", "", 404},
		{"wrong method", "POST", "/api/v1/events", "Bearer " + token, 405},
		{"wrong method healthz", "DELETE", "/healthz", "", 405},
		{"token in query", "GET", "/api/v1/events?access_token=" + token, "", 400},
		{"token in query with header", "GET", "/api/v1/events?token=x", "Bearer " + token, 400},
		{"api key in query on healthz", "GET", "/healthz?api_key=x", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, tt.auth)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
			}
			for k, v := range map[string]string{
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %s header %s = %q, want %q", tt.method, tt.path, k, got, v)
				}
			}
			if tt.want >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("%s %s Content-Type = %q, want application/problem+json", tt.method, tt.path, ct)
				}
				var p problem
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tt.want || p.Type == "" || p.Title == "" {
					t.Errorf("%s %s body = %s, want a problem with status %d", tt.method, tt.path, body, tt.want)
				}
				if strings.Contains(string(body), token) {
					t.Errorf("%s %s body echoes the token", tt.method, tt.path)
				}
			}
			if tt.want == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="apiguard-admin"` {
					t.Errorf("WWW-Authenticate = %q, want Bearer realm", got)
				}
			}
			if tt.want == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
			}
		})
	}
}

func TestHandle(t *testing.T) {
	e := newEnv(t, false)
	e.admin.Handle("POST /extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	if resp, _ := e.do(t, "POST", "/extra", ""); resp.StatusCode != 401 {
		t.Errorf("POST /extra without token = %d, want 401", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/extra", "Bearer "+token); resp.StatusCode != 202 {
		t.Errorf("POST /extra with token = %d, want 202", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/extra", "Bearer "+token); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /extra = %d Allow %q, want 405 Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func getEvents(t *testing.T, e *env, query string) (int, eventsPage, []byte) {
	t.Helper()
	resp, body := e.do(t, "GET", "/api/v1/events"+query, "Bearer "+token)
	var page eventsPage
	if resp.StatusCode == 200 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("events Content-Type = %q, want application/json", ct)
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("events body %s: %v", body, err)
		}
	}
	return resp.StatusCode, page, body
}

func pageIDs(p eventsPage) []int64 {
	out := []int64{}
	for _, e := range p.Events {
		out = append(out, e.ID)
	}
	return out
}

func TestEventsFilters(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{5, 4, 3, 2, 1}},
		{"?since=" + url.QueryEscape(t0.Add(2*time.Minute).Format(time.RFC3339)), []int64{5, 4, 3}},
		{"?until=2025-06-01T12:01:00Z", []int64{1}},
		{"?since=2025-06-01T14:00:30%2B02:00&until=2025-06-01T12:03:00Z", []int64{3, 2}},
		{"?kind=protocol", []int64{4}},
		{"?api=shop", []int64{4, 3}},
		{"?guard=waf", []int64{1}},
		{"?rule=authn.token_expired", []int64{2}},
		{"?category=API8", []int64{4, 1}},
		{"?verdict=observe", []int64{3}},
		{"?principal=alice", []int64{1}},
		{"?client_ip=192.0.2.1", []int64{3, 1}},
		{"?request_id=r2", []int64{2}},
		{"?verdict=block&api=pets", []int64{2, 1}},
		{"?before=3", []int64{2, 1}},
		{"?limit=2", []int64{5, 4}},
		{"?guard=nope", []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, page, body := getEvents(t, e, tt.query)
			if code != 200 {
				t.Fatalf("GET events%s = %d %s, want 200", tt.query, code, body)
			}
			if got := pageIDs(page); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GET events%s = ids %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestEventsPagination(t *testing.T) {
	e := newEnv(t, true)
	var all []int64
	q := "?limit=2"
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		code, page, body := getEvents(t, e, q)
		if code != 200 {
			t.Fatalf("GET events%s = %d %s", q, code, body)
		}
		all = append(all, pageIDs(page)...)
		if page.Next == "" {
			break
		}
		q = "?limit=2&before=" + page.Next
	}
	if want := []int64{5, 4, 3, 2, 1}; !reflect.DeepEqual(all, want) {
		t.Errorf("paged ids = %v, want %v", all, want)
	}
	_, page, _ := getEvents(t, e, "?limit=10")
	if page.Next != "" {
		t.Errorf("short page next = %q, want empty", page.Next)
	}
}

func TestEventsBadParams(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct{ query, param string }{
		{"?since=yesterday", "since"},
		{"?until=2025-13-01T00:00:00Z", "until"},
		{"?since=2025-06-02T00:00:00Z&until=2025-06-01T00:00:00Z", "until"},
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?before=-1", "before"},
		{"?before=x", "before"},
		{"?kind=evil", "kind"},
		{"?verdict=maybe", "verdict"},
		{"?category=API11", "category"},
		{"?guard=", "guard"},
		{"?guard=" + strings.Repeat("a", 300), "guard"},
		{"?guard=a&guard=b", "guard"},
		{"?colour=red", "colour"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, _, body := getEvents(t, e, tt.query)
			if code != 400 {
				t.Fatalf("GET events%s = %d %s, want 400", tt.query, code, body)
			}
			var p problem
			if err := json.Unmarshal(body, &p); err != nil || p.Parameter != tt.param || !strings.Contains(p.Detail, tt.param) {
				t.Errorf("GET events%s = %s, want a problem naming %q", tt.query, body, tt.param)
			}
		})
	}
}

func TestEventsNoStore(t *testing.T) {
	e := newEnv(t, false)
	code, _, body := getEvents(t, e, "")
	if code != 503 || !strings.Contains(string(body), `"status":503`) {
		t.Errorf("GET events without store = %d %s, want 503 problem", code, body)
	}
}

func TestReadyz(t *testing.T) {
	e := newEnv(t, false)
	resp, body := e.do(t, "GET", "/readyz", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Errorf("GET /readyz = %d %s, want 200 ready", resp.StatusCode, body)
	}
	e.ready = errors.New("upstream pets unreachable")
	resp, body = e.do(t, "GET", "/readyz", "")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "upstream pets unreachable") {
		t.Errorf("GET /readyz (not ready) = %d %s, want 503 with reason", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/healthz", "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("GET /healthz = %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
	}
}

func TestMetricsAndConfig(t *testing.T) {
	e := newEnv(t, false)
	resp, body := e.do(t, "GET", "/metrics", "Bearer "+token)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `apiguard_config_reloads_total{result="ok"} 1`) {
		t.Errorf("GET /metrics = %d, body lacks apiguard_config_reloads_total", resp.StatusCode)
	}
	resp, body = e.do(t, "GET", "/api/v1/config", "Bearer "+token)
	var cfg map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &cfg) != nil || cfg["listen"] != ":8080" {
		t.Errorf("GET /api/v1/config = %d %s, want the config", resp.StatusCode, body)
	}
}

func TestHandlePathValues(t *testing.T) {
	e := newEnv(t, false)
	e.admin.Handle("DELETE /api/v1/things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.PathValue("id"))
	}))
	resp, body := e.do(t, "DELETE", "/api/v1/things/t-42", "Bearer "+token)
	if resp.StatusCode != http.StatusOK || string(body) != "t-42" {
		t.Errorf("DELETE /api/v1/things/t-42 = %d %q, want 200 \"t-42\" (the path value)", resp.StatusCode, body)
	}
}
