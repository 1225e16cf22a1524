package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/admin"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
)

const discoverSpec = `openapi: 3.1.0
info: {title: shop, version: "1"}
security: [{bearer: []}]
paths:
  /api/v1/users/{userId}:
    get:
      operationId: getUser
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: integer}
                  email: {type: string, format: email}
  /api/v1/orders:
    post: {operationId: createOrder, responses: {"201": {description: ok}}}
  /api/v1/unused:
    get: {operationId: neverCalled, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
`

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDiscoverOffline(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "openapi.yaml")
	if err := os.WriteFile(spec, []byte(discoverSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	har := filepath.Join("..", "observe", "inventory", "testdata", "small.har")

	code, out, errs := runCLI("discover", "--har", har, "--spec", spec)
	for _, want := range []string{"API default (spec shop)", "GET     /api/v0/users/{userId}  shadow,zombie,unauthenticated,sensitive",
		"zombie: version v0 is older than the documented v1 (GET /api/v1/users/{userId})", "GET     /api/v1/unused"} {
		if !strings.Contains(out, want) {
			t.Errorf("discover --har = %d, output lacks %q:\n%s%s", code, want, out, errs)
		}
	}
	if code != 0 || !strings.Contains(errs, "1 entries skipped") {
		t.Errorf("discover --har = %d, stderr %q; want 0 and the skipped ftp entry reported", code, errs)
	}

	code, out, _ = runCLI("discover", "--har", har, "--spec", spec, "--class", "shadow", "--json")
	var rep inventory.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep.APIs) != 1 || len(rep.APIs[0].Endpoints) != 2 {
		t.Errorf("discover --class shadow --json = %d, %v: %s; want the two shadow endpoints", code, err, out)
	}

	exported := filepath.Join(dir, "observed.yaml")
	if code, _, errs = runCLI("discover", "export", "--har", har, "--spec", spec, "--output", exported); code != 0 {
		t.Fatalf("discover export = %d %s", code, errs)
	}
	// A document differs in nothing from itself; from the spec, in the
	// shadow operations, the undocumented fields and the unused one.
	if code, out, _ = runCLI("discover", "diff", "--spec", exported, "--observed", exported); code != 0 || !strings.Contains(out, "no differences") {
		t.Errorf("diff of the export with itself = %d %q, want 0, no differences", code, out)
	}
	code, out, _ = runCLI("discover", "diff", "--spec", spec, "--har", har)
	for _, want := range []string{
		"undocumented_operation GET /api/v0/users/{userId}: called, not in the spec (shadow, zombie, unauthenticated, sensitive)",
		"undocumented_field GET /api/v1/users/{userId} response 200 application/json /ssn",
		"undocumented_media_type POST /api/v1/orders request application/json: not in the spec",
		"undocumented_parameter GET /api/v1/users/{userId} header parameter X-Tenant",
		"unused_operation GET /api/v1/unused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("discover diff output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("discover diff with differences = %d, want 1", code)
	}
	if code, out, _ = runCLI("discover", "diff", "--spec", spec, "--har", har, "--ignore-unused", "--format", "json"); code != 1 || strings.Contains(out, "unused_operation") || !strings.Contains(out, `"kind": "undocumented_operation"`) {
		t.Errorf("discover diff --ignore-unused --format json = %d %s", code, out)
	}
	for _, args := range [][]string{
		{"discover", "--class", "ghost", "--har", har},
		{"discover", "diff", "--har", har},
		{"discover", "export", "--har", har, "--format", "xml"},
		{"discover", "--har", filepath.Join(dir, "missing.har")},
	} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%v = %d, want 2", args, code)
		}
	}
}

// TestDiscoverLive reads the inventory of a real admin API, as discover
// and admin inventory list do against a running gateway.
func TestDiscoverLive(t *testing.T) {
	inv := inventory.New(inventory.Options{})
	inv.Observe(&observe.Observation{API: "shop", Method: "GET", Path: "/internal/debug", Status: 200, Upstreamed: true})
	a, err := admin.New(admin.Options{Token: cliAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	a.Handle("GET "+inventory.AdminPath, inventory.Handler(func() *inventory.Inventory { return inv }, nil))
	srv := httptest.NewServer(a)
	defer srv.Close()
	for _, args := range [][]string{
		{"discover", "--admin-url", srv.URL, "--token", cliAdminToken},
		{"admin", "--admin-url", srv.URL, "--token", cliAdminToken, "inventory", "list", "--api", "shop"},
	} {
		code, out, errs := runCLI(args...)
		if code != 0 || !strings.Contains(out, "API shop (no spec)") || !strings.Contains(out, "/internal/debug") {
			t.Errorf("%v = %d %q %q, want the inventory", args[:2], code, out, errs)
		}
	}
	if code, _, errs := runCLI("discover", "--admin-url", srv.URL, "--token", "wrong-token-0123456789"); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("discover with a wrong token = %d %q, want 1 and the 401", code, errs)
	}
	code, out, _ := runCLI("discover", "export", "--admin-url", srv.URL, "--token", cliAdminToken, "--format", "json")
	if code != 0 || !strings.Contains(out, `"/internal/debug"`) || !strings.Contains(out, `"openapi": "3.1.0"`) {
		t.Errorf("discover export (live) = %d %s", code, out)
	}
}
