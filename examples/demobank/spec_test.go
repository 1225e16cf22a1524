package demobank

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func loadSpec(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(Spec, &doc); err != nil {
		t.Fatalf("yaml.Unmarshal(openapi.yaml) error = %v", err)
	}
	return doc
}

// resolve follows a local JSON pointer such as #/components/schemas/User.
func resolve(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("non-local $ref %q", ref)
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not in an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, tok)
		}
	}
	return cur, nil
}

// deref resolves v when it is a {$ref} object.
func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for m != nil && m["$ref"] != nil {
		r, err := resolve(doc, m["$ref"].(string))
		if err != nil {
			t.Fatal(err)
		}
		m, _ = r.(map[string]any)
	}
	return m
}

func walkRefs(doc map[string]any, v any, path string, errs *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if k == "$ref" {
				s, _ := c.(string)
				if _, err := resolve(doc, s); err != nil {
					*errs = append(*errs, path+": "+err.Error())
				}
				continue
			}
			walkRefs(doc, c, path+"/"+k, errs)
		}
	case []any:
		for i, c := range x {
			walkRefs(doc, c, fmt.Sprintf("%s/%d", path, i), errs)
		}
	}
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOperations maps "METHOD /path" to its operation object.
func specOperations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	for p, item := range doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			if slices.Contains(httpMethods, m) {
				ops[strings.ToUpper(m)+" "+p] = op.(map[string]any)
			}
		}
	}
	return ops
}

func TestSpec(t *testing.T) {
	doc := loadSpec(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	if servers, _ := doc["servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v, want [{url: /}]", doc["servers"])
	}
	var errs []string
	walkRefs(doc, doc, "#", &errs)
	for _, e := range errs {
		t.Errorf("unresolved reference: %s", e)
	}

	ops := specOperations(t, doc)
	var ids []string
	for _, op := range ops {
		ids = append(ids, fmt.Sprint(op["operationId"]))
	}
	sort.Strings(ids)
	wantIDs := []string{"adminListUsers", "createTransfer", "createTransferOrder", "createWebhook", "getAccount", "getJwks", "getOpenIDConfiguration",
		"getUser", "getUserV0", "importAvatar", "listAccounts", "listTransactions", "login", "searchTransactions", "testWebhook", "updateUser"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("operationIds = %v, want %v", ids, wantIDs)
	}

	// The spec and the vulnerable router agree, except for the shadow
	// endpoint, which must stay undocumented.
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	routes := map[string]bool{}
	for _, rt := range s.routes {
		routes[rt.method+" "+strings.Join(rt.segments, "/")] = true
	}
	if !routes["GET /internal/debug"] {
		t.Errorf("vulnerable router lacks GET /internal/debug")
	}
	for r := range routes {
		if _, ok := ops[r]; !ok && r != "GET /internal/debug" {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for o := range ops {
		if !routes[o] {
			t.Errorf("openapi.yaml documents %s, which demobank does not serve", o)
		}
	}
	if _, ok := doc["paths"].(map[string]any)["/internal/debug"]; ok {
		t.Errorf("openapi.yaml documents /internal/debug, want it undocumented (shadow endpoint)")
	}

	byID := map[string]map[string]any{}
	for _, op := range ops {
		byID[op["operationId"].(string)] = op
	}
	for _, id := range []string{"login", "getJwks", "getOpenIDConfiguration"} {
		if sec, ok := byID[id]["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("%s security = %v, want []", id, byID[id]["security"])
		}
	}
	if sec, _ := doc["security"].([]any); len(sec) != 1 {
		t.Errorf("global security = %v, want bearerAuth", doc["security"])
	}
	if roles := fmt.Sprint(byID["adminListUsers"]["x-apiguard-roles"]); roles != "[admin]" {
		t.Errorf("adminListUsers x-apiguard-roles = %s, want [admin]", roles)
	}
	if l, _ := byID["login"]["x-apiguard-login"].(map[string]any); l["username"] != "/username" {
		t.Errorf("login x-apiguard-login = %v, want {username: /username}", byID["login"]["x-apiguard-login"])
	}
	if byID["getUserV0"]["deprecated"] != true {
		t.Errorf("getUserV0 deprecated = %v, want true", byID["getUserV0"]["deprecated"])
	}
	for id, op := range byID {
		if rb, ok := op["requestBody"].(map[string]any); ok {
			sch := deref(t, doc, rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
			if sch["additionalProperties"] != false {
				t.Errorf("%s request body additionalProperties = %v, want false", id, sch["additionalProperties"])
			}
		}
		for code := range op["responses"].(map[string]any) {
			if code[0] == '4' || code[0] == '5' {
				r := deref(t, doc, op["responses"].(map[string]any)[code])
				if ref := r["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"]; ref != "#/components/schemas/Problem" {
					t.Errorf("%s %s schema = %v, want Problem", id, code, ref)
				}
			}
		}
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	prop := func(schema, p string) map[string]any {
		return deref(t, doc, schemas[schema].(map[string]any)["properties"].(map[string]any)[p])
	}
	checks := []struct {
		schema, prop, key string
		want              any
	}{
		{"User", "password_hash", "writeOnly", true},
		{"LoginRequest", "password", "writeOnly", true},
		{"User", "id", "readOnly", true},
		{"User", "role", "readOnly", true},
		{"User", "balance", "readOnly", true},
		{"Account", "owner_id", "readOnly", true},
		{"Account", "balance", "readOnly", true},
		{"AvatarImportRequest", "url", "format", "uri"},
		{"WebhookRequest", "url", "format", "uri"},
		{"TransferRequest", "amount", "minimum", 0.01},
		{"TransferRequest", "from_account_id", "minimum", 1},
	}
	for _, c := range checks {
		if got := prop(c.schema, c.prop)[c.key]; fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s.%s %s = %v, want %v", c.schema, c.prop, c.key, got, c.want)
		}
	}
	limit := deref(t, doc, byID["listTransactions"]["parameters"].([]any)[0])
	if max := limit["schema"].(map[string]any)["maximum"]; limit["name"] != "limit" || max != 100 {
		t.Errorf("listTransactions limit = %v, want maximum 100", limit)
	}
}

// conforms checks v against schema for the properties a fixed demobank
// must respect: only documented members (additionalProperties: false),
// all required members, no writeOnly member in an answer.
func conforms(t *testing.T, doc map[string]any, schema map[string]any, v any, path string) []string {
	t.Helper()
	schema = deref(t, doc, schema)
	var errs []string
	for _, sub := range anySlice(schema["allOf"]) {
		errs = append(errs, conforms(t, doc, sub.(map[string]any), v, path)...)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for k, val := range x {
			ps, ok := props[k]
			if !ok {
				if schema["additionalProperties"] == false {
					errs = append(errs, path+"."+k+": undocumented")
				}
				continue
			}
			if deref(t, doc, ps)["writeOnly"] == true {
				errs = append(errs, path+"."+k+": writeOnly member in an answer")
			}
			errs = append(errs, conforms(t, doc, ps.(map[string]any), val, path+"."+k)...)
		}
		for _, r := range anySlice(schema["required"]) {
			if _, ok := x[r.(string)]; !ok {
				errs = append(errs, path+"."+r.(string)+": required, missing")
			}
		}
	case []any:
		if it, ok := schema["items"].(map[string]any); ok {
			for i, e := range x {
				errs = append(errs, conforms(t, doc, it, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
		if max, ok := schema["maxItems"].(int); ok && len(x) > max {
			errs = append(errs, fmt.Sprintf("%s: %d items, maxItems %d", path, len(x), max))
		}
	}
	return errs
}

func anySlice(v any) []any { s, _ := v.([]any); return s }

// TestFixedAnswersMatchSpec checks that the fixed variant's answers are
// what the spec documents, so a scanner finds nothing to report on them.
func TestFixedAnswersMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	ops := specOperations(t, doc)
	e := newEnv(t, true)
	alice, admin := e.login(t, "alice"), e.login(t, "admin")
	tests := []struct {
		op, method, path, token string
		body                    any
		status                  int
	}{
		{"POST /api/v1/auth/login", "POST", "/api/v1/auth/login", "", map[string]string{"username": "bob", "password": "bob-pass"}, 200},
		{"POST /api/v1/auth/login", "POST", "/api/v1/auth/login", "", map[string]string{"username": "bob", "password": "nope"}, 401},
		{"GET /.well-known/jwks.json", "GET", "/.well-known/jwks.json", "", nil, 200},
		{"GET /.well-known/openid-configuration", "GET", "/.well-known/openid-configuration", "", nil, 200},
		{"GET /api/v1/users/{userId}", "GET", "/api/v1/users/1", alice, nil, 200},
		{"GET /api/v1/users/{userId}", "GET", "/api/v1/users/2", alice, nil, 404},
		{"GET /api/v1/users/{userId}", "GET", "/api/v1/users/x", alice, nil, 400},
		{"PATCH /api/v1/users/{userId}", "PATCH", "/api/v1/users/1", alice, map[string]string{"phone": "+1 202 555 0199"}, 200},
		{"PATCH /api/v1/users/{userId}", "PATCH", "/api/v1/users/1", alice, map[string]string{"role": "admin"}, 400},
		{"GET /api/v1/accounts", "GET", "/api/v1/accounts", alice, nil, 200},
		{"GET /api/v1/accounts/{accountId}", "GET", "/api/v1/accounts/101", alice, nil, 200},
		{"POST /api/v1/transfers", "POST", "/api/v1/transfers", alice, map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 1.25, "currency": "EUR", "memo": "m"}, 201},
		{"POST /api/v1/transfer-orders", "POST", "/api/v1/transfer-orders", alice, sampleOrder(101, "12.50"), 201},
		{"POST /api/v1/transfer-orders", "POST", "/api/v1/transfer-orders", alice, sampleOrder(102, "12.50"), 403},
		{"GET /api/v1/transactions", "GET", "/api/v1/transactions?limit=100", alice, nil, 200},
		{"GET /api/v1/transactions", "GET", "/api/v1/transactions?limit=101", alice, nil, 400},
		{"GET /api/v1/search", "GET", "/api/v1/search?q=Card", alice, nil, 200},
		{"GET /api/v1/admin/users", "GET", "/api/v1/admin/users", admin, nil, 200},
		{"GET /api/v1/admin/users", "GET", "/api/v1/admin/users", alice, nil, 403},
		{"POST /api/v1/webhooks", "POST", "/api/v1/webhooks", alice, map[string]any{"url": "https://hooks.demobank.example/x", "events": []string{"user.updated"}}, 201},
		{"POST /api/v1/webhooks/{webhookId}/test", "POST", "/api/v1/webhooks/999/test", alice, nil, 404},
		{"POST /api/v1/users/{userId}/avatar/import", "POST", "/api/v1/users/1/avatar/import", alice, map[string]string{"url": "http://example.com/a.png"}, 400},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.path, tt.status), func(t *testing.T) {
			x := e.call(t, tt.method, tt.path, tt.token, tt.body)
			if x.status != tt.status {
				t.Fatalf("%s %s = %v, want %d", tt.method, tt.path, x, tt.status)
			}
			op := ops[tt.op]
			if op == nil {
				t.Fatalf("no operation %s in spec", tt.op)
			}
			resp := deref(t, doc, op["responses"].(map[string]any)[fmt.Sprint(tt.status)])
			if resp == nil {
				t.Fatalf("%s documents no %d answer", tt.op, tt.status)
			}
			schema := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			var v any
			if err := json.Unmarshal(x.body, &v); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			for _, msg := range conforms(t, doc, schema, v, "$") {
				t.Errorf("%s %s answer: %s", tt.method, tt.path, msg)
			}
		})
	}
}
