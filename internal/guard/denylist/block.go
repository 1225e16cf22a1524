package denylist

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// Block makes a block effective at once, as POST /api/v1/blocks does: it
// is kept in the store, enforced by this instance and shared with the
// other instances through Redis. It is for apiguard's own components that
// block on their own (the anomaly detectors, docs/detectors.md).
//
// b.Kind and b.Value are validated and the value canonicalised; an empty
// b.ID, b.Created or b.CreatedBy is filled in (CreatedBy "apiguard").
// The action is written to the audit log with b.CreatedBy as the actor
// and reported as a denylist.block_added event. The block as stored is
// returned.
func Block(ctx context.Context, svc *pipeline.Services, b store.Block) (store.Block, error) {
	v, err := canonical(b.Kind, b.Value)
	if err != nil {
		return b, fmt.Errorf("denylist block: %w", err)
	}
	if len(b.Reason) > maxValueLen || len(b.CreatedBy) > 64 {
		return b, fmt.Errorf("denylist block: reason: must be at most %d bytes, created_by at most 64", maxValueLen)
	}
	s, err := sharedState(svc)
	if err != nil {
		return b, err
	}
	now := svc.Now().UTC()
	b.Value = v
	if b.ID == "" {
		b.ID = newID()
	}
	if b.Created.IsZero() {
		b.Created = now
	}
	if b.CreatedBy == "" {
		b.CreatedBy = "apiguard"
	}
	if !b.Expires.IsZero() && !now.Before(b.Expires) {
		return b, fmt.Errorf("denylist block: expires: must be in the future")
	}
	if err := s.addBlock(ctx, b); err != nil {
		return b, fmt.Errorf("denylist block: %w", err)
	}
	if s.is != nil {
		after, _ := json.Marshal(b)
		e := store.AuditEntry{Time: now, Actor: b.CreatedBy, Action: "block.add", Target: b.ID, After: string(after)}
		if err := s.is.AppendAudit(ctx, e); err != nil {
			svc.Logger.Error("denylist: recording audit entry", "action", e.Action, "error", err)
		}
	}
	svc.Logger.Info("block added", "actor", b.CreatedBy, "kind", b.Kind, "block", b.ID)
	svc.Emit(events.Event{Time: now, Kind: events.KindSystem, Guard: "denylist", Rule: "denylist.block_added",
		Verdict: events.VerdictAllow, Detail: "blocked " + b.Kind + " (block " + b.ID + ") by " + b.CreatedBy})
	return b, nil
}
