package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/store"
)

// TestServeInventory runs apiguard serve in front of demobank: traffic
// feeds the inventory, the admin API serves it, and it survives a restart
// (saved to the SQLite store at shutdown, loaded at start).
func TestServeInventory(t *testing.T) {
	bank, err := demobank.New(demobank.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bank.Close()
	up := httptest.NewServer(bank)
	defer up.Close()
	spec, err := filepath.Abs(filepath.Join("..", "..", "examples", "demobank", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "apiguard.yaml")
	doc := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", token: %q}
data_dir: %q
log: {access_log: "off", level: warn}
apis:
  - name: demobank
    upstream: {urls: [%q]}
    spec: %q
observe:
  inventory: {snapshot_interval: 1h}
`, cliAdminToken, dir, up.URL, spec)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (gw, adm string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		stderr := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- runServe(ctx, serveFlags{config: cfg}, io.Discard, stderr) }()
		re := regexp.MustCompile(`admin API on (http://\S+)[\s\S]*protecting .* on (http://\S+)`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				adm, gw = m[1], m[2]
				break
			}
			select {
			case err := <-done:
				t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("serve did not start:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return gw, adm, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve = %v\n%s", err, stderr.String())
			}
		}
	}
	report := func(adm string) inventory.APIReport {
		req, _ := http.NewRequest("GET", adm+inventory.AdminPath+"?api=demobank", nil)
		req.Header.Set("Authorization", "Bearer "+cliAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep inventory.Report
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 || len(rep.APIs) != 1 {
			t.Fatalf("GET /api/v1/inventory = %d, %v, %+v", resp.StatusCode, err, rep)
		}
		return rep.APIs[0]
	}
	find := func(r inventory.APIReport, path string) *inventory.Endpoint {
		for i := range r.Endpoints {
			if r.Endpoints[i].Path == path {
				return &r.Endpoints[i]
			}
		}
		return nil
	}

	gw, adm, stop := start()
	for _, p := range []string{"/api/v0/users/1", "/internal/debug", "/.well-known/jwks.json"} {
		resp, err := http.Get(gw + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The hub delivers off the request path: wait for the three.
	var r inventory.APIReport
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r = report(adm)
		if e, v0 := find(r, "/.well-known/jwks.json"), find(r, "/api/v0/users/{userId}"); e != nil && e.Count == 1 && v0 != nil && v0.Count == 1 &&
			find(r, "/internal/debug") != nil {
			break
		}
	}
	if e := find(r, "/internal/debug"); e == nil || !e.Has(inventory.ClassShadow) {
		t.Fatalf("live inventory lacks the shadow /internal/debug: %+v", r.Endpoints)
	}
	if e := find(r, "/api/v0/users/{userId}"); e == nil || !e.Has(inventory.ClassZombie) {
		t.Errorf("live inventory: v0 = %+v, want zombie", e)
	}
	stop()

	// Restarted: the inventory was saved at shutdown and comes back.
	_, adm, stop = start()
	defer stop()
	r = report(adm)
	if e := find(r, "/internal/debug"); e == nil || e.Count != 1 || !e.Has(inventory.ClassShadow) {
		t.Errorf("after a restart, /internal/debug = %+v, want it restored (count 1, shadow)", e)
	}
	if e := find(r, "/api/v0/users/{userId}"); e == nil || e.Count != 1 || !e.Has(inventory.ClassZombie) {
		t.Errorf("after a restart, v0 = %+v, want it restored (count 1, zombie)", e)
	}
}

// TestServeInventoryReload: a reload that disables the inventory saves it
// and takes it off the hub; one that enables it again brings it back from
// the store; limits change in place.
func TestServeInventoryReload(t *testing.T) {
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	load := func(inv string) *config.Loaded {
		c, err := config.Parse([]byte("apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\nobserve:\n  inventory: "+inv+"\n"),
			func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return &config.Loaded{Config: c}
	}
	s := newServeInventory(load("{max_endpoints: 1}"), db, slog.New(slog.DiscardHandler))
	defer s.Close()
	hub := observe.NewHub(observe.HubOptions{})
	defer hub.Close(time.Second)
	s.Attach(hub)
	if !hub.Active() || s.Current() == nil {
		t.Fatalf("enabled inventory: hub active %v, current %v", hub.Active(), s.Current())
	}
	feed := func(path string) {
		s.Current().Observe(&observe.Observation{API: "a", Method: "GET", Path: path, Status: 200, Upstreamed: true})
	}
	feed("/one")
	feed("/two") // past max_endpoints: 1
	if r := s.Current().Report(inventory.Filter{}).APIs[0]; len(r.Endpoints) != 1 || r.Other.Count != 1 {
		t.Fatalf("with max_endpoints 1: %d endpoints, other %d", len(r.Endpoints), r.Other.Count)
	}
	s.Apply(load("{max_endpoints: 10}"))
	feed("/three")
	if r := s.Current().Report(inventory.Filter{}).APIs[0]; len(r.Endpoints) != 2 {
		t.Errorf("after raising max_endpoints: %d endpoints, want 2", len(r.Endpoints))
	}
	s.Apply(load("{enabled: false}"))
	if hub.Active() || s.Current() != nil {
		t.Fatalf("disabled inventory: hub active %v, current %v", hub.Active(), s.Current())
	}
	s.Apply(load("{}"))
	if !hub.Active() || s.Current() == nil {
		t.Fatalf("re-enabled inventory: hub active %v, current %v", hub.Active(), s.Current())
	}
	if r := s.Current().Report(inventory.Filter{}).APIs; len(r) != 1 || len(r[0].Endpoints) != 2 {
		t.Errorf("re-enabled inventory = %+v, want the 2 endpoints saved when it was disabled", r)
	}
}
