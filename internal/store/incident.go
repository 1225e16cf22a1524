package store

import (
	"context"
	"fmt"
	"time"
)

// Block denies requests matching Kind and Value until it expires. The
// denylist guard enforces blocks.
type Block struct {
	// ID identifies the block.
	ID string `json:"id"`
	// Kind is ip, cidr, key, principal or jti.
	Kind string `json:"kind"`
	// Value is the address, prefix, API key id, subject or token id.
	Value string `json:"value"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
	// CreatedBy names who added it (an admin token name, a detector).
	CreatedBy string `json:"created_by,omitempty"`
	// Created is when it was made; Expires when it lapses (zero: never).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// Lockdown restricts one API: read-only (only safe methods pass) or closed.
type Lockdown struct {
	// API is the API's name.
	API string `json:"api"`
	// Mode is read-only or closed.
	Mode string `json:"mode"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
	// CreatedBy names who set it.
	CreatedBy string `json:"created_by,omitempty"`
	// Created is when it was set; Expires when it lapses (zero: never).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// AuditEntry is one admin action.
type AuditEntry struct {
	// ID orders entries; set by the store.
	ID int64 `json:"id"`
	// Time is when the action happened.
	Time time.Time `json:"time"`
	// Actor is who acted: the admin token's name.
	Actor string `json:"actor"`
	// Action is what was done, such as "block.add" or "lockdown.set".
	Action string `json:"action"`
	// Target is what it was done to, such as a block id or an API name.
	Target string `json:"target,omitempty"`
	// Before and After are JSON documents of the target's state around
	// the action; empty when it did not exist.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Request is the admin API call, such as "POST /api/v1/blocks";
	// empty for actions apiguard took on its own.
	Request string `json:"request,omitempty"`
	// Status is the HTTP status answered to the call (401 and 403 for
	// refused calls); 0 for actions apiguard took on its own.
	Status int `json:"status,omitempty"`
	// Source is the caller's address.
	Source string `json:"source,omitempty"`
}

// IncidentStore keeps blocks, lockdowns and the audit log. *SQLite and
// *Postgres implement it.
type IncidentStore interface {
	// PutBlock stores a block, replacing one with the same ID.
	PutBlock(ctx context.Context, b Block) error
	// Blocks lists the blocks not expired at now, oldest first.
	Blocks(ctx context.Context, now time.Time) ([]Block, error)
	// DeleteBlock removes a block; ErrNotFound when absent.
	DeleteBlock(ctx context.Context, id string) error
	// PutLockdown sets the lockdown of l.API, replacing any.
	PutLockdown(ctx context.Context, l Lockdown) error
	// Lockdowns lists the lockdowns not expired at now, by API name.
	Lockdowns(ctx context.Context, now time.Time) ([]Lockdown, error)
	// DeleteLockdown lifts the lockdown of api; ErrNotFound when absent.
	DeleteLockdown(ctx context.Context, api string) error
	// AppendAudit records an admin action; its ID is ignored.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit returns audit entries with ID < before (0: from the newest),
	// newest first, at most limit (default 100, at most 1000).
	Audit(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

var _ IncidentStore = (*SQLite)(nil)

// PutBlock stores a block, replacing one with the same id.
func (s *sqlStore) PutBlock(ctx context.Context, b Block) (err error) {
	if b.ID == "" || b.Kind == "" || b.Value == "" {
		return fmt.Errorf("storing block: id, kind and value are required")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing block: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, "DELETE FROM blocks WHERE id = "+s.ph(1), b.ID); err != nil {
		return fmt.Errorf("storing block: %w", err)
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO blocks (id, kind, value, reason, created_by, created_ns, expires_ns) VALUES ("+s.phs(7)+")",
		b.ID, b.Kind, b.Value, b.Reason, b.CreatedBy, nsOf(b.Created), nsOf(b.Expires)); err != nil {
		return fmt.Errorf("storing block: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("storing block: %w", err)
	}
	return nil
}

// Blocks lists the blocks in force at now, oldest first.
func (s *sqlStore) Blocks(ctx context.Context, now time.Time) ([]Block, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, kind, value, reason, created_by, created_ns, expires_ns FROM blocks WHERE expires_ns = 0 OR expires_ns > "+
		s.ph(1)+" ORDER BY created_ns, id", now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var (
			b            Block
			created, exp int64
		)
		if err := rows.Scan(&b.ID, &b.Kind, &b.Value, &b.Reason, &b.CreatedBy, &created, &exp); err != nil {
			return nil, fmt.Errorf("listing blocks: %w", err)
		}
		b.Created, b.Expires = timeOf(created), timeOf(exp)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	return out, nil
}

// DeleteBlock removes a block.
func (s *sqlStore) DeleteBlock(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "DELETE FROM blocks WHERE id = "+s.ph(1), id, "deleting block")
}

// PutLockdown sets the lockdown of an API.
func (s *sqlStore) PutLockdown(ctx context.Context, l Lockdown) (err error) {
	if l.API == "" || l.Mode == "" {
		return fmt.Errorf("storing lockdown: api and mode are required")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing lockdown: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, "DELETE FROM lockdowns WHERE api = "+s.ph(1), l.API); err != nil {
		return fmt.Errorf("storing lockdown: %w", err)
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO lockdowns (api, mode, reason, created_by, created_ns, expires_ns) VALUES ("+s.phs(6)+")",
		l.API, l.Mode, l.Reason, l.CreatedBy, nsOf(l.Created), nsOf(l.Expires)); err != nil {
		return fmt.Errorf("storing lockdown: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("storing lockdown: %w", err)
	}
	return nil
}

// Lockdowns lists the lockdowns in force at now, by API name.
func (s *sqlStore) Lockdowns(ctx context.Context, now time.Time) ([]Lockdown, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT api, mode, reason, created_by, created_ns, expires_ns FROM lockdowns WHERE expires_ns = 0 OR expires_ns > "+
		s.ph(1)+" ORDER BY api", now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("listing lockdowns: %w", err)
	}
	defer rows.Close()
	var out []Lockdown
	for rows.Next() {
		var (
			l            Lockdown
			created, exp int64
		)
		if err := rows.Scan(&l.API, &l.Mode, &l.Reason, &l.CreatedBy, &created, &exp); err != nil {
			return nil, fmt.Errorf("listing lockdowns: %w", err)
		}
		l.Created, l.Expires = timeOf(created), timeOf(exp)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing lockdowns: %w", err)
	}
	return out, nil
}

// DeleteLockdown lifts the lockdown of an API.
func (s *sqlStore) DeleteLockdown(ctx context.Context, api string) error {
	return s.deleteOne(ctx, "DELETE FROM lockdowns WHERE api = "+s.ph(1), api, "deleting lockdown")
}

// AppendAudit records an admin action.
func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("recording audit entry: actor and action are required")
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	if _, err := s.write.ExecContext(ctx, "INSERT INTO audit_log (time_ns, actor, action, target, before_json, after_json, request, status, source) VALUES ("+s.phs(9)+")",
		t.UnixNano(), e.Actor, e.Action, e.Target, e.Before, e.After, e.Request, e.Status, e.Source); err != nil {
		return fmt.Errorf("recording audit entry: %w", err)
	}
	return nil
}

// Audit returns audit entries, newest first.
func (s *sqlStore) Audit(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	limit = (&Filter{Limit: limit}).limit()
	q := "SELECT id, time_ns, actor, action, target, before_json, after_json, request, status, source FROM audit_log"
	args := []any{}
	if before > 0 {
		args = append(args, before)
		q += " WHERE id < " + s.ph(1)
	}
	args = append(args, limit)
	q += " ORDER BY id DESC LIMIT " + s.ph(len(args))
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var (
			e  AuditEntry
			ns int64
		)
		if err := rows.Scan(&e.ID, &ns, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &e.Request, &e.Status, &e.Source); err != nil {
			return nil, fmt.Errorf("listing audit log: %w", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	return out, nil
}

// deleteOne runs a DELETE of one row by key and maps "no row" to
// ErrNotFound.
func (s *sqlStore) deleteOne(ctx context.Context, q, key, what string) error {
	res, err := s.write.ExecContext(ctx, q, key)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
