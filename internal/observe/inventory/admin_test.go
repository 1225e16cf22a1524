package inventory_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apiguard/apiguard/internal/admin"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
)

func TestAdminHandler(t *testing.T) {
	const token = "inventory-admin-token-0123456789"
	inv := inventory.New(inventory.Options{})
	for _, p := range []string{"/api/v0/users/1", "/api/v1/things/2"} {
		inv.Observe(&observe.Observation{API: "shop", Method: "GET", Path: p, Status: 200, Upstreamed: true})
	}
	var disabled atomic.Bool
	a, err := admin.New(admin.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	a.Handle("GET "+inventory.AdminPath, inventory.Handler(func() *inventory.Inventory {
		if disabled.Load() {
			return nil
		}
		return inv
	}, func() uint64 { return 7 }))
	srv := httptest.NewServer(a)
	defer srv.Close()
	get := func(query, tok string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+inventory.AdminPath+query, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, query, token string
		status             int
		body               string
	}{
		{"no token", "", "", 401, "unauthorized"},
		{"wrong token", "", "x" + token, 401, "unauthorized"},
		{"all", "", token, 200, `"path":"/api/v0/users/{userId}"`},
		{"api filter", "?api=nope", token, 200, `"apis":[]`},
		{"bad class", "?class=ghost", token, 400, "class: must be one of"},
		{"unknown parameter", "?limit=3", token, 400, `unknown parameter \"limit\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(tt.query, tt.token)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s = %d %s, want %d with %q", tt.query, status, body, tt.status, tt.body)
			}
		})
	}
	_, body := get("?api=shop", token)
	var rep inventory.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || len(rep.APIs) != 1 || len(rep.APIs[0].Endpoints) != 2 || rep.Dropped != 7 {
		t.Errorf("report = %+v, %v; want shop with 2 endpoints, 7 dropped", rep, err)
	}
	disabled.Store(true)
	if status, body := get("", token); status != 404 || !strings.Contains(body, "disabled") {
		t.Errorf("disabled inventory = %d %s, want 404", status, body)
	}
}
