package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/store"
)

func TestAdminAuditCommand(t *testing.T) {
	url, _ := adminAPI(t)
	run := func(token string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"admin", "--admin-url", url, "--token", token}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run(cliAdminToken, "blocks", "add", "ip", "203.0.113.8", "--reason", "INC-7"); code != 0 {
		t.Fatalf("admin blocks add = %d %q", code, out)
	}
	if code, _ := run("wrong-token-0123456789", "blocks", "add", "ip", "203.0.113.9"); code != 1 {
		t.Fatalf("admin blocks add with a wrong token = %d, want 1", code)
	}
	code, out := run(cliAdminToken, "audit")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.Contains(lines[1], "unauthenticated") || !strings.Contains(lines[1], "auth.refused") || !strings.Contains(lines[1], "401") ||
		!strings.Contains(lines[2], "admin") || !strings.Contains(lines[2], "block.add") || !strings.Contains(lines[2], "201") || !strings.Contains(lines[2], "127.0.0.1") {
		t.Fatalf("admin audit = %d\n%s\nwant the refused call, then the block by admin", code, out)
	}
	code, out = run(cliAdminToken, "audit", "--json", "-n", "1", "--before", "2")
	var e store.AuditEntry
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &e) != nil || e.Action != "block.add" || !strings.Contains(e.After, "INC-7") || e.Request != "POST /api/v1/blocks" {
		t.Errorf("admin audit --json --before 2 = %d %q, want the block.add entry with its after state", code, out)
	}
	if code, _ = run(cliAdminToken, "audit", "-n", "0"); code != 2 {
		t.Errorf("admin audit -n 0 = %d, want 2", code)
	}
}
