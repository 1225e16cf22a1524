package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/store"
	"github.com/apiguard/apiguard/internal/testsvc"
)

const shopSpec = `
openapi: 3.1.0
info: {title: shop, version: "1"}
security: [{bearer: []}]
paths:
  /api/v1/users/{userId}:
    get: {operationId: getUser, responses: {"200": {description: ok}}}
  /api/v1/users/me:
    get: {operationId: getMe, responses: {"200": {description: ok}}}
  /api/v1/health:
    get: {operationId: health, security: [], responses: {"200": {description: ok}}}
  /api/v1/old:
    get: {operationId: old, deprecated: true, responses: {"200": {description: ok}}}
  /api/v1/orders:
    get: {operationId: listOrders, responses: {"200": {description: ok}}}
    post: {operationId: createOrder, responses: {"201": {description: ok}}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
`

func mustSpec(t testing.TB, doc string) *openapi.Spec {
	t.Helper()
	s, err := openapi.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("openapi.Parse: %v", err)
	}
	return s
}

// ex describes one exchange for the tests.
type ex struct {
	method, path string
	status       int
	token        bool   // sends a bearer token
	query        string // raw query
	respBody     string // JSON answer
	reqBody      string
	reqType      string
	blocked      bool
	client       string
	principal    string
	dlp          string // dlp rule recorded
}

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func (e ex) observation(api string, spec *openapi.Spec, i int) *observe.Observation {
	path, query, _ := strings.Cut(e.path, "?")
	if e.query != "" {
		query = e.query
	}
	o := &observe.Observation{Time: t0.Add(time.Duration(i) * time.Second), Method: e.method, Path: path, RawQuery: query,
		Host: "api.example.com", Status: e.status, Upstreamed: !e.blocked, Blocked: e.blocked,
		RequestHeader: http.Header{"User-Agent": {"test"}}, Latency: time.Duration(1+i%7) * time.Millisecond,
		Principal: e.principal}
	Match(o, api, spec)
	if e.token {
		o.RequestHeader.Set("Authorization", "Bearer secret-token")
		o.Credential = observe.Fingerprint("Bearer secret-token")
	}
	if e.respBody != "" {
		o.ResponseBody, o.ResponseContentType = []byte(e.respBody), "application/json; charset=utf-8"
	}
	if e.reqBody != "" {
		o.RequestBody, o.RequestContentType = []byte(e.reqBody), e.reqType
		o.RequestHeader.Set("Content-Type", e.reqType)
	}
	c := e.client
	if c == "" {
		c = "192.0.2.1"
	}
	o.ClientIP = netip.MustParseAddr(c)
	if e.dlp != "" {
		o.Decisions = []observe.Decision{{Guard: "dlp", Rule: e.dlp, Category: "API3", Action: "observe"}}
	}
	return o
}

func feed(inv *Inventory, api string, spec *openapi.Spec, exs ...ex) {
	for i, e := range exs {
		inv.Observe(e.observation(api, spec, i))
	}
}

func find(t *testing.T, r APIReport, method, path string) *Endpoint {
	t.Helper()
	for i := range r.Endpoints {
		if e := &r.Endpoints[i]; e.Method == method && e.Path == path {
			return e
		}
	}
	var have []string
	for _, e := range r.Endpoints {
		have = append(have, e.Method+" "+e.Path)
	}
	t.Fatalf("no endpoint %s %s in %v", method, path, have)
	return nil
}

func TestClassification(t *testing.T) {
	spec := mustSpec(t, shopSpec)
	inv := New(Options{})
	inv.SetSpec("shop", spec)
	feed(inv, "shop", spec,
		ex{method: "GET", path: "/api/v1/users/1", status: 200, token: true, principal: "1",
			respBody: `{"id":1,"name":"Alice","email":"alice@example.com","ssn":"078-05-1120"}`},
		ex{method: "GET", path: "/api/v1/users/2", status: 200, token: true, principal: "2", client: "192.0.2.2",
			respBody: `{"id":2,"name":"Bob","email":"bob@example.com","ssn":"219-09-9999"}`},
		ex{method: "GET", path: "/api/v1/health", status: 200},
		ex{method: "GET", path: "/api/v1/old", status: 200, token: true},
		ex{method: "GET", path: "/api/v0/users/7", status: 200},
		ex{method: "DELETE", path: "/api/v1/users/1", status: 204, token: true},
		ex{method: "GET", path: "/internal/debug", status: 200, respBody: `{"db":"postgres://app@db/app"}`},
		ex{method: "GET", path: "/nope", status: 404},
		ex{method: "GET", path: "/internal/blocked", status: 403, blocked: true},
		ex{method: "GET", path: "/api/v1/orders", query: "limit=5&status=open&access_token=x", status: 200},
		ex{method: "GET", path: "/api/v1/orders", query: "limit=abc", status: 400, token: true, dlp: "dlp.email"},
	)
	rep := inv.Report(Filter{})
	if len(rep.APIs) != 1 || rep.APIs[0].Name != "shop" || rep.APIs[0].Spec != "shop" || rep.Observed != 11 {
		t.Fatalf("Report() = %+v, want one API shop with 11 exchanges", rep)
	}
	r := rep.APIs[0]
	tests := []struct {
		method, path string
		classes      []string
		reason       string // a substring of the reasons
	}{
		{"GET", "/api/v1/users/{userId}", []string{ClassDocumented, ClassSensitive}, "email, ssn"},
		{"GET", "/api/v1/health", []string{ClassDocumented}, ""},
		{"GET", "/api/v1/old", []string{ClassDocumented, ClassZombie}, "deprecated in the spec"},
		{"GET", "/api/v0/users/{userId}", []string{ClassShadow, ClassZombie, ClassUnauthenticated}, "version v0 is older than the documented v1 (GET /api/v1/users/{userId})"},
		{"DELETE", "/api/v1/users/{userId}", []string{ClassShadow}, "does not document DELETE"},
		{"GET", "/internal/debug", []string{ClassShadow, ClassUnauthenticated}, "answered 2xx once"},
		// access_token in the query is a credential (seen as auth "query").
		{"GET", "/api/v1/orders", []string{ClassDocumented, ClassSensitive}, "answers hold email"},
		{"GET", "/api/v1/users/me", []string{ClassDocumented, ClassUnused}, "never called"},
		{"POST", "/api/v1/orders", []string{ClassDocumented, ClassUnused}, "never called"},
	}
	for _, tt := range tests {
		e := find(t, r, tt.method, tt.path)
		if !slices.Equal(e.Classes, tt.classes) {
			t.Errorf("%s %s classes = %v, want %v (reasons %q)", tt.method, tt.path, e.Classes, tt.classes, e.Reasons)
		}
		if tt.reason != "" && !strings.Contains(strings.Join(e.Reasons, "\n"), tt.reason) {
			t.Errorf("%s %s reasons = %q, want one with %q", tt.method, tt.path, e.Reasons, tt.reason)
		}
	}
	if len(r.Endpoints) != len(tests) {
		t.Errorf("%d endpoints, want %d (404s and blocked undocumented exchanges make none)", len(r.Endpoints), len(tests))
	}
	if r.Unanswered != 2 {
		t.Errorf("Unanswered = %d, want 2", r.Unanswered)
	}
	if r.Classes[ClassUnused] != 2 || r.Classes[ClassShadow] != 3 || r.Classes[ClassZombie] != 2 || r.Classes[ClassUnauthenticated] != 2 {
		t.Errorf("class counts = %v", r.Classes)
	}

	users := find(t, r, "GET", "/api/v1/users/{userId}")
	if users.Operation != "getUser" || users.Count != 2 || users.Clients != 2 || users.Principals != 2 ||
		!slices.Equal(users.Auth, []string{"bearer"}) || !slices.Equal(users.Hosts, []string{"api.example.com"}) {
		t.Errorf("getUser = %+v", users)
	}
	if len(users.Parameters) != 1 || users.Parameters[0].Name != "userId" || users.Parameters[0].Kind != segInteger ||
		!users.Parameters[0].Type.Has("integer") {
		t.Errorf("getUser parameters = %+v, want userId, integer", users.Parameters)
	}
	body := users.Responses[0].Body
	if body == nil || !slices.Equal(body.Required, []string{"email", "id", "name", "ssn"}) ||
		body.Properties["email"].Format != "email" || body.Properties["ssn"].Sensitive != "ssn" ||
		body.Properties["ssn"].Example != "" || body.Properties["name"].Example != "Xxxxx" || !body.Properties["id"].Type.Has("integer") {
		raw, _ := json.Marshal(body)
		t.Errorf("getUser answer schema = %s", raw)
	}
	orders := find(t, r, "GET", "/api/v1/orders")
	var q []string
	for _, p := range orders.Parameters {
		q = append(q, fmt.Sprintf("%s:%s:%v:%v", p.In, p.Name, p.Type.Names(), p.Required))
	}
	want := []string{"query:access_token:[string]:false", "query:limit:[integer string]:true", "query:status:[string]:false"}
	if !slices.Equal(q, want) {
		t.Errorf("listOrders parameters = %v, want %v", q, want)
	}
	if !slices.Equal(orders.Auth, []string{"bearer", "query"}) || orders.Anonymous != 0 {
		t.Errorf("listOrders auth = %v anonymous %d, want bearer and query, none anonymous", orders.Auth, orders.Anonymous)
	}
	if len(orders.Responses) != 2 || orders.Responses[0].Status != 200 || orders.Responses[1].Status != 400 {
		t.Errorf("listOrders responses = %+v", orders.Responses)
	}

	// Filters.
	if got := inv.Report(Filter{Class: ClassZombie}).APIs[0].Endpoints; len(got) != 2 {
		t.Errorf("Report(class zombie) = %d endpoints, want 2", len(got))
	}
	if got := inv.Report(Filter{API: "other"}).APIs; len(got) != 0 {
		t.Errorf("Report(api other) = %d APIs, want 0", len(got))
	}
}

func TestNoSpecNoDocumentedClasses(t *testing.T) {
	inv := New(Options{})
	feed(inv, "raw", nil, ex{method: "GET", path: "/a/1", status: 200, respBody: `{"password":"x"}`})
	e := inv.Report(Filter{}).APIs[0].Endpoints[0]
	if e.Path != "/a/{aId}" || !slices.Equal(e.Classes, []string{ClassUnauthenticated, ClassSensitive}) {
		t.Errorf("endpoint without spec = %s %v, want /a/{aId} unauthenticated, sensitive", e.Path, e.Classes)
	}
}

func TestMaxEndpointsOtherBucket(t *testing.T) {
	inv := New(Options{MaxEndpoints: 3})
	for i := 0; i < 10; i++ {
		feed(inv, "api", nil, ex{method: "GET", path: fmt.Sprintf("/r%c", 'a'+i), status: 200})
	}
	r := inv.Report(Filter{}).APIs[0]
	if len(r.Endpoints) != 3 || r.Other.Count != 7 || r.Other.FirstSeen.IsZero() {
		t.Errorf("endpoints %d, other %+v, want 3 and 7", len(r.Endpoints), r.Other)
	}
}

// TestCollapseMergesEndpoints: once a prefix collapses, the endpoints
// learned for its literals merge into the templated one.
func TestCollapseMergesEndpoints(t *testing.T) {
	inv := New(Options{MaxLiterals: 4})
	var exs []ex
	for i := 0; i < 8; i++ {
		exs = append(exs, ex{method: "GET", path: "/posts/" + []string{"red", "blue", "green", "pink", "gray", "teal", "navy", "gold"}[i],
			status: 200, client: fmt.Sprintf("192.0.2.%d", i+1), respBody: fmt.Sprintf(`{"title":"t","n%d":1}`, i%2)})
	}
	feed(inv, "api", nil, exs...)
	r := inv.Report(Filter{}).APIs[0]
	if len(r.Endpoints) != 1 {
		var have []string
		for _, e := range r.Endpoints {
			have = append(have, e.Path)
		}
		t.Fatalf("endpoints = %v, want only /posts/{postId}", have)
	}
	e := r.Endpoints[0]
	if e.Path != "/posts/{postId}" || e.Count != 8 || e.Clients != 8 || len(e.Parameters) != 1 || e.Parameters[0].Kind != segSlug ||
		e.Parameters[0].Count != 8 {
		t.Errorf("merged endpoint = %s count %d clients %d params %+v", e.Path, e.Count, e.Clients, e.Parameters)
	}
	if b := e.Responses[0].Body; b == nil || b.Seen != 8 || !slices.Equal(b.Required, []string{"title"}) || len(b.Properties) != 3 {
		raw, _ := json.Marshal(b)
		t.Errorf("merged schema = %s, want 8 objects, title required, n0 and n1 optional", raw)
	}
}

func TestSamplingAndBodies(t *testing.T) {
	inv := New(Options{SampleFirst: 2, SampleEvery: 5})
	var exs []ex
	for i := 0; i < 20; i++ {
		exs = append(exs, ex{method: "POST", path: "/login", status: 200, reqType: "application/x-www-form-urlencoded",
			reqBody: fmt.Sprintf("user=u%d&password=p%d&remember=true", i, i), respBody: `{"access_token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.c2ln","expires_in":900}`})
	}
	feed(inv, "api", nil, exs...)
	e := inv.Report(Filter{}).APIs[0].Endpoints[0]
	// Sampled: exchanges 1, 2, 5, 10, 15, 20.
	if e.Sampled != 6 {
		t.Errorf("Sampled = %d, want 6", e.Sampled)
	}
	rb := e.RequestBody
	if rb == nil || !rb.Properties["remember"].Type.Has("boolean") || rb.Properties["password"].Sensitive != "password" ||
		rb.Properties["password"].Example != "" || rb.Properties["user"].Example != "x0" {
		raw, _ := json.Marshal(rb)
		t.Errorf("form request schema = %s", raw)
	}
	// A password sent by the client is not a sensitive answer; the token
	// answered is.
	if !slices.Equal(e.Sensitive, []string{"jwt", "token"}) {
		t.Errorf("Sensitive = %v, want jwt, token (from the answer only)", e.Sensitive)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	engines := []struct {
		name string
		open func(t *testing.T) store.DB
	}{
		{"sqlite", func(t *testing.T) store.DB {
			s, err := store.Open(context.Background(), store.DriverSQLite, filepath.Join(t.TempDir(), "a.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"postgres", func(t *testing.T) store.DB {
			s, err := store.Open(context.Background(), store.DriverPostgres, testsvc.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	spec := mustSpec(t, shopSpec)
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			db := eng.open(t)
			defer db.Close()
			st := db.(store.InventoryStore)
			ctx := context.Background()
			inv := New(Options{MaxLiterals: 4, Now: func() time.Time { return t0 }})
			inv.SetSpec("shop", spec)
			feed(inv, "shop", spec,
				ex{method: "GET", path: "/api/v1/users/1", status: 200, token: true, respBody: `{"id":1,"email":"a@example.com"}`},
				ex{method: "GET", path: "/api/v0/users/7", status: 200},
				ex{method: "GET", path: "/tags/a", status: 200}, ex{method: "GET", path: "/tags/b", status: 200},
				ex{method: "GET", path: "/tags/c", status: 200}, ex{method: "GET", path: "/tags/d", status: 200},
				ex{method: "GET", path: "/tags/e", status: 200}, ex{method: "GET", path: "/nope", status: 404})
			for i := 0; i < 300; i++ {
				feed(inv, "shop", spec, ex{method: "GET", path: "/api/v1/health", status: 200, client: fmt.Sprintf("10.0.%d.%d", i/256, i%256)})
			}
			if err := inv.Snapshot(ctx, st); err != nil {
				t.Fatalf("Snapshot() = %v", err)
			}
			back := New(Options{MaxLiterals: 4, Now: func() time.Time { return t0 }})
			back.SetSpec("shop", spec)
			if err := back.Restore(ctx, st); err != nil {
				t.Fatalf("Restore() = %v", err)
			}
			want, _ := json.Marshal(inv.Report(Filter{}).APIs)
			got, _ := json.Marshal(back.Report(Filter{}).APIs)
			if string(got) != string(want) {
				t.Errorf("restored report differs:\n got %s\nwant %s", got, want)
			}
			// The restored tree keeps what it learned: /tags collapsed.
			feed(back, "shop", spec, ex{method: "GET", path: "/tags/zzz", status: 200})
			if e := find(t, back.Report(Filter{}).APIs[0], "GET", "/tags/{tagId}"); e.Count != 6 {
				t.Errorf("after restore, /tags/zzz went to %s (count %d), want /tags/{tagId} with 6", e.Path, e.Count)
			}
			// Nothing changed: the next snapshot writes nothing.
			if err := inv.Snapshot(ctx, failingStore{}); err != nil {
				t.Errorf("Snapshot() of an unchanged inventory = %v, want nothing written", err)
			}
		})
	}
}

type failingStore struct{}

func (failingStore) PutInventory(context.Context, store.InventorySnapshot) error {
	return fmt.Errorf("store down")
}
func (failingStore) Inventories(context.Context) ([]store.InventorySnapshot, error) { return nil, nil }
