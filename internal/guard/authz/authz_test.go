package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

var (
	alice = &pipeline.Principal{Subject: "1", Roles: []string{"user"}, Scopes: []string{"accounts:read", "accounts:write", "transfers:write"}, Method: "jwt"}
	bob   = &pipeline.Principal{Subject: "2", Roles: []string{"user"}, Scopes: []string{"accounts:read", "accounts:write", "transfers:write"}, Method: "jwt"}
	admin = &pipeline.Principal{Subject: "3", Roles: []string{"admin"}, Scopes: []string{"accounts:read", "accounts:write", "transfers:write", "admin"}, Method: "jwt"}
	odd   = &pipeline.Principal{Subject: "alice", Roles: []string{"user"}}
)

// guards builds the three steps for a spec and a section.
type guards struct {
	spec *openapi.Spec
	fn   *FunctionGuard
	obj  *ObjectGuard
	prop *PropertyGuard
}

func buildAll(t testing.TB, spec []byte, section string) (*guards, error) {
	t.Helper()
	s, err := openapi.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(section), &doc); err != nil {
		t.Fatal(err)
	}
	node := doc.Content[0]
	b := pipeline.Build{API: "test", Spec: s, Services: pipeline.NewServices(pipeline.Services{}), Path: "apis[0].guards.authz",
		Decode: func(v any) (bool, error) { return true, config.DecodeSection(node, "apis[0].guards.authz", v) }}
	g := &guards{spec: s}
	f, err := NewFunction(b)
	if err != nil {
		return nil, err
	}
	o, err := NewObject(b)
	if err != nil {
		return nil, err
	}
	p, err := NewProperty(b)
	if err != nil {
		return nil, err
	}
	g.fn, g.obj, g.prop = f.(*FunctionGuard), o.(*ObjectGuard), p.(*PropertyGuard)
	return g, nil
}

func mustBuild(t testing.TB, spec []byte, section string) *guards {
	t.Helper()
	g, err := buildAll(t, spec, section)
	if err != nil {
		t.Fatalf("building authz: %v", err)
	}
	return g
}

// exchange makes an exchange matched against the spec.
func (g *guards) exchange(method, target string, p *pipeline.Principal, body string, headers ...string) *pipeline.Exchange {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	x := pipeline.NewExchange()
	x.Request, x.Path, x.Principal = r, r.URL.Path, p
	x.BodyLimit = 1 << 20
	x.Operation, x.PathParams, x.MethodMismatch = g.spec.Match(method, r.URL.Path, nil)
	x.MethodMismatch = x.Operation == nil && x.MethodMismatch
	return x
}

// request runs the two request steps in pipeline order.
func (g *guards) request(x *pipeline.Exchange) pipeline.Verdict {
	ctx := context.Background()
	if v, err := g.fn.Request(ctx, x); err != nil || v.Action != pipeline.Continue {
		return v
	}
	v, _ := g.obj.Request(ctx, x)
	return v
}

func TestFunctionLevel(t *testing.T) {
	g := mustBuild(t, demobank.Spec, `{}`)
	tests := []struct {
		name, method, path string
		p                  *pipeline.Principal
		wantRule           string
		wantStatus         int
		wantHeader         string
	}{
		{"user reads own account", "GET", "/api/v1/accounts/101", alice, "", 0, ""},
		{"user calls admin function", "GET", "/api/v1/admin/users", alice, "authz.role_required", 403, ""},
		{"admin calls admin function", "GET", "/api/v1/admin/users", admin, "", 0, ""},
		{"anonymous on a secured operation", "GET", "/api/v1/accounts", nil, "authz.unauthenticated", 401, "Bearer"},
		{"anonymous login", "POST", "/api/v1/auth/login", nil, "", 0, ""},
		{"undocumented path", "GET", "/internal/debug", alice, "authz.unknown_operation", 404, ""},
		{"undocumented method", "DELETE", "/api/v1/accounts/101", admin, "authz.unknown_operation", 405, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := g.exchange(tt.method, tt.path, tt.p, "")
			defer x.Release()
			v, err := g.fn.Request(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			if v.Rule != tt.wantRule || tt.wantRule != "" && (v.Status != tt.wantStatus || v.Action != pipeline.Block) {
				t.Fatalf("Request(%s %s) = %v %d %q, want block %d %q", tt.method, tt.path, v.Action, v.Status, v.Rule, tt.wantStatus, tt.wantRule)
			}
			if tt.wantRule != "" && (v.Category == "" || v.Title == "") {
				t.Errorf("Request(%s %s) verdict %+v lacks category or title", tt.method, tt.path, v)
			}
			if tt.wantHeader != "" {
				got := v.Header.Get("Allow") + v.Header.Get("WWW-Authenticate")
				if !strings.Contains(got, tt.wantHeader) {
					t.Errorf("Request(%s %s) headers = %v, want %q", tt.method, tt.path, v.Header, tt.wantHeader)
				}
			}
		})
	}
}

const oauthSpec = `openapi: 3.1.0
info: {title: t, version: "1"}
security:
  - oauth: [read]
paths:
  /things:
    get:
      operationId: listThings
      responses: {'200': {description: ok}}
    post:
      operationId: createThing
      security:
        - oauth: [write, audit]
        - key: [robot]
      responses: {'201': {description: ok}}
  /public:
    get:
      operationId: pub
      security: [{}, {oauth: [read]}]
      responses: {'200': {description: ok}}
  /ops:
    get:
      operationId: ops
      x-apiguard-roles: [operator]
      responses: {'200': {description: ok}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: "https://idp.example/token", scopes: {read: r, write: w, audit: a}}}
    key:
      type: apiKey
      in: header
      name: X-Key
`

func TestScopesAndRoles(t *testing.T) {
	p := func(roles, scopes string) *pipeline.Principal {
		return &pipeline.Principal{Subject: "s", Roles: strings.Fields(roles), Scopes: strings.Fields(scopes)}
	}
	tests := []struct {
		name, section, method, path string
		pr                          *pipeline.Principal
		wantRule                    string
	}{
		{"document-level scope present", "{}", "GET", "/things", p("", "read"), ""},
		{"document-level scope missing", "{}", "GET", "/things", p("", "write"), "authz.scope_missing"},
		{"AND within a requirement: one of two", "{}", "POST", "/things", p("", "write"), "authz.scope_missing"},
		{"AND within a requirement: both", "{}", "POST", "/things", p("", "write audit"), ""},
		{"OR across requirements: apiKey value as scope", "{}", "POST", "/things", p("", "robot"), ""},
		{"apiKey values read as roles", "{other_scheme_values: roles}", "POST", "/things", p("robot", ""), ""},
		{"apiKey values read as roles: scope does not count", "{other_scheme_values: roles}", "POST", "/things", p("", "robot"), "authz.scope_missing"},
		{"anonymous alternative", "{}", "GET", "/public", nil, ""},
		{"x-apiguard-roles missing", "{}", "GET", "/ops", p("user", "read"), "authz.role_required"},
		{"x-apiguard-roles present", "{}", "GET", "/ops", p("operator", "read"), ""},
		{"config roles replace the spec's", "{roles: {ops: [sre]}}", "GET", "/ops", p("operator", "read"), "authz.role_required"},
		{"config roles on another operation", "{roles: {listThings: [sre]}}", "GET", "/things", p("user", "read"), "authz.role_required"},
		{"unknown path, monitor", "{unknown_operation: monitor}", "GET", "/nope", p("", ""), "authz.unknown_operation"},
		{"unknown path, allow", "{unknown_operation: allow}", "GET", "/nope", p("", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustBuild(t, []byte(oauthSpec), tt.section)
			x := g.exchange(tt.method, tt.path, tt.pr, "")
			defer x.Release()
			v, _ := g.fn.Request(context.Background(), x)
			if v.Rule != tt.wantRule {
				t.Fatalf("Request(%s %s) = %q (%s), want %q", tt.method, tt.path, v.Rule, v.Detail, tt.wantRule)
			}
			if tt.wantRule == "authz.scope_missing" && !strings.Contains(v.Header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("scope_missing header = %v, want insufficient_scope", v.Header)
			}
			if tt.section == "{unknown_operation: monitor}" && v.Action != pipeline.Observe {
				t.Errorf("monitor verdict action = %v, want observe", v.Action)
			}
		})
	}
}

const rulesSection = `
rules:
  getUser: {request: 'path.userId == principal.sub || "admin" in principal.roles'}
  getAccount:
    response: 'response.body.owner_id == int(principal.sub) || "admin" in principal.roles'
  createTransfer: {request: 'body.currency == "EUR" && headers["x-tenant"] == "t1" && query.dry == "no"'}
  listAccounts: {request: 'int(principal.sub) > 0'}
`

func TestObjectRules(t *testing.T) {
	g := mustBuild(t, demobank.Spec, rulesSection)
	tests := []struct {
		name, method, path, body string
		p                        *pipeline.Principal
		headers                  []string
		wantRule                 string
	}{
		{"own user", "GET", "/api/v1/users/1", "", alice, nil, ""},
		{"other user", "GET", "/api/v1/users/2", "", alice, nil, "authz.object_denied"},
		{"admin reads any user", "GET", "/api/v1/users/2", "", admin, nil, ""},
		{"body, header and query", "POST", "/api/v1/transfers?dry=no", `{"currency":"EUR"}`, alice, []string{"X-Tenant", "t1"}, ""},
		{"body mismatch", "POST", "/api/v1/transfers?dry=no", `{"currency":"USD"}`, alice, []string{"X-Tenant", "t1"}, "authz.object_denied"},
		{"header missing is an error: fail closed", "POST", "/api/v1/transfers?dry=no", `{"currency":"EUR"}`, alice, nil, "authz.rule_error"},
		{"body not JSON", "POST", "/api/v1/transfers?dry=no", `{"currency":`, alice, []string{"X-Tenant", "t1"}, "authz.body_unparsable"},
		{"runtime error: fail closed", "GET", "/api/v1/accounts", "", odd, nil, "authz.rule_error"},
		{"runtime ok", "GET", "/api/v1/accounts", "", alice, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := g.exchange(tt.method, tt.path, tt.p, tt.body, tt.headers...)
			defer x.Release()
			v := g.request(x)
			if v.Rule != tt.wantRule {
				t.Fatalf("Request(%s %s) = %q (%s), want %q", tt.method, tt.path, v.Rule, v.Detail, tt.wantRule)
			}
			if tt.wantRule != "" && (v.Status < 400 || v.Action != pipeline.Block) {
				t.Errorf("Request(%s %s) = %v %d, want a block", tt.method, tt.path, v.Action, v.Status)
			}
		})
	}
}

func TestRulesInSpec(t *testing.T) {
	spec := strings.Replace(string(demobank.Spec), "      operationId: getUser\n",
		"      operationId: getUser\n      x-apiguard-authz: {request: 'path.userId == principal.sub'}\n", 1)
	g := mustBuild(t, []byte(spec), `{}`)
	for _, tt := range []struct {
		path string
		want string
	}{{"/api/v1/users/1", ""}, {"/api/v1/users/2", "authz.object_denied"}} {
		x := g.exchange("GET", tt.path, alice, "")
		if v := g.request(x); v.Rule != tt.want {
			t.Errorf("Request(GET %s) = %q, want %q", tt.path, v.Rule, tt.want)
		}
		x.Release()
	}
	// Config replaces the spec's rule.
	g = mustBuild(t, []byte(spec), `{rules: {getUser: {request: "true"}}}`)
	x := g.exchange("GET", "/api/v1/users/2", alice, "")
	defer x.Release()
	if v := g.request(x); v.Rule != "" {
		t.Errorf("Request with config rule true = %q, want allowed", v.Rule)
	}
}

func TestLoadErrors(t *testing.T) {
	badSpec := strings.Replace(string(demobank.Spec), "      operationId: getUser\n",
		"      operationId: getUser\n      x-apiguard-authz: {request: 'path.userId == 1'}\n", 1)
	tests := []struct {
		name, spec, section, want string
	}{
		{"type error names the operation", "", `{rules: {getUser: {request: 'principal.sub + 1 == 2'}}}`, "rules.getUser.request"},
		{"not a bool", "", `{rules: {getUser: {request: 'principal.sub'}}}`, "must evaluate to a bool"},
		{"undeclared variable", "", `{rules: {getUser: {request: 'principal.subject == "1"'}}}`, "rules.getUser.request"},
		{"syntax error", "", `{rules: {getAccount: {response: 'response.body.owner_id =='}}}`, "rules.getAccount.response"},
		{"response variables only in response rules", "", `{rules: {getAccount: {request: 'response.status == 200'}}}`, "rules.getAccount.request"},
		{"type error in the spec names the operation", badSpec, `{}`, "spec operation getUser x-apiguard-authz.request"},
		{"unknown operation in rules", "", `{rules: {nosuch: {request: 'true'}}}`, "rules.nosuch"},
		{"unknown operation in roles", "", `{roles: {nosuch: [a]}}`, "roles.nosuch"},
		{"bad unknown_operation", "", `{unknown_operation: maybe}`, "unknown_operation"},
		{"bad oversize_response", "", `{oversize_response: truncate}`, "oversize_response"},
		{"access cache too long", "", `{access_cache: {ttl: 1h}}`, "access_cache.ttl"},
		{"access cache negative size", "", `{access_cache: {ttl: 10s, max_entries: -1}}`, "access_cache.max_entries"},
		{"unknown field", "", `{rulez: {}}`, "rulez"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := []byte(tt.spec)
			if tt.spec == "" {
				spec = demobank.Spec
			}
			_, err := buildAll(t, spec, tt.section)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("build(%s) error = %v, want one containing %q", tt.section, err, tt.want)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	section := `{cost_limit: 1000, rules: {postOpen: {request: 'body.items.all(i, body.items.all(j, i == j || i != j))'}}}`
	g := mustBuild(t, []byte(propSpec), section)
	items := make([]int, 200)
	for i := range items {
		items[i] = i
	}
	small, _ := json.Marshal(map[string]any{"items": items[:3]})
	big, _ := json.Marshal(map[string]any{"items": items})
	for _, tt := range []struct {
		name, body, want string
	}{{"within the limit", string(small), ""}, {"over the limit", string(big), "authz.rule_error"}} {
		t.Run(tt.name, func(t *testing.T) {
			x := g.exchange("POST", "/open", alice, tt.body)
			defer x.Release()
			v := g.request(x)
			if v.Rule != tt.want {
				t.Fatalf("Request(%s) = %q (%s), want %q", tt.name, v.Rule, v.Detail, tt.want)
			}
			if tt.want != "" && !strings.Contains(v.Detail, "cost") {
				t.Errorf("Detail = %q, want it to name the cost limit", v.Detail)
			}
		})
	}
}

func TestCanceledContextStopsRule(t *testing.T) {
	g := mustBuild(t, demobank.Spec, `{rules: {createTransfer: {request: 'body.items.all(i, body.items.all(j, i == j || i != j))'}}}`)
	items := make([]int, 300)
	body, _ := json.Marshal(map[string]any{"items": items})
	x := g.exchange("POST", "/api/v1/transfers", alice, string(body))
	defer x.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, _ := g.obj.Request(ctx, x)
	if v.Rule != "authz.rule_error" {
		t.Fatalf("Request(canceled) = %q, want authz.rule_error", v.Rule)
	}
}

const propSpec = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /docs/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    put:
      operationId: putDoc
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Doc'}
          text/plain:
            schema: {type: string}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Doc'}
    get:
      operationId: getDoc
      responses:
        '200':
          description: ok
          content:
            application/problem+json:
              schema: {$ref: '#/components/schemas/Doc'}
        default:
          description: error
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Err'}
  /open:
    post:
      operationId: postOpen
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                choice:
                  oneOf:
                    - {type: object, additionalProperties: false, properties: {a: {type: string}}}
                    - {type: object, additionalProperties: false, properties: {b: {type: string}}}
      responses: {'200': {description: ok}}
components:
  schemas:
    Id: {type: string, readOnly: true}
    Base:
      type: object
      properties:
        id: {$ref: '#/components/schemas/Id'}
        secret: {type: string, writeOnly: true}
    Doc:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties:
            title: {type: string}
            owner:
              type: string
              x-apiguard-write-roles: [admin]
              x-apiguard-read-roles: [admin, auditor]
            children:
              type: array
              items: {$ref: '#/components/schemas/Doc'}
            meta:
              type: object
              additionalProperties:
                type: object
                properties:
                  token: {type: string, writeOnly: true}
            variant:
              anyOf:
                - {type: object, properties: {pin: {type: string, writeOnly: true}}}
                - {type: string}
    Err:
      type: object
      properties:
        trace: {type: string, writeOnly: true}
`

func TestWriteProperties(t *testing.T) {
	g := mustBuild(t, []byte(propSpec), `{}`)
	dg := mustBuild(t, demobank.Spec, `{}`)
	user := &pipeline.Principal{Subject: "u", Roles: []string{"user"}}
	boss := &pipeline.Principal{Subject: "b", Roles: []string{"admin"}}
	tests := []struct {
		name    string
		g       *guards
		method  string
		path    string
		p       *pipeline.Principal
		body    string
		ctype   string
		wantPtr []string
	}{
		{"demobank: role", dg, "PATCH", "/api/v1/users/1", alice, `{"role":"admin"}`, "", []string{"/role"}},
		{"demobank: role, balance, isAdmin", dg, "PATCH", "/api/v1/users/1", alice, `{"role":"admin","balance":1000000,"isAdmin":true,"email":"a@b.example"}`, "", []string{"/balance", "/isAdmin", "/role"}},
		{"demobank: allowed fields", dg, "PATCH", "/api/v1/users/1", alice, `{"email":"a@b.example"}`, "", nil},
		{"demobank: text/plain body is still checked", dg, "PATCH", "/api/v1/users/1", alice, `{"role":"admin"}`, "text/plain", []string{"/role"}},
		{"readOnly through $ref and allOf", g, "PUT", "/docs/1", user, `{"id":"x","title":"t"}`, "", []string{"/id"}},
		{"write role missing", g, "PUT", "/docs/1", user, `{"owner":"me"}`, "", []string{"/owner"}},
		{"write role present", g, "PUT", "/docs/1", boss, `{"owner":"me"}`, "", nil},
		{"nested in a recursive array", g, "PUT", "/docs/1", user, `{"children":[{"title":"a"},{"children":[{"id":"z"}]}]}`, "", []string{"/children/1/children/0/id"}},
		{"writeOnly may be written", g, "PUT", "/docs/1", user, `{"secret":"s"}`, "", nil},
		{"declared other media type is not parsed", g, "PUT", "/docs/1", user, `{"id":"x"}`, "text/plain", nil},
		{"oneOf branches do not close each other", g, "POST", "/open", user, `{"choice":{"a":"1"}}`, "", nil},
		{"hostile member names are not echoed", dg, "PATCH", "/api/v1/users/1", alice, `{"<script>":1}`, "", []string{"/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			x := tt.g.exchange(tt.method, tt.path, tt.p, tt.body, hdr...)
			defer x.Release()
			v := tt.g.request(x)
			var got []string
			for _, e := range v.Errors {
				got = append(got, e.Pointer)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantPtr, ",") {
				t.Fatalf("Request(%s) pointers = %v (%q %s), want %v", tt.body, got, v.Rule, v.Detail, tt.wantPtr)
			}
			if len(tt.wantPtr) > 0 && (v.Rule != "authz.readonly_property" || v.Status != 400 || v.Category != "API3") {
				t.Errorf("Request(%s) = %q %d %s, want authz.readonly_property 400 API3", tt.body, v.Rule, v.Status, v.Category)
			}
		})
	}
}

// respond runs the property step on an answer and returns the verdict
// and the body the client gets.
func (g *guards) respond(t *testing.T, x *pipeline.Exchange, status int, ctype, body string) (pipeline.Verdict, string) {
	t.Helper()
	resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
	if ctype != "" {
		resp.Header.Set("Content-Type", ctype)
	}
	v, err := g.prop.Response(context.Background(), x, resp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return v, string(b)
}

func TestReadProperties(t *testing.T) {
	g := mustBuild(t, []byte(propSpec), `{}`)
	dg := mustBuild(t, demobank.Spec, `{}`)
	kg := mustBuild(t, demobank.Spec, `{remove_undeclared: false}`)
	user := &pipeline.Principal{Subject: "u", Roles: []string{"user"}}
	auditor := &pipeline.Principal{Subject: "a", Roles: []string{"auditor"}}
	doc := `{"id":"1","title":"t","secret":"s","owner":"o","children":[{"id":"2","secret":"s2","children":[{"secret":"s3"}]}],"meta":{"x":{"token":"t","keep":1}},"variant":{"pin":"1234"}}`
	tests := []struct {
		name      string
		g         *guards
		path      string
		method    string
		p         *pipeline.Principal
		status    int
		ctype     string
		body      string
		want      string // the filtered body, "" for unchanged
		wantRule  string
		wantBlock int
	}{
		{"demobank: password_hash removed", dg, "/api/v1/users/2", "GET", bob, 200, "application/json",
			`{"id":2,"username":"bob","password_hash":"pbkdf2$x","balance":1800.00}`, `{"balance":1800.00,"id":2,"username":"bob"}`, "authz.property_removed", 0},
		{"demobank: nested in a list", dg, "/api/v1/admin/users", "GET", admin, 200, "application/json",
			`{"items":[{"id":1,"password_hash":"h1"},{"id":2,"password_hash":"h2"}]}`, `{"items":[{"id":1},{"id":2}]}`, "authz.property_removed", 0},
		{"demobank: nothing to remove", dg, "/api/v1/users/2", "GET", bob, 200, "application/json", `{"id":2}`, "", "", 0},
		{"nested, arrays, refs, allOf, additionalProperties, anyOf, read roles", g, "/docs/1", "PUT", user, 200, "application/json", doc,
			`{"children":[{"children":[{}],"id":"2"}],"id":"1","meta":{"x":{"keep":1}},"title":"t","variant":{}}`, "authz.property_removed", 0},
		{"read role present keeps owner", g, "/docs/1", "PUT", auditor, 200, "application/json", `{"owner":"o","secret":"s"}`, `{"owner":"o"}`, "authz.property_removed", 0},
		{"problem+json media type and default response", g, "/docs/1", "GET", user, 500, "application/json", `{"trace":"goroutine 1"}`, `{}`, "authz.property_removed", 0},
		{"unparsable answer fails closed", dg, "/api/v1/users/2", "GET", bob, 200, "application/json", `{"password_hash":`, "", "authz.response_unparsable", 502},
		{"JSON under another content type is still filtered", dg, "/api/v1/users/2", "GET", bob, 200, "text/plain", `{"password_hash":"h"}`, `{}`, "authz.property_removed", 0},
		{"undeclared members of a closed schema removed", dg, "/api/v1/users/2", "GET", bob, 200, "application/json", `{"id":2,"ssn":"219-09-9999"}`, `{"id":2}`, "authz.property_removed", 0},
		{"error answer per its own schema", dg, "/api/v1/users/2", "GET", bob, 404, "application/json", `{"error":"not found","status":404}`, "", "", 0},
		{"undeclared kept when configured", kg, "/api/v1/users/2", "GET", bob, 200, "application/json", `{"id":2,"ssn":"219-09-9999"}`, "", "", 0},
		{"empty body", dg, "/api/v1/users/2", "GET", bob, 200, "application/json", ``, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.g.exchange(tt.method, tt.path, tt.p, "")
			defer x.Release()
			v, got := tt.g.respond(t, x, tt.status, tt.ctype, tt.body)
			if v.Rule != tt.wantRule {
				t.Fatalf("Response(%s) rule = %q (%s), want %q", tt.body, v.Rule, v.Detail, tt.wantRule)
			}
			if tt.wantBlock != 0 {
				if v.Action != pipeline.Block || v.Status != tt.wantBlock {
					t.Errorf("Response(%s) = %v %d, want block %d", tt.body, v.Action, v.Status, tt.wantBlock)
				}
				return
			}
			want := tt.want
			if want == "" {
				want = tt.body
			}
			if got != want {
				t.Errorf("Response(%s) body = %s, want %s", tt.body, got, want)
			}
		})
	}
}

func TestResponseRules(t *testing.T) {
	g := mustBuild(t, demobank.Spec, rulesSection+`  updateUser: {response: 'response.body.id == int(principal.sub)'}
`)
	acct := func(owner int) string {
		return `{"id":102,"owner_id":` + json.Number(itoa(owner)).String() + `,"balance":1800.00}`
	}
	tests := []struct {
		name     string
		p        *pipeline.Principal
		status   int
		body     string
		wantRule string
	}{
		{"owner", bob, 200, acct(2), ""},
		{"not the owner", alice, 200, acct(2), "authz.object_denied"},
		{"admin", admin, 200, acct(2), ""},
		{"unparsable answer fails closed", alice, 200, `{"owner_id":`, "authz.rule_error"},
		{"missing member fails closed", alice, 200, `{"id":102}`, "authz.rule_error"},
		{"not a 2xx: no object to check", alice, 404, `{"error":"not found","status":404}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := g.exchange("GET", "/api/v1/accounts/102", tt.p, "")
			defer x.Release()
			v, _ := g.respond(t, x, tt.status, "application/json", tt.body)
			if v.Rule != tt.wantRule {
				t.Fatalf("Response(%s) = %q (%s), want %q", tt.body, v.Rule, v.Detail, tt.wantRule)
			}
			if tt.wantRule != "" && (v.Action != pipeline.Block || v.Status != 403) {
				t.Errorf("Response(%s) = %v %d, want block 403", tt.body, v.Action, v.Status)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestOversizeAndEncodedAnswers(t *testing.T) {
	big := `{"id":2,"pad":"` + strings.Repeat("a", 200) + `","password_hash":"h"}`
	tests := []struct {
		name, section, encoding string
		wantRule                string
		wantAction              pipeline.Action
		wantBody                string
	}{
		{"too large: block by default", `{max_response_bytes: 100}`, "", "authz.response_too_large", pipeline.Block, ""},
		{"too large: pass", `{max_response_bytes: 100, oversize_response: pass}`, "", "authz.response_unchecked", pipeline.Observe, big},
		{"encoded answer fails closed", `{}`, "gzip", "authz.response_encoded", pipeline.Block, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustBuild(t, demobank.Spec, tt.section)
			x := g.exchange("GET", "/api/v1/users/2", bob, "")
			defer x.Release()
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(big))}
			if tt.encoding != "" {
				resp.Header.Set("Content-Encoding", tt.encoding)
			}
			v, err := g.prop.Response(context.Background(), x, resp)
			if err != nil {
				t.Fatal(err)
			}
			if v.Rule != tt.wantRule || v.Action != tt.wantAction {
				t.Fatalf("Response() = %v %q, want %v %q", v.Action, v.Rule, tt.wantAction, tt.wantRule)
			}
			if tt.wantAction == pipeline.Block && v.Status != 502 {
				t.Errorf("Response() status = %d, want 502", v.Status)
			}
			if tt.wantBody != "" {
				b, _ := io.ReadAll(resp.Body)
				if string(b) != tt.wantBody {
					t.Errorf("passed body = %s, want the whole answer", b)
				}
			}
		})
	}
}

func TestObjectStepAsksForUnencodedAnswers(t *testing.T) {
	g := mustBuild(t, demobank.Spec, `{remove_undeclared: false}`)
	for _, tt := range []struct {
		path string
		want string
	}{{"/api/v1/users/2", ""}, {"/api/v1/accounts", "gzip"}} {
		x := g.exchange("GET", tt.path, bob, "", "Accept-Encoding", "gzip")
		g.request(x)
		if got := x.Request.Header.Get("Accept-Encoding"); got != tt.want {
			t.Errorf("Accept-Encoding after Request(GET %s) = %q, want %q", tt.path, got, tt.want)
		}
		x.Release()
	}
}

func TestMonitorModeDoesNotRewrite(t *testing.T) {
	g := mustBuild(t, demobank.Spec, `{mode: monitor}`)
	x := g.exchange("GET", "/api/v1/users/2", bob, "")
	defer x.Release()
	body := `{"id":2,"password_hash":"h"}`
	v, got := g.respond(t, x, 200, "application/json", body)
	if v.Rule != "authz.property_removed" || got != body {
		t.Fatalf("monitor Response() = %q, body %s; want an observation and the body unchanged", v.Rule, got)
	}
}

func TestRefCycleCompiles(t *testing.T) {
	spec := `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      operationId: a
      responses:
        '200':
          description: ok
          content: {application/json: {schema: {$ref: '#/components/schemas/A'}}}
components:
  schemas:
    A: {allOf: [{$ref: '#/components/schemas/B'}], properties: {next: {$ref: '#/components/schemas/A'}}}
    B: {allOf: [{$ref: '#/components/schemas/A'}], properties: {pw: {type: string, writeOnly: true}}}
`
	g := mustBuild(t, []byte(spec), `{}`)
	x := g.exchange("GET", "/a", alice, "")
	defer x.Release()
	_, got := g.respond(t, x, 200, "application/json", `{"pw":"1","next":{"pw":"2","next":{"pw":"3","x":1}}}`)
	if want := `{"next":{"next":{"x":1}}}`; got != want {
		t.Errorf("Response() = %s, want %s", got, want)
	}
}

// FuzzFilter feeds arbitrary answers and request bodies through the read
// filter and the write check of demobank's and the test spec's plans: no
// panic, the filtered answer is JSON, and no writeOnly member survives at
// a place the plan covers.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`{"id":2,"password_hash":"h"}`,
		`{"items":[{"password_hash":"h"},{"id":1}]}`,
		`{"children":[{"secret":"s","children":[{"secret":1}]}],"meta":{"a":{"token":"t"}}}`,
		`[1,2,{"a":null}]`, `"x"`, `null`, `{"items":{"password_hash":1}}`, `{"a":1,"a":2}`,
	} {
		f.Add(s)
	}
	dg := mustBuild(f, demobank.Spec, `{}`)
	g := mustBuild(f, []byte(propSpec), `{}`)
	user := &pipeline.Principal{Subject: "u", Roles: []string{"user"}}
	targets := []struct {
		g            *guards
		method, path string
	}{{dg, "GET", "/api/v1/users/2"}, {dg, "GET", "/api/v1/admin/users"}, {g, "PUT", "/docs/1"}}
	f.Fuzz(func(t *testing.T, body string) {
		for _, tg := range targets {
			x := tg.g.exchange(tg.method, tg.path, user, "")
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
			v, err := tg.g.prop.Response(context.Background(), x, resp)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			if v.Rule == "authz.property_removed" {
				var doc any
				if err := json.Unmarshal(out, &doc); err != nil {
					t.Fatalf("filtered answer %q is not JSON: %v", out, err)
				}
				if strings.Contains(string(out), `"password_hash"`) && tg.path == "/api/v1/users/2" {
					if m, ok := doc.(map[string]any); ok {
						if _, leaked := m["password_hash"]; leaked {
							t.Fatalf("password_hash survived: %s", out)
						}
					}
				}
			}
			x.Release()
			// The same bytes as a request body for the write check.
			wx := tg.g.exchange("PUT", "/docs/1", user, body)
			if v, _ := g.obj.Request(context.Background(), wx); v.Action == pipeline.Block && v.Status != 400 && v.Status != 413 {
				t.Fatalf("write check of %q = %d %q, want 400 or 413", body, v.Status, v.Rule)
			}
			wx.Release()
		}
	})
}

// BenchmarkRoleAndRule is one role check (authz.function on an
// x-apiguard-roles operation) and one CEL rule (authz.object) with a
// principal already known, as after authn's cache hit.
func BenchmarkRoleAndRule(b *testing.B) {
	spec := strings.Replace(string(demobank.Spec), "      operationId: getUser\n",
		"      operationId: getUser\n      x-apiguard-roles: [user, admin]\n", 1)
	g := mustBuild(b, []byte(spec), rulesSection)
	r := httptest.NewRequest("GET", "/api/v1/users/1", nil)
	op, params, _ := g.spec.Match("GET", "/api/v1/users/1", nil)
	b.ReportAllocs()
	for b.Loop() {
		x := pipeline.NewExchange()
		x.Request, x.Path, x.Principal, x.Operation, x.PathParams = r, r.URL.Path, alice, op, params
		if v := g.request(x); v.Action != pipeline.Continue {
			b.Fatalf("blocked: %s %s", v.Rule, v.Detail)
		}
		x.Release()
	}
}

// BenchmarkReadFilter removes password_hash from a 1000-user list.
func BenchmarkReadFilter(b *testing.B) {
	g := mustBuild(b, demobank.Spec, `{}`)
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":` + itoa(i+1) + `,"username":"u","password_hash":"pbkdf2$600000$abc","role":"user","balance":1.5}`)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		x := g.exchange("GET", "/api/v1/admin/users", admin, "")
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
		if v, _ := g.prop.Response(ctx, x, resp); v.Rule != "authz.property_removed" {
			b.Fatal(v.Rule)
		}
		x.Release()
	}
}

func TestDeprecatedOperation(t *testing.T) {
	spec := []byte(`openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /v0/users/{id}:
    get: {operationId: getUserV0, deprecated: true, security: []}
  /v1/users/{id}:
    get: {operationId: getUser, security: []}
`)
	tests := []struct {
		setting, path string
		want          pipeline.Action
		wantStatus    int
	}{
		{"", "/v0/users/1", pipeline.Continue, 0},
		{"allow", "/v0/users/1", pipeline.Continue, 0},
		{"monitor", "/v0/users/1", pipeline.Observe, 0},
		{"deny", "/v0/users/1", pipeline.Block, 410},
		{"deny", "/v1/users/1", pipeline.Continue, 0},
	}
	for _, tt := range tests {
		t.Run(tt.setting+" "+tt.path, func(t *testing.T) {
			s, err := openapi.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			section := "{}"
			if tt.setting != "" {
				section = "{deprecated_operation: " + tt.setting + "}"
			}
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(section), &node); err != nil {
				t.Fatal(err)
			}
			g, err := NewFunction(pipeline.Build{API: "t", Spec: s, Services: pipeline.NewServices(pipeline.Services{}),
				Decode: func(v any) (bool, error) { return true, node.Content[0].Decode(v) }})
			if err != nil {
				t.Fatal(err)
			}
			x := pipeline.NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("GET", tt.path, nil)
			x.Path = tt.path
			x.Operation, _, _ = s.Match("GET", tt.path, nil)
			v, err := g.(*FunctionGuard).Request(context.Background(), x)
			if err != nil || v.Action != tt.want || v.Action == pipeline.Block && v.Status != tt.wantStatus {
				t.Errorf("Request(%s) with deprecated_operation=%q = %v %d, %v; want %v %d", tt.path, tt.setting, v.Action, v.Status, err, tt.want, tt.wantStatus)
			}
		})
	}
}

// TestSharedParsedAnswer checks that the property step uses the answer an
// earlier guard parsed, and leaves the shared value consistent with the
// body it passes on.
func TestSharedParsedAnswer(t *testing.T) {
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			g := mustBuild(t, demobank.Spec, `{mode: `+mode+`}`)
			x := g.exchange("GET", "/api/v1/users/2", bob, "")
			defer x.Release()
			body := `{"id":2,"password_hash":"h"}`
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
			if _, err := x.ResponseBody(resp, 1<<20); err != nil {
				t.Fatal(err)
			}
			x.SetResponseJSON(map[string]any{"id": json.Number("2"), "password_hash": "h"})
			v, err := g.prop.Response(context.Background(), x, resp)
			if err != nil || v.Rule != "authz.property_removed" {
				t.Fatalf("Response() = %q, %v, want authz.property_removed", v.Rule, err)
			}
			got, _ := io.ReadAll(resp.Body)
			shared, ok := x.ResponseJSON()
			switch mode {
			case "enforce":
				m, _ := shared.(map[string]any)
				if !ok || m == nil || m["password_hash"] != nil || string(got) != `{"id":2}` {
					t.Errorf("after filtering: body %s, shared value %v (%v); want {\"id\":2} in both", got, shared, ok)
				}
			case "monitor":
				if ok || string(got) != body {
					t.Errorf("after monitoring: body %s, shared value kept %v; want the body unchanged and the filtered value forgotten", got, ok)
				}
			}
		})
	}
}
