package denylist

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/admin"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
	"github.com/apiguard/apiguard/internal/testsvc"
)

const adminToken = "denylist-test-admin-token-0123"

// adminServer serves the real admin API with the denylist routes of svc.
func adminServer(t *testing.T, svc *pipeline.Services) string {
	t.Helper()
	a, err := admin.New(admin.Options{Token: adminToken, Store: svc.Store})
	if err != nil {
		t.Fatal(err)
	}
	svc.Admin = a.Handle
	if err := startService(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends an admin request and decodes a JSON answer into out.
func call(t *testing.T, base, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("%s %s = %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s answer %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// claims returns the sub and jti of a demobank token.
func claims(t *testing.T, tok string) (string, string) {
	sub, jti := tokenClaims("Bearer " + tok)
	if sub == "" || jti == "" {
		t.Fatalf("demobank token without sub or jti")
	}
	return sub, jti
}

func problemType(t *testing.T, body []byte) string {
	p := gatewaytest.Problem(t, body)
	s, _ := p["type"].(string)
	return s
}

func TestE2EConfigBlock(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
denylist:
  entries:
    - {kind: cidr, value: 127.0.0.0/8, reason: loopback test}
`})
	resp, body := env.Do(t, "GET", "/api/v1/accounts", "", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.HasSuffix(problemType(t, body), "/denylist.cidr") {
		t.Fatalf("GET from a blocked network = %d %s, want 403 denylist.cidr", resp.StatusCode, body)
	}
	if evs := env.EventsWithRule("denylist.cidr"); len(evs) != 1 || evs[0].Category != "API4" {
		t.Errorf("events denylist.cidr = %+v, want one API4 event", evs)
	}
}

// demobankSection is the section proposed for examples/demobank/apiguard.yaml.
const demobankSection = `
denylist:
  entries:
    - {kind: cidr, value: 192.0.2.0/24, reason: "example: TEST-NET-1, never a real client"}
`

func TestE2EDemobankSection(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	tok := env.Login(t, "alice")
	if resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET through the demobank section = %d %s, want 200", resp.StatusCode, body)
	}
	if evs := env.EventsWithRule("denylist.cidr"); len(evs) != 0 {
		t.Errorf("events denylist.cidr = %+v, want none for a loopback client", evs)
	}
}

func TestE2EAdminBlocks(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	base := adminServer(t, env.Services)
	tok := env.Login(t, "alice")
	sub, jti := claims(t, tok)
	if resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/accounts before any block = %d %s, want 200", resp.StatusCode, body)
	}
	for _, tt := range []struct{ kind, value string }{{KindJTI, jti}, {KindPrincipal, sub}, {KindIP, "127.0.0.1"}} {
		t.Run(tt.kind, func(t *testing.T) {
			var b store.Block
			if st := call(t, base, "POST", "/api/v1/blocks", BlockRequest{Kind: tt.kind, Value: tt.value, Reason: "incident", TTL: "1h"}, &b); st != http.StatusCreated {
				t.Fatalf("POST /api/v1/blocks = %d, want 201", st)
			}
			resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil)
			if resp.StatusCode != http.StatusForbidden || !strings.HasSuffix(problemType(t, body), "/denylist."+tt.kind) {
				t.Errorf("GET after blocking %s = %d %s, want 403 denylist.%s at once", tt.kind, resp.StatusCode, body, tt.kind)
			}
			var list struct{ Blocks []store.Block }
			if st := call(t, base, "GET", "/api/v1/blocks", nil, &list); st != 200 || len(list.Blocks) != 1 || list.Blocks[0].ID != b.ID {
				t.Errorf("GET /api/v1/blocks = %d %+v, want the one block", st, list)
			}
			if st := call(t, base, "DELETE", "/api/v1/blocks/"+b.ID, nil, nil); st != http.StatusNoContent {
				t.Errorf("DELETE block = %d, want 204", st)
			}
			if st := call(t, base, "DELETE", "/api/v1/blocks/"+b.ID, nil, nil); st != http.StatusNotFound {
				t.Errorf("DELETE block again = %d, want 404", st)
			}
			if resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("GET after unblocking = %d %s, want 200", resp.StatusCode, body)
			}
		})
	}
	for _, in := range []BlockRequest{{Kind: "ip", Value: "not-an-ip"}, {Kind: "asn", Value: "64496"}, {Kind: "country", Value: "FRA"}, {Kind: "jti", Value: "x", TTL: "-1h"}} {
		if st := call(t, base, "POST", "/api/v1/blocks", in, nil); st != http.StatusBadRequest {
			t.Errorf("POST /api/v1/blocks %+v = %d, want 400", in, st)
		}
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/blocks", strings.NewReader(`{"kind":"ip","value":"192.0.2.1"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/blocks without the token = %v, %v, want 401", resp.StatusCode, err)
	}
}

func TestE2ELockdown(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	base := adminServer(t, env.Services)
	tok := env.Login(t, "alice")
	transfer := map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 1}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeReadOnly, Reason: "incident 7"}, nil); st != http.StatusOK {
		t.Fatalf("PUT lockdown read-only = %d, want 200", st)
	}
	if resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET under read-only = %d %s, want 200", resp.StatusCode, body)
	}
	resp, body := env.Do(t, "POST", "/api/v1/transfers", tok, transfer)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.HasSuffix(problemType(t, body), "/denylist.lockdown_read_only") {
		t.Errorf("POST under read-only = %d Retry-After %q %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeClosed, TTL: "30s"}, nil); st != http.StatusOK {
		t.Fatalf("PUT lockdown closed = %d, want 200", st)
	}
	if resp, _ := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("GET when closed = %d Retry-After %q, want 503, 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeOff}, nil); st != http.StatusOK {
		t.Fatalf("PUT lockdown off = %d, want 200", st)
	}
	if resp, body := env.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET after lifting = %d %s, want 200", resp.StatusCode, body)
	}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: "half-open"}, nil); st != http.StatusBadRequest {
		t.Errorf("PUT lockdown half-open = %d, want 400", st)
	}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobnak", LockdownRequest{Mode: ModeClosed}, nil); st != http.StatusNotFound {
		t.Errorf("PUT lockdown of an unknown API = %d, want 404", st)
	}
}

func TestE2ESharedThroughRedis(t *testing.T) {
	rdb := testsvc.Redis(t)
	env1 := gatewaytest.Start(t, gatewaytest.Options{Redis: rdb})
	env2 := gatewaytest.Start(t, gatewaytest.Options{Redis: rdb})
	base := adminServer(t, env1.Services)
	tok := env2.Login(t, "bob")
	sub, _ := claims(t, tok)
	if resp, body := env2.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET on instance 2 before the block = %d %s, want 200", resp.StatusCode, body)
	}
	var b store.Block
	if st := call(t, base, "POST", "/api/v1/blocks", BlockRequest{Kind: KindPrincipal, Value: sub, Reason: "shared"}, &b); st != http.StatusCreated {
		t.Fatalf("POST /api/v1/blocks on instance 1 = %d, want 201", st)
	}
	added := time.Now()
	waitStatus(t, env2, tok, http.StatusForbidden, added)
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeClosed}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	if st := call(t, base, "DELETE", "/api/v1/blocks/"+b.ID, nil, nil); st != http.StatusNoContent {
		t.Fatal(st)
	}
	waitStatus(t, env2, tok, http.StatusServiceUnavailable, time.Now())
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeOff}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	waitStatus(t, env2, tok, http.StatusOK, time.Now())

	// A third instance started later loads the list from Redis.
	if st := call(t, base, "POST", "/api/v1/blocks", BlockRequest{Kind: KindPrincipal, Value: sub}, nil); st != http.StatusCreated {
		t.Fatal(st)
	}
	env3 := gatewaytest.Start(t, gatewaytest.Options{Redis: rdb})
	if resp, _ := env3.Do(t, "GET", "/api/v1/accounts", tok, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET on a new instance = %d, want 403", resp.StatusCode)
	}
}

// waitStatus polls instance env until GET /api/v1/accounts answers want,
// and fails when that takes a second or more after since.
func waitStatus(t *testing.T, env *gatewaytest.Env, tok string, want int, since time.Time) {
	t.Helper()
	for {
		resp, _ := env.Do(t, "GET", "/api/v1/accounts", tok, nil)
		if resp.StatusCode == want {
			if d := time.Since(since); d >= time.Second {
				t.Errorf("instance 2 answered %d after %v, want within 1s", want, d)
			}
			return
		}
		if time.Since(since) > 3*time.Second {
			t.Fatalf("instance 2 still answers %d after 3s, want %d", resp.StatusCode, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuditAndPersistence(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := pipeline.NewServices(pipeline.Services{Store: db})
	defer svc.Close()
	base := adminServer(t, svc)
	var b store.Block
	if st := call(t, base, "POST", "/api/v1/blocks", BlockRequest{Kind: KindCIDR, Value: "198.51.100.7/24", Reason: "botnet"}, &b); st != http.StatusCreated || b.Value != "198.51.100.0/24" {
		t.Fatalf("POST /api/v1/blocks = %d %+v, want 201 with the canonical prefix", st, b)
	}
	if st := call(t, base, "PUT", "/api/v1/lockdown/demobank", LockdownRequest{Mode: ModeReadOnly}, nil); st != http.StatusOK {
		t.Fatal(st)
	}
	if st := call(t, base, "DELETE", "/api/v1/blocks/"+b.ID, nil, nil); st != http.StatusNoContent {
		t.Fatal(st)
	}
	var page struct {
		Entries []store.AuditEntry
		Next    string
	}
	if st := call(t, base, "GET", "/api/v1/audit", nil, &page); st != http.StatusOK || len(page.Entries) != 3 {
		t.Fatalf("GET /api/v1/audit = %d %+v, want 3 entries", st, page)
	}
	wantActions := []string{"block.remove", "lockdown.set", "block.add"}
	for i, e := range page.Entries {
		if e.Action != wantActions[i] || e.Actor != Actor {
			t.Errorf("audit[%d] = %s by %s, want %s by %s", i, e.Action, e.Actor, wantActions[i], Actor)
		}
	}
	if rm := page.Entries[0]; rm.Target != b.ID || !strings.Contains(rm.Before, "botnet") || rm.After != "" {
		t.Errorf("audit block.remove = %+v, want before = the block, no after", rm)
	}
	if add := page.Entries[2]; add.Before != "" || !strings.Contains(add.After, "198.51.100.0/24") {
		t.Errorf("audit block.add = %+v, want after = the block", add)
	}
	if st := call(t, base, "GET", "/api/v1/audit?limit=0", nil, nil); st != http.StatusBadRequest {
		t.Errorf("GET /api/v1/audit?limit=0 = %d, want 400", st)
	}
	// The lockdown survives a restart: a new state loads it from the store.
	svc2 := pipeline.NewServices(pipeline.Services{Store: db})
	defer svc2.Close()
	st, err := sharedState(svc2)
	if err != nil {
		t.Fatal(err)
	}
	if l := st.current().lockdowns["demobank"]; l == nil || l.mode != ModeReadOnly {
		t.Errorf("lockdowns after restart = %+v, want demobank read-only", st.current().lockdowns)
	}
}
