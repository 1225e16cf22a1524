package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

// testSpec is a small API: a login, a list and item of things, a
// recursive schema and a write with readOnly members.
const testSpec = `
openapi: 3.1.0
info: {title: things, version: "1"}
servers: [{url: /api}]
security: [{bearer: []}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    Base:
      type: object
      properties:
        id: {type: integer, readOnly: true}
    Thing:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          required: [name]
          properties:
            name: {type: string, minLength: 3, maxLength: 20}
            owner_id: {type: integer}
            role: {type: string, enum: [user, admin], readOnly: true}
            parent: {$ref: '#/components/schemas/Thing'}
            email: {type: string, format: email}
            tags: {type: array, minItems: 2, items: {type: string}}
paths:
  /login:
    post:
      operationId: signIn
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [user, password, client]
              properties:
                user: {type: string}
                password: {type: string}
                client: {type: string, const: web}
      responses:
        '200': {description: ok}
  /things:
    get:
      operationId: listThings
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {items: {type: array, items: {$ref: '#/components/schemas/Thing'}}}}
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '201': {description: created}
  /things/{thingId}:
    parameters:
      - {name: thingId, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      operationId: getThing
      parameters:
        - {name: verbose, in: query, required: true, schema: {type: boolean}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        4XX: {description: client error}
`

func testModel(t *testing.T) (*openapi.Spec, []*Operation) {
	t.Helper()
	spec, err := openapi.Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := buildModel(spec)
	return spec, ops
}

func opByID(ops []*Operation, id string) *Operation {
	for _, o := range ops {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func TestModel(t *testing.T) {
	_, ops := testModel(t)
	create := opByID(ops, "createThing")
	if create == nil || create.Body == nil {
		t.Fatal("createThing has no body schema")
	}
	body := create.Body
	if got, want := body.Order, []string{"id", "name", "owner_id", "role", "parent", "email", "tags"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Thing properties = %v, want %v (allOf merged in order)", got, want)
	}
	if !body.Prop("id").ReadOnly || !body.Prop("role").ReadOnly || body.Prop("name").ReadOnly {
		t.Errorf("readOnly flags: id %v role %v name %v, want true true false", body.Prop("id").ReadOnly, body.Prop("role").ReadOnly, body.Prop("name").ReadOnly)
	}
	if body.Prop("parent") != body {
		t.Errorf("recursive $ref: parent = %p, want the Thing schema %p", body.Prop("parent"), body)
	}
	if !body.IsRequired("name") || body.IsRequired("id") {
		t.Errorf("required = %v, want [name]", body.Required)
	}
	get := opByID(ops, "getThing")
	if len(get.Params) != 2 || get.Params[0].Name != "thingId" || !get.Params[1].Required {
		t.Errorf("getThing params = %+v", get.Params)
	}
	if get.Path != "/api/things/{thingId}" || !get.Secured() {
		t.Errorf("getThing path %q secured %v, want /api/things/{thingId} true", get.Path, get.Secured())
	}
	if opByID(ops, "signIn").Secured() {
		t.Error("signIn (security: []) is secured")
	}
	if !get.Documented(404) || get.Documented(500) || get.ResponseSchema(200) != body {
		t.Errorf("responses: 404 documented %v, 500 %v", get.Documented(404), get.Documented(500))
	}
}

func TestNames(t *testing.T) {
	cases := []struct{ fn, in, got, want string }{
		{"ParamResource", "userId", ParamResource("userId", "/users/{userId}"), "user"},
		{"ParamResource", "account_id", ParamResource("account_id", "/x/{account_id}"), "account"},
		{"ParamResource", "id", ParamResource("id", "/api/categories/{id}"), "category"},
		{"ParamResource", "webhookId", ParamResource("webhookId", "/webhooks/{webhookId}/test"), "webhook"},
		{"CollectionResource", "/api/v1/accounts", CollectionResource("/api/v1/accounts"), "account"},
		{"CollectionResource", "/users/{id}", CollectionResource("/users/{id}"), "user"},
		{"CollectionResource", "/api/v1/search", CollectionResource("/api/v1/search"), ""},
		{"CollectionResource", "/api/v1", CollectionResource("/api/v1"), ""},
		{"CollectionResource", "/addresses", CollectionResource("/addresses"), "address"},
		{"Singular", "statuses", Singular("statuses"), "statuse"},
		{"Singular", "boxes", Singular("boxes"), "box"},
		{"Singular", "status", Singular("status"), "status"},
		{"FillPath", "/a/{x}/b/{y}", FillPath("/a/{x}/b/{y}", map[string]string{"x": "1 2", "y": "z"}), "/a/1%202/b/z"},
		{"FillPath", "/a/{x}", FillPath("/a/{x}", nil), "/a/{x}"},
		{"shellQuote", "it's", shellQuote("it's"), `'it'\''s'`},
		{"shellQuote", "plain", shellQuote("http://h/p"), "http://h/p"},
		{"shellName", "bob-2", shellName("bob-2"), "BOB_2"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.fn, c.in, c.got, c.want)
		}
	}
	res, qual := RefResource("from_account_id")
	if res != "account" || !reflect.DeepEqual(qual, []string{"from"}) {
		t.Errorf("RefResource(from_account_id) = %q %v, want account [from]", res, qual)
	}
	if res, _ := RefResource("amount"); res != "" {
		t.Errorf("RefResource(amount) = %q, want \"\"", res)
	}
	if got, want := Words("HTTPServerURL_v2-name"), []string{"http", "server", "url", "v2", "name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Words = %v, want %v", got, want)
	}
}

func TestSample(t *testing.T) {
	_, ops := testModel(t)
	thing := opByID(ops, "createThing").Body
	cases := []struct {
		name string
		sc   *Schema
		want any
	}{
		{"name", thing.Prop("name"), "apiguard scan"},
		{"email", thing.Prop("email"), "apiguard-scan@example.com"},
		{"tags", thing.Prop("tags"), []any{"apiguard-scan", "apiguard-scan"}},
		{"role", thing.Prop("role"), "user"},
		{"int min", &Schema{Type: "integer", Minimum: ptr(5.0)}, 5.0},
		{"exclusive", &Schema{Type: "integer", Minimum: ptr(5.0), ExclusiveMinimum: true}, 6.0},
		{"number", &Schema{Type: "number", Minimum: ptr(0.01)}, 0.01},
		{"pattern", &Schema{Type: "string", Pattern: `^[A-Z]{2}[0-9]{2}$`}, "AB12"},
		{"short", &Schema{Type: "string", MaxLength: ptrInt(3)}, "api"},
	}
	for _, c := range cases {
		if got := Sample(c.sc, c.name); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Sample(%s) = %#v, want %#v", c.name, got, c.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }
func ptrInt(i int) *int      { return &i }

// testAPI is a target for the engine tests: /api/login answers a JWT
// for any user, /api/things lists the caller's things, /api/big answers
// 2 MiB, /api/redirect points elsewhere.
func testAPI(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	mux := http.NewServeMux()
	tok := func(user string) string {
		return EncodeJWTPart(map[string]any{"alg": "none"}) + "." + EncodeJWTPart(map[string]any{"sub": user}) + ".signature-of-" + user
	}
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user := "u1"
		if strings.Contains(string(body), `"user":"bob"`) {
			user = "u2"
		}
		fmt.Fprintf(w, `{"session":{"token":%q}}`, tok(user))
	})
	mux.HandleFunc("GET /api/things", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), "u2") {
			fmt.Fprint(w, `{"items":[{"id":20,"name":"bobs"}]}`)
			return
		}
		fmt.Fprint(w, `{"items":[{"id":10,"name":"alices"},{"id":11,"name":"alices2"}]}`)
	})
	mux.HandleFunc("GET /api/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%s,"name":"thing %s"}`, r.PathValue("id"), r.PathValue("id"))
	})
	mux.HandleFunc("GET /api/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
	})
	mux.HandleFunc("GET /api/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/", http.StatusFound)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func testSession(t *testing.T, mutate func(*Options)) (*Session, *atomic.Int64) {
	t.Helper()
	srv, hits := testAPI(t)
	spec, err := openapi.Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Spec: spec, Target: srv.URL, Rate: 1000, TokenPath: "session.token",
		Users: []Credential{{Username: "alice", Password: "alice-secret-pw"}, {Username: "bob", Password: "bob-secret-pw"}}}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := NewSession(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s, hits
}

func TestLoginAndState(t *testing.T) {
	s, _ := testSession(t, nil)
	users := s.Users()
	if len(users) != 2 || users[0].Subject != "u1" || users[1].Subject != "u2" {
		t.Fatalf("users = %+v, want subjects u1, u2", users)
	}
	if s.LoginOp == nil || s.LoginOp.ID != "signIn" || s.LoginUserField != "user" || s.LoginPassField != "password" {
		t.Fatalf("login op = %v %q %q", s.LoginOp, s.LoginUserField, s.LoginPassField)
	}
	if got := s.LoginBody("a", "b", nil)["client"]; got != "web" {
		t.Errorf("login body client = %v, want the const web", got)
	}
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Owned(users[0], "thing"); !reflect.DeepEqual(got, []string{"10", "11"}) {
		t.Errorf("alice owns things %v, want [10 11]", got)
	}
	if got := s.Owned(users[1], "thing"); !reflect.DeepEqual(got, []string{"20"}) {
		t.Errorf("bob owns things %v, want [20]", got)
	}
	req, err := s.Build(opByID(s.Ops, "getThing"), users[1])
	if err != nil || req.PathParams["thingId"] != "20" || req.Query.Get("verbose") != "false" {
		t.Errorf("Build(getThing, bob) = %+v, %v; want thingId 20, verbose=false", req, err)
	}
	if s.OwnerOf("thing", "20") != users[1] {
		t.Errorf("OwnerOf(thing, 20) = %v, want bob", s.OwnerOf("thing", "20"))
	}
}

func TestDoBounds(t *testing.T) {
	t.Run("scope", func(t *testing.T) {
		s, hits := testSession(t, nil)
		before := hits.Load()
		for _, p := range []string{"http://example.com/x", "//example.com/x", "https://" + s.Target.Host + "/x"} {
			if _, err := s.Do(context.Background(), nil, &Request{Path: p}); !errors.Is(err, ErrScope) {
				t.Errorf("Do(%s) = %v, want ErrScope", p, err)
			}
		}
		r, err := s.Do(context.Background(), nil, &Request{Path: "/api/redirect"})
		if err != nil || r.Status != http.StatusFound {
			t.Errorf("redirect = %v %v, want the 302 itself (not followed)", r, err)
		}
		if got := hits.Load() - before; got != 1 {
			t.Errorf("target hits = %d, want 1", got)
		}
	})
	t.Run("destructive", func(t *testing.T) {
		s, _ := testSession(t, nil)
		if _, err := s.Do(context.Background(), nil, &Request{Op: opByID(s.Ops, "createThing")}); !errors.Is(err, ErrDestructive) {
			t.Errorf("POST without AllowDestructive = %v, want ErrDestructive", err)
		}
		if r, err := s.Do(context.Background(), nil, s.LoginRequest("alice", "x", nil)); err != nil || !r.OK() {
			t.Errorf("login without AllowDestructive = %v %v, want allowed", r, err)
		}
	})
	t.Run("budget", func(t *testing.T) {
		s, _ := testSession(t, func(o *Options) { o.Budget = 4 }) // two logins spend two
		for i := 0; i < 2; i++ {
			if _, err := s.Do(context.Background(), nil, &Request{Path: "/api/things"}); err != nil {
				t.Fatalf("request %d within the budget: %v", i, err)
			}
		}
		if _, err := s.Do(context.Background(), nil, &Request{Path: "/api/things"}); !errors.Is(err, ErrBudget) {
			t.Errorf("request past the budget = %v, want ErrBudget", err)
		}
		if rs, err := s.Burst(context.Background(), nil, 10, func(int) *Request { return &Request{Path: "/api/things"} }, nil); !errors.Is(err, ErrBudget) || len(rs) != 0 {
			t.Errorf("Burst past the budget = %d answers, %v; want none and ErrBudget", len(rs), err)
		}
	})
	t.Run("time", func(t *testing.T) {
		now := time.Unix(1000, 0)
		s, _ := testSession(t, func(o *Options) {
			o.Timeout = time.Minute
			o.Now = func() time.Time { return now }
		})
		now = now.Add(time.Minute)
		if _, err := s.Do(context.Background(), nil, &Request{Path: "/api/things"}); !errors.Is(err, ErrBudget) {
			t.Errorf("request after the time bound = %v, want ErrBudget", err)
		}
	})
	t.Run("body cap", func(t *testing.T) {
		s, _ := testSession(t, nil)
		r, err := s.Do(context.Background(), nil, &Request{Path: "/api/big"})
		if err != nil || len(r.Body) != MaxBodyBytes || !r.Truncated || r.JSON() != nil {
			t.Errorf("2 MiB answer: %d bytes, truncated %v, err %v; want %d, true", len(r.Body), r.Truncated, err, MaxBodyBytes)
		}
	})
	t.Run("burst", func(t *testing.T) {
		s, _ := testSession(t, nil)
		rs, err := s.Burst(context.Background(), nil, MaxBurst+50, func(int) *Request { return &Request{Path: "/api/things"} },
			func(r *Response) bool { return r.Seq > 40 })
		if err != nil || len(rs) == 0 || rs[len(rs)-1].Seq != 41 {
			t.Errorf("Burst stopping after seq 41 = %d answers, %v", len(rs), err)
		}
		rs, err = s.Burst(context.Background(), nil, MaxBurst+50, func(int) *Request { return &Request{Path: "/api/things"} }, nil)
		if err != nil || len(rs) != MaxBurst {
			t.Errorf("Burst(%d) = %d answers, %v; want %d", MaxBurst+50, len(rs), err, MaxBurst)
		}
	})
}

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBucket(10, func() time.Time { return now })
	var waits []time.Duration
	for i := 0; i < 4; i++ {
		waits = append(waits, b.reserve())
	}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("reserve x4 at 10/s burst 2 = %v, want %v", waits, want)
	}
	now = now.Add(time.Second)
	if w := b.reserve(); w != 0 {
		t.Errorf("reserve after a second = %v, want 0", w)
	}
}

func TestReportRedactsAndDedupes(t *testing.T) {
	s, _ := testSession(t, nil)
	alice := s.Users()[0]
	r, err := s.Do(context.Background(), alice, &Request{Op: opByID(s.Ops, "listThings"), Query: map[string][]string{"access_token": {alice.Token}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Report(Finding{Rule: "scan.test", Category: "API2", Severity: report.Medium, Title: "t", Evidence: "token " + alice.Token + " and alice-secret-pw", Exchange: r})
	s.Report(Finding{Rule: "scan.test", Category: "API2", Severity: report.High, Title: "t2", Exchange: r})
	s.Report(Finding{Rule: "scan.test", Category: "API2", Severity: report.Low, Title: "t3", Exchange: r})
	fs := s.Findings()
	if len(fs) != 1 || fs[0].Severity != report.High {
		t.Fatalf("findings = %+v, want one, the high one", fs)
	}
	f := fs[0]
	for _, secret := range []string{alice.Token, "signature-of-u1", "alice-secret-pw"} {
		if strings.Contains(f.Reproduce+f.Evidence+f.Title, secret) {
			t.Errorf("finding shows a secret %q: %s / %s", secret, f.Reproduce, f.Evidence)
		}
	}
	if !strings.Contains(f.Reproduce, `'Authorization: Bearer '"${TOKEN_ALICE}"`) || !strings.Contains(f.Reproduce, `access_token='"${TOKEN_ALICE}"`) {
		t.Errorf("reproduction = %s, want $TOKEN_ALICE in the header and the query", f.Reproduce)
	}
	if f.Location.Operation != "listThings" || f.Location.Method != "GET" || !strings.HasSuffix(f.Location.URL, "/api/things") {
		t.Errorf("location = %+v", f.Location)
	}
	s.Report(Finding{Rule: "scan.test", Category: "API2", Title: "no exchange", Key: "other"})
	if fs := s.Findings(); len(fs) != 2 || !strings.HasPrefix(fs[1].Reproduce, "curl -si ") {
		t.Errorf("a finding without an exchange: %+v, want a curl line for the target", fs)
	}
	if got := s.Redact("x " + alice.Token[:len(alice.Token)-3]); strings.Contains(got, "$TOKEN") {
		t.Errorf("Redact of a token prefix = %q: only registered values are replaced", got)
	}
}

func TestSameData(t *testing.T) {
	resp := func(status int, body string) *Response { return &Response{Status: status, Body: []byte(body)} }
	owner := resp(200, `{"id":1,"name":"Alice Example","email":"a@x.example","balance":2500,"active":true}`)
	cases := []struct {
		name  string
		other *Response
		want  bool
	}{
		{"identical", resp(200, string(owner.Body)), true},
		{"masked fields", resp(200, `{"id":1,"name":"Alice Example","email":"*****","balance":2500,"active":true}`), true},
		{"other object", resp(200, `{"id":2,"name":"Bob","email":"b@x.example","balance":10,"active":true}`), false},
		{"refused", resp(404, `{"id":1,"name":"Alice Example"}`), false},
		{"not json", resp(200, `Alice Example`), false},
		{"empty object", resp(200, `{}`), false},
	}
	for _, c := range cases {
		if got := SameData(owner, c.other); got != c.want {
			t.Errorf("SameData(owner, %s) = %v, want %v", c.name, got, c.want)
		}
	}
	if SameData(resp(200, `{}`), resp(200, `{}`)) {
		t.Error("SameData of two empty objects = true, want false (no data)")
	}
}

func TestCompare(t *testing.T) {
	f := func(rule, op string) report.Finding {
		return report.Finding{Rule: rule, Severity: report.High, Location: report.Location{Method: "GET", Operation: op}}
	}
	direct := &report.Report{Target: "http://api", Findings: []report.Finding{f("scan.bola", "getUser"), f("scan.bfla", "admin")}}
	through := &report.Report{Target: "http://gw", Findings: []report.Finding{f("scan.bfla", "admin"), f("scan.new", "x")}}
	got := Compare(direct, through)
	want := map[string]string{"scan.bola": report.GatewayClosed, "scan.bfla": report.GatewayRemaining, "scan.new": report.GatewayOnly}
	if got.Gateway != "http://gw" || len(got.Findings) != 3 {
		t.Fatalf("Compare = %+v", got)
	}
	for _, f := range got.Findings {
		if f.Gateway != want[f.Rule] {
			t.Errorf("Compare: %s gateway = %q, want %q", f.Rule, f.Gateway, want[f.Rule])
		}
	}
	if n := len(Remaining(got)); n != 2 {
		t.Errorf("Remaining = %d findings, want 2", n)
	}
	if direct.Findings[0].Gateway != "" {
		t.Error("Compare changed its input")
	}
}

func TestFindLoginOp(t *testing.T) {
	_, ops := testModel(t)
	if op, u, p, err := FindLoginOp(ops, ""); err != nil || op.ID != "signIn" || u != "user" || p != "password" {
		t.Errorf("FindLoginOp = %v %q %q %v", op, u, p, err)
	}
	if _, _, _, err := FindLoginOp(ops, "listThings"); err == nil {
		t.Error("FindLoginOp(listThings) = nil error, want: no credentials in its body")
	}
	if _, _, _, err := FindLoginOp(ops, "nope"); err == nil {
		t.Error("FindLoginOp(nope) = nil error")
	}
}

// An identity given as an opaque header learns its subject from a "me"
// operation.
func TestSubjectFromMe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "key-of-carol" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"id":"c-7","name":"carol"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	spec, err := openapi.Parse([]byte(`
openapi: 3.0.3
info: {title: me, version: "1"}
servers: [{url: /api}]
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
paths:
  /me:
    get:
      responses: {'200': {description: ok}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(context.Background(), Options{Spec: spec, Target: srv.URL,
		Users: []Credential{{Name: "carol", Header: http.Header{"X-Key": {"key-of-carol"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	carol := s.Users()[0]
	if carol.Subject != "c-7" || !reflect.DeepEqual(s.Owned(carol, "user"), []string{"c-7"}) {
		t.Errorf("carol's subject = %q, owned users %v; want c-7", carol.Subject, s.Owned(carol, "user"))
	}
	if got := s.Redact("X-Key: key-of-carol"); got != "X-Key: $TOKEN_CAROL" {
		t.Errorf("Redact = %q, want the header value as $TOKEN_CAROL", got)
	}
}

// A throttled login is retried once after Retry-After; a second refusal
// ends the scan with an error naming the identity.
func TestLoginThrottled(t *testing.T) {
	for _, c := range []struct {
		name    string
		refuse  int64
		wantErr bool
	}{{"once", 1, false}, {"twice", 2, true}} {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= c.refuse {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				fmt.Fprint(w, `{"session":{"token":"opaque-token-123"}}`)
			}))
			t.Cleanup(srv.Close)
			spec, err := openapi.Parse([]byte(testSpec))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewSession(context.Background(), Options{Spec: spec, Target: srv.URL, TokenPath: "session.token",
				Users: []Credential{{Username: "alice", Password: "pw-alice-1"}}})
			if (err != nil) != c.wantErr || c.wantErr && !strings.Contains(err.Error(), "alice") {
				t.Errorf("NewSession with %d throttled logins = %v, want error %v", c.refuse, err, c.wantErr)
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("login requests = %d, want 2", got)
			}
		})
	}
}

type namedCheck string

func (c namedCheck) Name() string                        { return string(c) }
func (c namedCheck) Category() string                    { return "API1" }
func (c namedCheck) Run(context.Context, *Session) error { return nil }

// Progress: one line per step when not a terminal, a redrawn line on one.
func TestProgress(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var buf strings.Builder
		s, _ := testSession(t, func(o *Options) {
			o.Progress, o.TTY = &syncWriter{w: &buf}, tty
			o.Checks = []Check{namedCheck("scan.one"), namedCheck("scan.two")}
		})
		if _, err := s.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !tty && (!strings.Contains(out, "scan: [1/3] discovery") || !strings.Contains(out, "scan: [3/3] scan.two") || strings.Contains(out, "\r")) {
			t.Errorf("plain progress = %q", out)
		}
		if tty && (!strings.Contains(out, "\r\x1b[Kscan [") || !strings.Contains(out, "3/3 scan.two")) {
			t.Errorf("terminal progress = %q", out)
		}
		if !strings.Contains(out, "scan: done,") {
			t.Errorf("progress (tty %v) has no final line: %q", tty, out)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// A login that answers a session cookie instead of a token: the cookie
// is the identity's credential, and a secret in reports.
func TestLoginCookie(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "session-of-alice-42", HttpOnly: true})
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	spec, err := openapi.Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(context.Background(), Options{Spec: spec, Target: srv.URL, Users: []Credential{{Username: "alice", Password: "pw-alice-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := s.Users()[0]
	if got := alice.Header.Get("Cookie"); got != "sid=session-of-alice-42" || alice.Token != "" {
		t.Errorf("alice's credentials = Cookie %q, token %q; want the session cookie", got, alice.Token)
	}
	if got := s.Redact("Cookie: sid=session-of-alice-42"); got != "Cookie: sid=$TOKEN_ALICE" {
		t.Errorf("Redact = %q", got)
	}
}
