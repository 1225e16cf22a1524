package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when a key or revocation does not exist.
var ErrNotFound = errors.New("not found")

// APIKey is an API key as stored: never the key itself, only its SHA-256.
type APIKey struct {
	// ID is the key's public id (part of the key the client sends).
	ID string `json:"id"`
	// Name is a human label (client or partner name).
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the whole key.
	Hash string `json:"-"`
	// Tenant is the tenant of the key's principal, if any.
	Tenant string `json:"tenant,omitempty"`
	// Roles and Scopes are granted to the key's principal.
	Roles  []string `json:"roles,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// Created is when the key was made; Expires when it stops working
	// (zero: never).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	// Revoked is when the key was revoked (zero: it is not).
	Revoked time.Time `json:"revoked,omitzero"`
	// Disabled keys are refused.
	Disabled bool `json:"disabled,omitempty"`
}

// Revocation denies a token id (jti), a subject or an API key id until it
// expires.
type Revocation struct {
	// ID identifies the revocation.
	ID string `json:"id"`
	// Kind is jti, sub or key.
	Kind string `json:"kind"`
	// Value is the revoked jti, subject or API key id.
	Value string `json:"value"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
	// Created is when it was made; Expires when it lapses (zero: never).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// KeyStore keeps API keys and revocations. *SQLite and *Postgres implement
// it.
type KeyStore interface {
	// CreateKey stores a new key; its ID must be unique.
	CreateKey(ctx context.Context, k APIKey) error
	// Key returns the key with id, or ErrNotFound.
	Key(ctx context.Context, id string) (APIKey, error)
	// Keys lists every key, oldest first.
	Keys(ctx context.Context) ([]APIKey, error)
	// RevokeKey marks a key revoked at at; ErrNotFound when absent.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// AddRevocation stores a revocation (replacing one with the same ID).
	AddRevocation(ctx context.Context, r Revocation) error
	// Revocations lists the revocations not expired at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// DeleteRevocation removes a revocation; ErrNotFound when absent.
	DeleteRevocation(ctx context.Context, id string) error
}

var _ KeyStore = (*SQLite)(nil)

func nsOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// CreateKey stores a new API key.
func (s *sqlStore) CreateKey(ctx context.Context, k APIKey) error {
	if k.ID == "" || k.Hash == "" {
		return fmt.Errorf("creating api key: id and hash are required")
	}
	dis := 0
	if k.Disabled {
		dis = 1
	}
	_, err := s.write.ExecContext(ctx, "INSERT INTO api_keys (id, name, hash, tenant, roles, scopes, created_ns, expires_ns, revoked_ns, disabled) VALUES ("+
		s.phs(10)+")", k.ID, k.Name, k.Hash, k.Tenant, strings.Join(k.Roles, " "), strings.Join(k.Scopes, " "),
		nsOf(k.Created), nsOf(k.Expires), nsOf(k.Revoked), dis)
	if err != nil {
		return fmt.Errorf("creating api key: %w", err)
	}
	return nil
}

const keyColumns = "id, name, hash, tenant, roles, scopes, created_ns, expires_ns, revoked_ns, disabled"

func scanKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var (
		k                    APIKey
		roles, scopes        string
		created, exp, revoke int64
		dis                  int
	)
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &k.Tenant, &roles, &scopes, &created, &exp, &revoke, &dis); err != nil {
		return k, err
	}
	k.Roles, k.Scopes = splitList(roles), splitList(scopes)
	k.Created, k.Expires, k.Revoked = timeOf(created), timeOf(exp), timeOf(revoke)
	k.Disabled = dis != 0
	return k, nil
}

// Key returns one API key.
func (s *sqlStore) Key(ctx context.Context, id string) (APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = "+s.ph(1), id))
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("reading api key: %w", err)
	}
	return k, nil
}

// Keys lists every API key, oldest first.
func (s *sqlStore) Keys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_ns, id")
	if err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("listing api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	return out, nil
}

// RevokeKey marks an API key revoked.
func (s *sqlStore) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.write.ExecContext(ctx, "UPDATE api_keys SET revoked_ns = "+s.ph(1)+" WHERE id = "+s.ph(2), nsOf(at), id)
	if err != nil {
		return fmt.Errorf("revoking api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AddRevocation stores a revocation, replacing one with the same id.
func (s *sqlStore) AddRevocation(ctx context.Context, r Revocation) (err error) {
	if r.ID == "" || r.Kind == "" || r.Value == "" {
		return fmt.Errorf("adding revocation: id, kind and value are required")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("adding revocation: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, "DELETE FROM revocations WHERE id = "+s.ph(1), r.ID); err != nil {
		return fmt.Errorf("adding revocation: %w", err)
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO revocations (id, kind, value, reason, created_ns, expires_ns) VALUES ("+s.phs(6)+")",
		r.ID, r.Kind, r.Value, r.Reason, nsOf(r.Created), nsOf(r.Expires)); err != nil {
		return fmt.Errorf("adding revocation: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("adding revocation: %w", err)
	}
	return nil
}

// Revocations lists the revocations in force at now, oldest first.
func (s *sqlStore) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, kind, value, reason, created_ns, expires_ns FROM revocations WHERE expires_ns = 0 OR expires_ns > "+
		s.ph(1)+" ORDER BY created_ns, id", now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var (
			r            Revocation
			created, exp int64
		)
		if err := rows.Scan(&r.ID, &r.Kind, &r.Value, &r.Reason, &created, &exp); err != nil {
			return nil, fmt.Errorf("listing revocations: %w", err)
		}
		r.Created, r.Expires = timeOf(created), timeOf(exp)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	return out, nil
}

// DeleteRevocation removes a revocation.
func (s *sqlStore) DeleteRevocation(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM revocations WHERE id = "+s.ph(1), id)
	if err != nil {
		return fmt.Errorf("deleting revocation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// phs returns n placeholders separated by commas.
func (s *sqlStore) phs(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(s.ph(i))
	}
	return b.String()
}
