package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestInventoryStore(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) { testInventoryStore(t, openEngine(t, e)) })
}

func testInventoryStore(t *testing.T, s DB) {
	ctx := context.Background()
	is, ok := s.(InventoryStore)
	if !ok {
		t.Fatalf("%T does not implement InventoryStore", s)
	}
	now := time.Unix(1_700_000_000, 123).UTC()
	blob := []byte{0x1f, 0x8b, 0x00, 0xff, 'x'} // binary, as gzip data is
	for _, snap := range []InventorySnapshot{
		{API: "shop", Updated: now, Data: []byte("old")},
		{API: "bank", Updated: now, Data: blob},
		{API: "shop", Updated: now.Add(time.Minute), Data: []byte("new")},
		{API: "", Updated: now, Data: nil},
	} {
		if err := is.PutInventory(ctx, snap); err != nil {
			t.Fatalf("PutInventory(%q) = %v", snap.API, err)
		}
	}
	got, err := is.Inventories(ctx)
	if err != nil {
		t.Fatalf("Inventories() = %v", err)
	}
	want := []InventorySnapshot{
		{API: "", Updated: now, Data: []byte{}},
		{API: "bank", Updated: now, Data: blob},
		{API: "shop", Updated: now.Add(time.Minute), Data: []byte("new")},
	}
	if len(got) != len(want) {
		t.Fatalf("Inventories() = %d snapshots, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.API != w.API || !g.Updated.Equal(w.Updated) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("Inventories()[%d] = %q %v %x, want %q %v %x", i, g.API, g.Updated, g.Data, w.API, w.Updated, w.Data)
		}
	}
	if err := is.DeleteInventory(ctx, "bank"); err != nil {
		t.Errorf("DeleteInventory(bank) = %v", err)
	}
	if err := is.DeleteInventory(ctx, "bank"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteInventory(bank again) = %v, want ErrNotFound", err)
	}
	if got, _ := is.Inventories(ctx); len(got) != 2 {
		t.Errorf("Inventories() after delete = %d snapshots, want 2", len(got))
	}
}
