package ssrf

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

const testSpec = `
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /fetch/{target}:
    parameters:
      - $ref: '#/components/parameters/Target'
    get:
      operationId: fetch
      parameters:
        - name: next
          in: query
          schema: {type: string, format: uri-reference}
        - name: mirrors
          in: query
          schema: {type: array, items: {type: string, format: url}}
        - name: plain
          in: query
          schema: {type: string}
  /hooks:
    post:
      operationId: hooks
      requestBody:
        $ref: '#/components/requestBodies/Hooks'
  /tree:
    post:
      operationId: tree
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Node'}
components:
  parameters:
    Target:
      name: target
      in: path
      required: true
      schema: {type: string, format: uri-reference}
  requestBodies:
    Hooks:
      content:
        application/json:
          schema:
            type: object
            properties:
              callback: {$ref: '#/components/schemas/Url'}
              targets:
                type: array
                items:
                  allOf:
                    - type: object
                      properties:
                        href: {type: string, format: iri}
              headers:
                type: object
                additionalProperties: {type: string, format: uri}
              note: {type: string}
  schemas:
    Url: {type: string, format: uri}
    Node:
      type: object
      properties:
        link: {type: string, format: uri}
        children:
          type: array
          items: {$ref: '#/components/schemas/Node'}
`

func loadSpec(t testing.TB, s string) *openapi.Spec {
	t.Helper()
	spec, err := openapi.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func opByID(spec *openapi.Spec, id string) *openapi.Operation {
	for _, op := range spec.Operations {
		if op.ID == id {
			return op
		}
	}
	return nil
}

func TestTargetsFromSpec(t *testing.T) {
	spec := loadSpec(t, testSpec)
	g, err := Compile(Config{Fields: []string{"/extra"}, Operations: map[string]OperationConfig{"hooks": {Params: []string{"redirect"}}}}, spec, names)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op   string
		want []string
	}{
		{"fetch", []string{"path:target", "query:mirrors", "query:next", "body:/extra"}},
		{"hooks", []string{"body:/callback", "body:/headers/*", "body:/targets/*/href", "query:redirect", "path:redirect", "body:/extra"}},
		{"tree", []string{"body:/**/link", "body:/link", "body:/extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			got := g.Targets(opByID(spec, tt.op))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Targets(%s) = %q, want %q", tt.op, got, tt.want)
			}
		})
	}
	demo := loadSpec(t, string(demobank.Spec))
	g, err = Compile(Config{}, demo, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"importAvatar", "createWebhook"} {
		if got := g.Targets(opByID(demo, id)); !slices.Equal(got, []string{"body:/url"}) {
			t.Errorf("Targets(demobank %s) = %q, want [body:/url]", id, got)
		}
	}
	if got := g.Targets(opByID(demo, "listAccounts")); len(got) != 0 {
		t.Errorf("Targets(demobank listAccounts) = %q, want none", got)
	}
}

func TestCompileErrors(t *testing.T) {
	spec := loadSpec(t, testSpec)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"scheme", Config{Schemes: []string{"ht tp"}}, "schemes[0]"},
		{"allow host", Config{AllowHosts: []string{"a.*.com"}}, "allow_hosts"},
		{"deny host", Config{DenyHosts: []string{"http://x"}}, "deny_hosts"},
		{"cidr", Config{AllowCIDRs: []string{"10.0.0.0/33"}}, "allow_cidrs[0]"},
		{"nested", Config{NestedURLs: "maybe"}, "nested_urls"},
		{"pointer", Config{Fields: []string{"url"}}, "fields[0]"},
		{"operation", Config{Operations: map[string]OperationConfig{"nope": {}}}, "operations.nope"},
		{"mode", Config{Common: pipeline.Common{Mode: "loud"}}, "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cfg, spec, names)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile() error = %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	spec := loadSpec(t, testSpec)
	g, err := Compile(Config{}, spec, names)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, ctype, body string
		wantRule, wantLoc               string
	}{
		{"clean query", "GET", "/fetch/x?next=/home&mirrors=https://api.example.com/&plain=http://127.0.0.1/", "", "", "", ""},
		{"query reference", "GET", "/fetch/x?next=http://127.1/", "", "", RuleForbiddenAddress, "query:next"},
		{"second query value", "GET", "/fetch/x?mirrors=https://example.com/&mirrors=http://0x7f.1/", "", "", RuleForbiddenAddress, "query:mirrors"},
		{"path parameter", "GET", "/fetch/http:[169.254.169.254]", "", "", RuleForbiddenAddress, "path:target"},
		{"body field via refs", "POST", "/hooks", "application/json", `{"callback":"http://[::1]/"}`, RuleForbiddenAddress, "body:/callback"},
		{"array item allOf", "POST", "/hooks", "application/json", `{"targets":[{"href":"https://example.com/"},{"href":"gopher://x/"}]}`, RuleSchemeNotAllowed, "body:/targets/1/href"},
		{"additionalProperties", "POST", "/hooks", "application/json", `{"headers":{"a":"https://example.com/","b":"http://u@example.com/"}}`, RuleAmbiguousURL, "body:/headers/b"},
		{"recursive schema", "POST", "/tree", "application/json", `{"link":"https://example.com/","children":[{"children":[{"link":"http://10.0.0.1/"}]}]}`, RuleForbiddenAddress, "body:/children/0/children/0/link"},
		{"not a string is left to the schema guard", "POST", "/hooks", "application/json", `{"callback":42}`, "", ""},
		{"clean body", "POST", "/hooks", "application/json", `{"callback":"https://example.com/cb","note":"http://127.0.0.1/"}`, "", ""},
		{"text/plain parsed as JSON", "POST", "/hooks", "text/plain", `{"callback":"http://2130706433/"}`, RuleForbiddenAddress, "body:/callback"},
		{"form body", "POST", "/hooks", "application/x-www-form-urlencoded", `callback=http%3A%2F%2F127.0.0.1%2F`, RuleForbiddenAddress, "body:/callback"},
		{"not JSON", "POST", "/hooks", "application/json", `{"callback":`, RuleAmbiguousURL, "body"},
		{"empty body", "POST", "/hooks", "application/json", ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := pipeline.NewExchange()
			defer x.Release()
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			x.Request = r
			var found bool
			x.Operation, x.PathParams, found = spec.Match(tt.method, r.URL.Path, nil)
			if !found || x.Operation == nil {
				t.Fatalf("no operation for %s %s", tt.method, r.URL.Path)
			}
			if tt.name == "path parameter" {
				x.PathParams = []openapi.Param{{Name: "target", Value: "http://169.254.169.254/"}}
			}
			v, err := g.Request(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			if v.Rule != tt.wantRule {
				t.Fatalf("Request(%s) = %q (%s), want %q", tt.name, v.Rule, v.Detail, tt.wantRule)
			}
			if tt.wantRule == "" {
				return
			}
			if v.Action != pipeline.Block || v.Status != 400 || v.Category != "API7" || v.Title == "" {
				t.Errorf("Request(%s) = %+v, want a 400 API7 block with a title", tt.name, v)
			}
			if !strings.Contains(v.Detail, "location="+tt.wantLoc+" ") {
				t.Errorf("Request(%s) detail = %q, want location=%s", tt.name, v.Detail, tt.wantLoc)
			}
		})
	}
}

// TestDemobankAvatarImportUnguarded is the control: without the guard the
// vulnerable demobank fetches an internal URL (DB-15).
func TestDemobankAvatarImportUnguarded(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	alice := env.Login(t, "alice")
	resp, body := env.Do(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": env.BankURL + "/internal/debug"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), "preview") {
		t.Fatalf("unguarded import = %d %s, want 200 with a preview (DB-15)", resp.StatusCode, body)
	}
}

// TestDemobankAvatarImport runs the real demobank behind a real gateway
// with the guard on: the SSRF shapes of issue 5 are refused before
// demobank fetches anything; an allowed URL reaches demobank.
func TestDemobankAvatarImport(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
ssrf:
  allow_cidrs: [127.0.0.2/32]
`})
	alice := env.Login(t, "alice")
	tests := []struct {
		url, rule string
	}{
		{"http://169.254.169.254/latest/meta-data/", RuleForbiddenAddress},
		{"http://127.1/", RuleForbiddenAddress},
		{"http://[::ffff:127.0.0.1]/", RuleForbiddenAddress},
		{"http://2130706433/", RuleForbiddenAddress},
		{"http://0x7f.0.0.1/internal/debug", RuleForbiddenAddress},
		{"http://localhost/internal/debug", RuleForbiddenAddress},
		{"http://example.com@127.0.0.1/", RuleAmbiguousURL},
		{`http:\\127.0.0.1\internal\debug`, RuleAmbiguousURL},
		{"file:///etc/passwd", RuleSchemeNotAllowed},
		{strings.Replace(env.BankURL, "127.0.0.1", "127.0.0.3", 1) + "/internal/debug", RuleForbiddenAddress},
		{env.BankURL + "/internal/debug", RuleForbiddenAddress},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			before := len(env.EventsWithRule(tt.rule))
			resp, body := env.Do(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": tt.url})
			if resp.StatusCode != 400 {
				t.Fatalf("import %s = %d %s, want 400", tt.url, resp.StatusCode, body)
			}
			p := gatewaytest.Problem(t, body)
			if p["type"] != pipeline.ProblemTypeBase+tt.rule {
				t.Errorf("import %s problem type = %v, want %s", tt.url, p["type"], tt.rule)
			}
			if strings.Contains(string(body), "127") || strings.Contains(string(body), "169.254") {
				t.Errorf("import %s problem echoes the URL: %s", tt.url, body)
			}
			evs := env.EventsWithRule(tt.rule)
			if len(evs) != before+1 {
				t.Fatalf("events %s = %d, want %d", tt.rule, len(evs), before+1)
			}
			ev := evs[len(evs)-1]
			if ev.Category != "API7" || ev.Guard != "ssrf" || !strings.Contains(ev.Detail, "location=body:/url") || !strings.Contains(ev.Detail, "host=") {
				t.Errorf("event = %+v, want API7 ssrf with location and host", ev)
			}
		})
	}
	// An address allowed by allow_cidrs passes the guard and reaches
	// demobank (which then refuses it: not an image).
	allowed := strings.Replace(env.BankURL, "127.0.0.1", "127.0.0.2", 1) + "/.well-known/jwks.json"
	resp, body := env.Do(t, "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": allowed})
	if strings.Contains(string(body), "ssrf.") {
		t.Errorf("import of an allowed address = %d %s, want it to reach demobank", resp.StatusCode, body)
	}
	for _, ev := range env.Events() {
		if ev.Guard == "ssrf" && strings.Contains(ev.Detail, "127.0.0.2") {
			t.Errorf("event for the allowed address: %+v", ev)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	spec := loadSpec(b, testSpec)
	g, err := Compile(Config{}, spec, names)
	if err != nil {
		b.Fatal(err)
	}
	body := `{"callback":"https://example.com/cb","targets":[{"href":"https://api.example.com/x"}]}`
	op, params, _ := spec.Match("POST", "/hooks", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("POST", "/hooks", strings.NewReader(body))
		x.Operation, x.PathParams = op, params
		if v, _ := g.Request(ctx, x); v.Action != pipeline.Continue {
			b.Fatal(v.Detail)
		}
		x.Release()
	}
}

// demobankSection is the section proposed for examples/demobank/apiguard.yaml.
const demobankSection = `
ssrf:
  # demobank fetches the url of importAvatar and createWebhook (format: uri
  # in its spec); only https to public addresses may reach it.
  schemes: [https]
  deny_hosts: ["*.internal", "*.local", "*.localhost"]
  nested_urls: refuse
  resolve_timeout: 2s
`

func TestDemobankExampleSection(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	alice := env.Login(t, "alice")
	for _, tt := range []struct{ path, url, rule string }{
		{"/api/v1/users/1/avatar/import", "https://169.254.169.254/latest/meta-data/", RuleForbiddenAddress},
		{"/api/v1/users/1/avatar/import", "http://169.254.169.254/latest/meta-data/", RuleSchemeNotAllowed},
		{"/api/v1/users/1/avatar/import", "https://127.1/", RuleForbiddenAddress},
		{"/api/v1/users/1/avatar/import", "https://[::ffff:127.0.0.1]/", RuleForbiddenAddress},
		{"/api/v1/users/1/avatar/import", "https://2130706433/", RuleForbiddenAddress},
		{"/api/v1/users/1/avatar/import", "https://metadata.google.internal/", RuleHostNotAllowed},
		{"/api/v1/webhooks", "https://127.0.0.1/api/v1/auth/login", RuleForbiddenAddress},
	} {
		body := map[string]any{"url": tt.url}
		if tt.path == "/api/v1/webhooks" {
			body["events"] = []string{"transfer.created"}
		}
		resp, b := env.Do(t, "POST", tt.path, alice, body)
		if resp.StatusCode != 400 || gatewaytest.Problem(t, b)["type"] != pipeline.ProblemTypeBase+tt.rule {
			t.Errorf("POST %s %s = %d %s, want 400 %s", tt.path, tt.url, resp.StatusCode, b, tt.rule)
		}
	}
}
