package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apiguard/apiguard/internal/store"
)

// Store keeps inventory snapshots; store.SQLite and store.Postgres
// implement it.
type Store interface {
	PutInventory(ctx context.Context, s store.InventorySnapshot) error
	Inventories(ctx context.Context) ([]store.InventorySnapshot, error)
}

// snapshotVersion is the version of the snapshot encoding.
const snapshotVersion = 1

// maxSnapshot bounds a decompressed snapshot.
const maxSnapshot = 256 << 20

// apiSnapshot is one API's state as saved.
type apiSnapshot struct {
	Version    int         `json:"version"`
	Name       string      `json:"name"`
	Endpoints  []*endpoint `json:"endpoints"`
	Tree       *tnode      `json:"tree"`
	Other      otherStats  `json:"other"`
	Unanswered uint64      `json:"unanswered"`
}

// encode returns the gzip-compressed JSON snapshot of a.
func (a *apiState) encode() ([]byte, error) {
	s := apiSnapshot{Version: snapshotVersion, Name: a.name, Tree: a.tree.root, Other: a.other, Unanswered: a.unanswered}
	for _, ep := range a.endpoints {
		s.Endpoints = append(s.Endpoints, ep)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(&s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeSnapshot reads a snapshot made by encode.
func decodeSnapshot(data []byte) (*apiSnapshot, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var s apiSnapshot
	dec := json.NewDecoder(io.LimitReader(zr, maxSnapshot))
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d is not %d", s.Version, snapshotVersion)
	}
	return &s, nil
}

// Snapshot saves the APIs changed since the last snapshot. The state is
// encoded under the lock (observations wait, in the hub's queue) and
// written without it.
func (inv *Inventory) Snapshot(ctx context.Context, st Store) error {
	type pending struct {
		name string
		data []byte
	}
	var todo []pending
	var errs []error
	inv.mu.Lock()
	now := inv.opts.Now().UTC()
	for name, a := range inv.apis {
		if !a.dirty {
			continue
		}
		data, err := a.encode()
		if err != nil {
			errs = append(errs, fmt.Errorf("inventory of %q: %w", name, err))
			continue
		}
		a.dirty = false
		todo = append(todo, pending{name, data})
	}
	inv.mu.Unlock()
	for _, p := range todo {
		if err := st.PutInventory(ctx, store.InventorySnapshot{API: p.name, Updated: now, Data: p.data}); err != nil {
			errs = append(errs, fmt.Errorf("saving the inventory of %q: %w", p.name, err))
			inv.mu.Lock()
			if a := inv.apis[p.name]; a != nil {
				a.dirty = true // try again next time
			}
			inv.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Restore loads the saved snapshots into an inventory that has not seen
// traffic yet for those APIs (an API already observed keeps its state).
// Unreadable snapshots are skipped and reported.
func (inv *Inventory) Restore(ctx context.Context, st Store) error {
	snaps, err := st.Inventories(ctx)
	if err != nil {
		return fmt.Errorf("restoring the inventory: %w", err)
	}
	var errs []error
	for _, sn := range snaps {
		s, err := decodeSnapshot(sn.Data)
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring the inventory of %q: %w", sn.API, err))
			continue
		}
		inv.restore(sn.API, s)
	}
	return errors.Join(errs...)
}

func (inv *Inventory) restore(name string, s *apiSnapshot) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if a := inv.apis[name]; a != nil && len(a.endpoints) > 0 {
		return
	}
	a := inv.api(name)
	if a == nil {
		return
	}
	if s.Tree != nil {
		a.tree.root = s.Tree
		a.tree.nodes = countNodes(s.Tree, 0)
	}
	a.other, a.unanswered = s.Other, s.Unanswered
	for _, ep := range s.Endpoints {
		if ep == nil || len(a.endpoints) >= inv.opts.MaxEndpoints {
			continue
		}
		ep.Method = canonicalMethod(ep.Method)
		if ep.Template == "" || ep.Template[0] != '/' {
			continue
		}
		ep.nodes = ep.RequestBody.count()
		for _, st := range ep.Statuses {
			if st != nil {
				ep.nodes += st.Body.count()
			}
		}
		for code, st := range ep.Statuses {
			if st == nil {
				delete(ep.Statuses, code)
			}
		}
		dropNil(ep.PathParams)
		dropNil(ep.Query)
		dropNil(ep.Header)
		k := epKey{ep.Method, ep.Template}
		if dst := a.endpoints[k]; dst != nil {
			dst.merge(ep)
			continue
		}
		a.endpoints[k] = ep
	}
}

func dropNil[K comparable](m map[K]*param) {
	for k, p := range m {
		if p == nil {
			delete(m, k)
		}
	}
}

// countNodes counts a tree's nodes, and drops what is past maxDepth.
func countNodes(n *tnode, depth int) int {
	if depth > maxDepth {
		n.Lits, n.Param = nil, nil
		return 1
	}
	c := 1
	for seg, ch := range n.Lits {
		if ch == nil {
			delete(n.Lits, seg)
			continue
		}
		c += countNodes(ch, depth+1)
	}
	if n.Param != nil {
		c += countNodes(n.Param, depth+1)
	}
	return c
}

// Run saves snapshots every interval until ctx ends, then once more
// (with a 10 s deadline). Errors are logged.
func (inv *Inventory) Run(ctx context.Context, st Store, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := inv.Snapshot(sctx, st); err != nil {
				inv.logger().Warn("inventory snapshot at shutdown failed", "error", err)
			}
			return
		case <-tick.C:
			if err := inv.Snapshot(ctx, st); err != nil && ctx.Err() == nil {
				inv.logger().Warn("inventory snapshot failed", "error", err)
			}
		}
	}
}

func (inv *Inventory) logger() interface{ Warn(string, ...any) } {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.opts.Logger
}
