package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/store"
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
	// Both changes are in the audit log, with who and what, never the key.
	db, err := store.Open(context.Background(), store.DriverSQLite, filepath.Join(dir, "apiguard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := db.Audit(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.Target)
		if !strings.HasPrefix(e.Actor, "cli") || strings.Contains(e.After, key) || strings.Contains(e.After, "agk_") {
			t.Errorf("audit entry %+v: want a cli actor and no key", e)
		}
	}
	if want := []string{"key.revoke " + id, "key.create " + id}; !slices.Equal(actions, want) {
		t.Errorf("audit log = %v, want %v (newest first)", actions, want)
	}
}
