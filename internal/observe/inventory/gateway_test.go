package inventory_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard registers itself
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/openapi"
)

// bodyGuards make the gateway buffer request and answer bodies (the
// schema guard in monitor mode validates every answer) and report
// sensitive data (dlp, detect only): what the inventory needs to infer
// schemas and see PII.
const bodyGuards = `
schema:
  mode: monitor
  response: {mode: monitor, sample_rate: 1}
dlp:
  detectors: {ssn: detect, password_hash: detect, email: detect, card: detect}
`

// startInventory runs demobank behind a gateway whose hub feeds a fresh
// inventory.
func startInventory(t *testing.T, o gatewaytest.Options) (*gatewaytest.Env, *observe.Hub, *inventory.Inventory) {
	t.Helper()
	hub := observe.NewHub(observe.HubOptions{})
	inv := inventory.New(inventory.Options{})
	hub.AddObserver("inventory", inv)
	o.Observers = hub
	env := gatewaytest.Start(t, o)
	return env, hub, inv
}

func endpoint(t *testing.T, r inventory.APIReport, method, path string) *inventory.Endpoint {
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
	t.Fatalf("no endpoint %s %s in the inventory: %v", method, path, have)
	return nil
}

// replay sends the same mixed traffic to the vulnerable demobank: the
// documented operations, the zombie v0, the shadow debug endpoint, and a
// path that does not exist.
func replay(t *testing.T, env *gatewaytest.Env) {
	t.Helper()
	tok := env.Login(t, "alice")
	calls := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/accounts", tok, 200},
		{"GET", "/api/v1/accounts/101", tok, 200},
		{"GET", "/api/v1/users/1", tok, 200},
		{"GET", "/api/v1/transactions?limit=5&offset=0", tok, 200},
		{"GET", "/.well-known/jwks.json", "", 200},
		{"GET", "/api/v0/users/1", "", 200},
		{"GET", "/api/v0/users/2", "", 200},
		{"GET", "/internal/debug", "", 200},
		{"GET", "/no/such/path", "", 404},
	}
	for _, c := range calls {
		if resp, body := env.Do(t, c.method, c.path, c.token, nil); resp.StatusCode != c.want {
			t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.want)
		}
	}
}

// TestDemobankReplayClassification replays traffic through the real
// gateway and checks the classes the inventory gives it.
func TestDemobankReplayClassification(t *testing.T) {
	env, hub, inv := startInventory(t, gatewaytest.Options{Guards: bodyGuards})
	replay(t, env)
	hub.Close(5 * time.Second)
	if hub.Dropped() != 0 {
		t.Fatalf("hub dropped %d observations", hub.Dropped())
	}
	rep := inv.Report(inventory.Filter{API: "demobank"})
	if len(rep.APIs) != 1 {
		t.Fatalf("Report(demobank) = %d APIs, want 1", len(rep.APIs))
	}
	r := rep.APIs[0]
	tests := []struct {
		method, path string
		has, hasNot  []string
	}{
		{"GET", "/internal/debug", []string{inventory.ClassShadow, inventory.ClassUnauthenticated}, []string{inventory.ClassDocumented}},
		{"GET", "/api/v0/users/{userId}", []string{inventory.ClassDocumented, inventory.ClassZombie, inventory.ClassUnauthenticated, inventory.ClassSensitive}, nil},
		{"GET", "/api/v1/users/{userId}", []string{inventory.ClassDocumented, inventory.ClassSensitive}, []string{inventory.ClassUnauthenticated, inventory.ClassZombie}},
		{"GET", "/api/v1/accounts/{accountId}", []string{inventory.ClassDocumented}, []string{inventory.ClassUnauthenticated, inventory.ClassShadow}},
		// Public by the spec (security: []): anonymous 2xx is expected.
		{"GET", "/.well-known/jwks.json", []string{inventory.ClassDocumented}, []string{inventory.ClassUnauthenticated}},
		{"POST", "/api/v1/auth/login", []string{inventory.ClassDocumented}, []string{inventory.ClassUnauthenticated}},
		{"POST", "/api/v1/transfers", []string{inventory.ClassDocumented, inventory.ClassUnused}, nil},
		{"POST", "/api/v1/webhooks", []string{inventory.ClassDocumented, inventory.ClassUnused}, nil},
	}
	for _, tt := range tests {
		e := endpoint(t, r, tt.method, tt.path)
		for _, c := range tt.has {
			if !e.Has(c) {
				t.Errorf("%s %s classes = %v, want %s (reasons %q)", tt.method, tt.path, e.Classes, c, e.Reasons)
			}
		}
		for _, c := range tt.hasNot {
			if e.Has(c) {
				t.Errorf("%s %s classes = %v, want no %s (reasons %q)", tt.method, tt.path, e.Classes, c, e.Reasons)
			}
		}
	}
	v0 := endpoint(t, r, "GET", "/api/v0/users/{userId}")
	if v0.Count != 2 || v0.Anonymous2xx != 2 || !slices.Contains(v0.Sensitive, "ssn") || !slices.Contains(v0.Sensitive, "password_hash") {
		t.Errorf("v0 = count %d anonymous 2xx %d sensitive %v, want 2, 2, ssn and password_hash", v0.Count, v0.Anonymous2xx, v0.Sensitive)
	}
	users := endpoint(t, r, "GET", "/api/v1/users/{userId}")
	// No authn guard here: the token is seen as a bearer credential,
	// without a principal.
	if users.Operation != "getUser" || users.Principals != 0 || users.Clients != 1 || !slices.Equal(users.Auth, []string{"bearer"}) {
		t.Errorf("getUser = operation %q principals %d clients %d auth %v", users.Operation, users.Principals, users.Clients, users.Auth)
	}
	if len(users.Responses) != 1 || users.Responses[0].Body == nil || users.Responses[0].Body.Properties["ssn"] == nil ||
		users.Responses[0].Body.Properties["ssn"].Example != "" {
		t.Errorf("getUser answers = %+v, want a 200 schema with ssn (and no example of it)", users.Responses)
	}
	tx := endpoint(t, r, "GET", "/api/v1/transactions")
	var names []string
	for _, p := range tx.Parameters {
		names = append(names, p.In+":"+p.Name)
	}
	if !slices.Equal(names, []string{"query:limit", "query:offset"}) {
		t.Errorf("listTransactions parameters = %v, want query limit and offset", names)
	}
	if r.Unanswered != 1 {
		t.Errorf("Unanswered = %d, want 1 (the 404)", r.Unanswered)
	}
	for _, e := range r.Endpoints {
		if strings.HasPrefix(e.Path, "/no/") {
			t.Errorf("a 404 made an endpoint: %s %s", e.Method, e.Path)
		}
	}

	// The vulnerable demobank differs from its spec: the diff says where.
	diffs := exportDiff(t, r, inventory.DiffOptions{IgnoreUnused: true})
	wantDiffs := []string{
		"undocumented_operation GET /internal/debug",
		"undocumented_field GET /api/v1/users/{userId} response 200 application/json /password_hash",
		"undocumented_field GET /api/v1/users/{userId} response 200 application/json /ssn",
	}
	var got []string
	for _, d := range diffs {
		got = append(got, d.String())
	}
	for _, w := range wantDiffs {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("diff of the vulnerable demobank lacks %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// TestZombieByVersionPrefix: with a spec that no longer lists v0 at all,
// /api/v0/users/1 is shadow and zombie (an older version than v1).
func TestZombieByVersionPrefix(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(demobank.Spec, &doc); err != nil {
		t.Fatal(err)
	}
	paths := openapi.MapGet(doc.Content[0], "paths")
	for i := 0; i+1 < len(paths.Content); i += 2 {
		if paths.Content[i].Value == "/api/v0/users/{userId}" {
			paths.Content = append(paths.Content[:i], paths.Content[i+2:]...)
			break
		}
	}
	spec, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	env, hub, inv := startInventory(t, gatewaytest.Options{Spec: spec})
	if resp, body := env.Do(t, "GET", "/api/v0/users/1", "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET /api/v0/users/1 = %d %s", resp.StatusCode, body)
	}
	hub.Close(5 * time.Second)
	e := endpoint(t, inv.Report(inventory.Filter{API: "demobank"}).APIs[0], "GET", "/api/v0/users/{userId}")
	if !slices.Equal(e.Classes, []string{inventory.ClassShadow, inventory.ClassZombie, inventory.ClassUnauthenticated}) ||
		!strings.Contains(strings.Join(e.Reasons, "\n"), "version v0 is older than the documented v1 (GET /api/v1/users/{userId})") {
		t.Errorf("v0 without a spec entry = %v %q, want shadow, zombie (older than v1), unauthenticated", e.Classes, e.Reasons)
	}
}

// exportDiff exports an API's inventory, loads the document back with
// the openapi package, and diffs it against demobank's spec.
func exportDiff(t *testing.T, r inventory.APIReport, o inventory.DiffOptions) []inventory.Difference {
	t.Helper()
	var buf bytes.Buffer
	if err := inventory.WriteDocument(&buf, inventory.Export(&r), "yaml"); err != nil {
		t.Fatalf("WriteDocument: %v", err)
	}
	observed, err := openapi.Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("the exported document does not load: %v\n%s", err, buf.String())
	}
	if observed.Version != "3.1.0" {
		t.Errorf("exported openapi = %q, want 3.1.0", observed.Version)
	}
	var js bytes.Buffer
	if err := inventory.WriteDocument(&js, inventory.Export(&r), "json"); err != nil {
		t.Fatalf("WriteDocument(json): %v", err)
	}
	if back, err := openapi.Parse(js.Bytes()); err != nil || len(back.Operations) != len(observed.Operations) {
		t.Errorf("the JSON export loads as %v operations, %v; want the YAML's %d", back, err, len(observed.Operations))
	}
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return inventory.Diff(observed, spec, o)
}

// TestExportDiffRoundTrip: the inventory of spec-conforming traffic (the
// fixed demobank answers exactly what its spec documents), exported and
// diffed against the spec, differs in nothing for the operations
// exercised; only the operations not called are listed as unused.
func TestExportDiffRoundTrip(t *testing.T) {
	env, hub, inv := startInventory(t, gatewaytest.Options{Fixed: true, Guards: gatewaytest.AuthnSection + bodyGuards})
	tok := env.Login(t, "alice")
	calls := []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/v1/users/1", nil, 200},
		{"PATCH", "/api/v1/users/1", map[string]string{"display_name": "Alice A."}, 200},
		{"GET", "/api/v1/accounts", nil, 200},
		{"GET", "/api/v1/accounts/101", nil, 200},
		{"GET", "/api/v1/transactions?limit=10", nil, 200},
		{"GET", "/api/v1/transactions?limit=3&offset=2", nil, 200},
		{"GET", "/api/v1/search?q=coffee", nil, 200},
		{"POST", "/api/v1/transfers", map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 1.5, "currency": "EUR", "memo": "lunch"}, 201},
		{"GET", "/.well-known/jwks.json", nil, 200},
		{"GET", "/.well-known/openid-configuration", nil, 200},
	}
	for _, c := range calls {
		if resp, body := env.Do(t, c.method, c.path, tok, c.body); resp.StatusCode != c.want {
			t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.want)
		}
	}
	hub.Close(5 * time.Second)
	r := inv.Report(inventory.Filter{API: "demobank"}).APIs[0]
	for _, e := range r.Endpoints {
		if e.Count > 0 && (e.Has(inventory.ClassShadow) || e.Sampled == 0) {
			t.Errorf("%s %s: classes %v, %d bodies sampled; want documented with bodies seen", e.Method, e.Path, e.Classes, e.Sampled)
		}
	}
	if diffs := exportDiff(t, r, inventory.DiffOptions{IgnoreUnused: true}); len(diffs) != 0 {
		var lines []string
		for _, d := range diffs {
			lines = append(lines, d.String())
		}
		t.Errorf("diff of spec-conforming traffic = %d differences, want none:\n%s", len(diffs), strings.Join(lines, "\n"))
	}
	diffs := exportDiff(t, r, inventory.DiffOptions{})
	unused := 0
	for _, d := range diffs {
		if d.Kind != inventory.DiffUnusedOperation {
			t.Errorf("unexpected difference %s", d)
		}
		if d.Operation == "getUser" || d.Operation == "createTransfer" {
			t.Errorf("an exercised operation is listed as unused: %s", d)
		}
		unused++
	}
	if unused == 0 {
		t.Errorf("diff lists no unused operation; some were not called (webhooks, admin)")
	}
}
