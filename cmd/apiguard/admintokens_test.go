package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeNamedAdminTokens runs serve with named admin tokens: the audit
// log names the token behind each call, a read-only token cannot block,
// and a reload that removes a token revokes it without a restart.
func TestServeNamedAdminTokens(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer upstream.Close()
	const alice, auditor = "alice-e2e-token-0123456789", "auditor-e2e-token-0123456789"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "apiguard.yaml")
	config := func(tokens string) string {
		return fmt.Sprintf("data_dir: data\nlog: {access_log: \"off\"}\nadmin:\n  tokens: %s\napis:\n  - name: app\n    upstream: {urls: [%q]}\n    guards: {denylist: {}}\n", tokens, upstream.URL)
	}
	both := fmt.Sprintf("[{name: ops-alice, token: %s}, {name: auditor, token: %s, role: read-only}]", alice, auditor)
	if err := os.WriteFile(cfgPath, []byte(config(both)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, []string{"APIGUARD_ADMIN_TOKEN="}, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	adminAddr := p.waitFor(t, `admin API on http://(127\.0\.0\.1:\d+)`)
	base := "http://" + adminAddr
	block := map[string]string{"kind": "ip", "value": "203.0.113.50", "reason": "e2e"}
	if resp, body := do(t, "POST", base+"/api/v1/blocks", auditor, block); resp.StatusCode != 403 {
		t.Errorf("block with the read-only token = %d %s, want 403", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"/api/v1/blocks", alice, block); resp.StatusCode != 201 || !strings.Contains(string(body), `"created_by":"ops-alice"`) {
		t.Errorf("block with ops-alice = %d %s, want 201 created by ops-alice", resp.StatusCode, body)
	}
	resp, body := do(t, "GET", base+"/api/v1/audit", auditor, nil)
	var page struct {
		Entries []struct{ Actor, Action string }
	}
	_ = json.Unmarshal(body, &page)
	if resp.StatusCode != 200 || len(page.Entries) != 2 || page.Entries[0].Actor != "ops-alice" || page.Entries[0].Action != "block.add" ||
		page.Entries[1].Actor != "auditor" || page.Entries[1].Action != "auth.forbidden" {
		t.Errorf("audit = %d %s, want block.add by ops-alice after auth.forbidden by auditor", resp.StatusCode, body)
	}
	// Remove alice's token: after the reload it is refused.
	if err := os.WriteFile(cfgPath, []byte(config(fmt.Sprintf("[{name: auditor, token: %s, role: read-only}]", auditor))), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, `config reloaded`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := do(t, "GET", base+"/api/v1/blocks", alice, nil)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ops-alice after the reload = %d, want 401", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(t)
}
