package store

import (
	"context"
	"fmt"
	"time"
)

// InventorySnapshot is the saved API inventory of one API.
type InventorySnapshot struct {
	// API is the API's name ("" for traffic no API matched).
	API string
	// Updated is when it was saved.
	Updated time.Time
	// Data is the inventory's own encoding of its state.
	Data []byte
}

// InventoryStore keeps API inventory snapshots. *SQLite and *Postgres
// implement it.
type InventoryStore interface {
	// PutInventory saves the snapshot of s.API, replacing the previous one.
	PutInventory(ctx context.Context, s InventorySnapshot) error
	// Inventories returns every saved snapshot, by API name.
	Inventories(ctx context.Context) ([]InventorySnapshot, error)
	// DeleteInventory forgets the snapshot of an API; ErrNotFound when
	// there is none.
	DeleteInventory(ctx context.Context, api string) error
}

var (
	_ InventoryStore = (*SQLite)(nil)
	_ InventoryStore = (*Postgres)(nil)
)

// PutInventory saves the snapshot of s.API, replacing the previous one.
func (s *sqlStore) PutInventory(ctx context.Context, snap InventorySnapshot) (err error) {
	if snap.Data == nil {
		snap.Data = []byte{}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("saving inventory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, "DELETE FROM inventory WHERE api = "+s.ph(1), snap.API); err != nil {
		return fmt.Errorf("saving inventory: %w", err)
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO inventory (api, updated_ns, data) VALUES ("+s.phs(3)+")",
		snap.API, nsOf(snap.Updated), snap.Data); err != nil {
		return fmt.Errorf("saving inventory: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("saving inventory: %w", err)
	}
	return nil
}

// Inventories returns every saved snapshot, by API name.
func (s *sqlStore) Inventories(ctx context.Context) ([]InventorySnapshot, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT api, updated_ns, data FROM inventory ORDER BY api")
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	defer rows.Close()
	var out []InventorySnapshot
	for rows.Next() {
		var snap InventorySnapshot
		var ns int64
		if err := rows.Scan(&snap.API, &ns, &snap.Data); err != nil {
			return nil, fmt.Errorf("reading inventory: %w", err)
		}
		snap.Updated = timeOf(ns)
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	return out, nil
}

// DeleteInventory forgets the snapshot of an API.
func (s *sqlStore) DeleteInventory(ctx context.Context, api string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM inventory WHERE api = "+s.ph(1), api)
	if err != nil {
		return fmt.Errorf("deleting inventory: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}
