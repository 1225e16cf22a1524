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
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeAlerts runs serve with a file exporter and a webhook, checks
// that a refused request reaches both, then reloads the config with
// another file and checks that the exporters followed.
func TestServeAlerts(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer upstream.Close()
	var mu sync.Mutex
	var hooks []map[string]any
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		hooks = append(hooks, body)
		mu.Unlock()
	}))
	defer receiver.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "apiguard.yaml")
	config := func(file string) string {
		return fmt.Sprintf(`data_dir: data
log: {access_log: "off"}
apis:
  - name: app
    upstream: {urls: [%q]}
alerts:
  file: {path: %s}
  webhooks:
    - {name: hook, url: %q, allow_private: true, dedupe_window: 0s}
`, upstream.URL, file, receiver.URL)
	}
	if err := os.WriteFile(cfgPath, []byte(config("alerts-1.jsonl")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, []string{"APIGUARD_ADMIN_TOKEN="}, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "off")
	addr := p.waitFor(t, `protecting 1 API\(s\) `+listenRE)

	refuse := func() {
		t.Helper()
		if status, body := rawGet(t, addr, "/a/%2e%2e/%2e%2e/etc/passwd"); status != 400 {
			t.Fatalf("dot segments = %d %s, want 400", status, body)
		}
	}
	fileHas := func(name string) bool {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.Contains(string(b), `"verdict":"block"`)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hookCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(hooks)
	}
	refuse()
	waitUntil("the event in alerts-1.jsonl", func() bool { return fileHas("alerts-1.jsonl") })
	waitUntil("the webhook", func() bool { return hookCount() >= 1 })
	mu.Lock()
	alert, _ := hooks[0]["alert"].(map[string]any)
	mu.Unlock()
	if alert["type"] != "event" || alert["severity"] != "medium" {
		t.Errorf("webhook alert = %v, want one medium event", alert)
	}
	if st, err := os.Stat(filepath.Join(dir, "alerts-1.jsonl")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("alerts file mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}

	// Reload with another file: the exporters follow.
	if err := os.WriteFile(cfgPath, []byte(config("alerts-2.jsonl")), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, `config reloaded`)
	refuse()
	waitUntil("the event in alerts-2.jsonl", func() bool { return fileHas("alerts-2.jsonl") })
	waitUntil("the second webhook", func() bool { return hookCount() >= 2 })
	p.stop(t)
}
