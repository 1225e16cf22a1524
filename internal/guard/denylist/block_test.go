package denylist

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
	"github.com/apiguard/apiguard/internal/testsvc"
)

// TestBlockShared checks Block: validated, enforced at once on the
// instance that made it, persisted with an audit entry naming the actor,
// reported as an event, and enforced by another instance through Redis.
func TestBlockShared(t *testing.T) {
	ctx := context.Background()
	rdb := testsvc.Redis(t)
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var evs []events.Event
	svc1 := pipeline.NewServices(pipeline.Services{Store: db, Redis: rdb, Emit: func(e events.Event) { evs = append(evs, e) }})
	defer svc1.Close()
	svc2 := pipeline.NewServices(pipeline.Services{Redis: rdb})
	defer svc2.Close()
	st2, err := sharedState(svc2)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		b    store.Block
		want string
	}{
		{"bad kind", store.Block{Kind: "user", Value: "x"}, "kind"},
		{"bad address", store.Block{Kind: KindIP, Value: "300.1.2.3"}, "IP address"},
		{"empty value", store.Block{Kind: KindPrincipal}, "value"},
		{"long reason", store.Block{Kind: KindPrincipal, Value: "p", Reason: strings.Repeat("r", maxValueLen+1)}, "reason"},
		{"expired", store.Block{Kind: KindPrincipal, Value: "p", Expires: time.Now().Add(-time.Minute)}, "expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Block(ctx, svc1, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Block(%+v) = %v, want an error about %s", tc.b, err, tc.want)
			}
		})
	}

	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	b, err := Block(ctx, svc1, store.Block{Kind: KindIP, Value: "::ffff:203.0.113.9", Reason: "detect.enumeration.distinct_ids",
		CreatedBy: "detector:enumeration", Expires: expires})
	if err != nil {
		t.Fatalf("Block = %v", err)
	}
	if b.ID == "" || b.Value != "203.0.113.9" || b.Created.IsZero() || !b.Expires.Equal(expires) {
		t.Errorf("Block = %+v, want an id, the canonical address, a creation time and the expiry", b)
	}
	st1, _ := sharedState(svc1)
	ip := netip.MustParseAddr("203.0.113.9")
	if e := st1.current().prefixes.lookup(ip, time.Now().UnixNano()); e == nil || e.id != b.ID {
		t.Errorf("instance 1 lookup(%s) = %+v, want block %s at once", ip, e, b.ID)
	}
	if e := st1.current().prefixes.lookup(ip, expires.Add(time.Second).UnixNano()); e != nil {
		t.Errorf("instance 1 lookup(%s) after expiry = %+v, want none", ip, e)
	}

	deadline := time.Now().Add(3 * time.Second)
	for st2.current().prefixes.lookup(ip, time.Now().UnixNano()) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("instance 2 does not enforce block %s after 3s", b.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}

	stored, err := db.Blocks(ctx, time.Now())
	if err != nil || len(stored) != 1 || stored[0].ID != b.ID || stored[0].CreatedBy != "detector:enumeration" {
		t.Errorf("stored blocks = %+v, %v, want block %s by detector:enumeration", stored, err, b.ID)
	}
	audit, err := db.Audit(ctx, 0, 10)
	if err != nil || len(audit) != 1 || audit[0].Actor != "detector:enumeration" || audit[0].Action != "block.add" || audit[0].Target != b.ID {
		t.Errorf("audit = %+v, %v, want one block.add of %s by detector:enumeration", audit, err, b.ID)
	}
	if len(evs) != 1 || evs[0].Rule != "denylist.block_added" || !strings.Contains(evs[0].Detail, "detector:enumeration") {
		t.Errorf("events = %+v, want one denylist.block_added naming the actor", evs)
	}
}
