package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"keys"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("create", "--data-dir", dir, "--name", "partner", "--roles", "a,b")
	if code != 0 || !strings.Contains(out, "key: agk_") {
		t.Fatalf("keys create = %d %q, want a key printed", code, out)
	}
	id := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "id:", 2)[1], "\n", 2)[0])
	key := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "key:", 2)[1], "\n", 2)[0])
	code, out = run("list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "active") || strings.Contains(out, key) {
		t.Fatalf("keys list = %d %q, want the id, active, and never the key", code, out)
	}
	if code, out = run("revoke", "--data-dir", dir, id); code != 0 {
		t.Fatalf("keys revoke = %d %q", code, out)
	}
	if _, out = run("list", "--data-dir", dir); !strings.Contains(out, "revoked") {
		t.Errorf("keys list after revoke = %q, want revoked", out)
	}
	if code, _ = run("revoke", "--data-dir", dir, "nope"); code != 1 {
		t.Errorf("keys revoke unknown = %d, want 1", code)
	}
}
