package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeDetectorsBlock runs apiguard serve with the example profile and
// the enumeration detector set to block: alice walking account ids is
// blocked by the detector, the block is listed by the admin API with the
// detector as author, and the finding is an event of kind detector.
func TestServeDetectorsBlock(t *testing.T) {
	bank := start(t, nil, "demobank", "--listen", "127.0.0.1:0")
	bankAddr := bank.waitFor(t, `listening on http://(127\.0\.0\.1:\d+)`)

	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "demobank", "apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join("..", "..", "examples", "demobank", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openapi.yaml"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := string(example) + "\nobserve:\n  detectors:\n    enumeration: {action: block, block_ttl: 10m}\n"
	cfgPath := filepath.Join(dir, "apiguard.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "e2e-admin-token-0123456789"
	env := []string{"DEMOBANK_URL=http://" + bankAddr, "APIGUARD_DATA_DIR=" + dir, "APIGUARD_ADMIN_TOKEN=" + token}
	p := start(t, env, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	base := "http://" + p.waitFor(t, `protecting 1 API\(s\) `+listenRE)
	admin := "http://" + p.waitFor(t, `admin API on http://(127\.0\.0\.1:\d+)`)

	resp, body := do(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "alice-pass"})
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &login) != nil || login.AccessToken == "" {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	blockedAt := 0
	for id := 1; id <= 200 && blockedAt == 0; id++ {
		resp, body := do(t, "GET", fmt.Sprintf("%s/api/v1/accounts/%d", base, id), login.AccessToken, nil)
		if resp.StatusCode == 403 && strings.Contains(string(body), "denylist.principal") {
			blockedAt = id
		}
	}
	if blockedAt == 0 {
		t.Fatal("walking 200 account ids was never refused by the denylist")
	}
	t.Logf("refused by the denylist from account id %d", blockedAt)

	resp, body = do(t, "GET", admin+"/api/v1/blocks", token, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"created_by":"detector:enumeration"`) ||
		!strings.Contains(string(body), `"kind":"principal"`) {
		t.Errorf("admin blocks = %d %s, want alice's principal blocked by detector:enumeration", resp.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, "GET", admin+"/api/v1/events?kind=detector", token, nil)
		if resp.StatusCode == 200 && strings.Contains(string(body), `"guard":"detect.enumeration"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detector events = %d %s, want the enumeration finding stored", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(string(body), login.AccessToken) {
		t.Error("a detector event holds the token")
	}
	p.stop(t)
	bank.stop(t)
}
