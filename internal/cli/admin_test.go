package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/admin"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

const cliAdminToken = "cli-test-admin-token-0123456789"

// adminAPI runs a real admin API (with every guard service's routes) on
// loopback, over a SQLite store.
func adminAPI(t *testing.T) (string, *store.SQLite) {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := admin.New(admin.Options{Token: cliAdminToken, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	svc := pipeline.NewServices(pipeline.Services{Store: db, Admin: a.Handle})
	t.Cleanup(func() { svc.Close() })
	if err := pipeline.StartServices(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL, db
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAdminCommand(t *testing.T) {
	url, db := adminAPI(t)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"admin", "--admin-url", url, "--token", cliAdminToken}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("blocks", "add", "ip", "203.0.113.7", "--reason", "credential stuffing", "--ttl", "24h")
	m := regexp.MustCompile(`blocked ip 203\.0\.113\.7 \(id ([0-9a-f]+), expires 20`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("admin blocks add = %d %q, want the block id and expiry", code, out)
	}
	id := m[1]
	if code, out = run("blocks", "list"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "credential stuffing") {
		t.Errorf("admin blocks list = %d %q, want the block", code, out)
	}
	if code, out = run("blocks", "add", "asn", "64496"); code != 1 || !strings.Contains(out, "kind: must be one of") {
		t.Errorf("admin blocks add asn = %d %q, want 1 and the API's reason", code, out)
	}
	if code, out = run("blocks", "add", "country", "fr"); code != 0 || !strings.Contains(out, "blocked country FR") {
		t.Errorf("admin blocks add country = %d %q, want the block, code upper-cased", code, out)
	}
	if code, out = run("blocks", "remove", id); code != 0 || !strings.Contains(out, "removed block "+id) {
		t.Errorf("admin blocks remove = %d %q", code, out)
	}
	if code, out = run("blocks", "remove", id); code != 1 || !strings.Contains(out, "404") {
		t.Errorf("admin blocks remove again = %d %q, want 1 and 404", code, out)
	}
	if code, out = run("lockdown", "demobank", "read-only", "--reason", "incident 42"); code != 0 || !strings.Contains(out, "demobank is read-only") {
		t.Errorf("admin lockdown read-only = %d %q", code, out)
	}
	if code, out = run("lockdown", "demobank", "off"); code != 0 || !strings.Contains(out, "lockdown of demobank lifted") {
		t.Errorf("admin lockdown off = %d %q", code, out)
	}
	if code, _ = run("lockdown", "demobank", "sideways"); code != 2 {
		t.Errorf("admin lockdown sideways = %d, want 2", code)
	}
	code, out = run("audit")
	if code != 0 || !strings.Contains(out, "block.add") || !strings.Contains(out, "block.remove") || !strings.Contains(out, "lockdown.set") {
		t.Errorf("admin audit = %d %q, want every action", code, out)
	}

	// Wrong or missing token.
	var out2, errb bytes.Buffer
	if code := Main(context.Background(), []string{"admin", "--admin-url", url, "--token", "wrong-token-wrong-token", "blocks", "list"}, &out2, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Errorf("admin with a wrong token = %d %q, want 1 and 401", code, errb.String())
	}
	t.Setenv("APIGUARD_ADMIN_TOKEN", "")
	if code := Main(context.Background(), []string{"admin", "--admin-url", url, "blocks", "list"}, &out2, &errb); code != 2 {
		t.Errorf("admin without a token = %d, want 2", code)
	}

	// events tail, then --follow picks up new events.
	ctx := context.Background()
	evs := make([]events.Event, 30)
	for i := range evs {
		evs[i] = events.Event{Time: time.Now(), Kind: events.KindGuard, Guard: "denylist", Rule: "denylist.ip", Verdict: events.VerdictBlock, Status: 403, ClientIP: "203.0.113.7"}
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, []events.Event{{Time: time.Now(), Kind: events.KindGuard, Guard: "waf", Rule: "waf.942100", Verdict: events.VerdictBlock}}); err != nil {
		t.Fatal(err)
	}
	code, out = run("events", "tail", "-n", "3", "--guard", "denylist")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "28 ") || !strings.HasPrefix(lines[2], "30 ") || strings.Contains(out, "waf") {
		t.Fatalf("admin events tail -n 3 --guard denylist = %d %q, want events 28..30 oldest first", code, out)
	}
	t.Setenv("APIGUARD_ADMIN_TOKEN", cliAdminToken)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fout, ferr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(fctx, []string{"admin", "--admin-url", url, "events", "tail", "--follow", "-n", "1", "--interval", "100ms"}, &fout, &ferr)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(fout.String(), "waf.942100") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := db.Append(ctx, []events.Event{{Time: time.Now(), Kind: events.KindGuard, Guard: "authn", Rule: "authn.token_expired", Verdict: events.VerdictBlock}}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(fout.String(), "authn.token_expired") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("admin events tail --follow = %d %q", code, ferr.String())
	}
	got := strings.Split(strings.TrimSpace(fout.String()), "\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "31 ") || !strings.HasPrefix(got[1], "32 ") {
		t.Errorf("admin events tail --follow printed %q, want event 31 then the new event 32, once each", got)
	}
}
