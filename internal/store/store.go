// Package store keeps security events, API keys, blocks, lockdowns and the
// admin audit log: small interfaces (Store, KeyStore, IncidentStore) with
// two implementations running the same SQL — embedded SQLite (default) and
// PostgreSQL (clusters) — and a Writer that batches events off the request
// path. Open picks the engine from a driver name.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apiguard/apiguard/internal/events"
)

// Query limits.
const (
	// DefaultLimit is the number of events returned when Filter.Limit is 0.
	DefaultLimit = 100
	// MaxLimit is the largest number of events one query returns.
	MaxLimit = 1000
)

// Retention defaults.
const (
	// DefaultMaxAge is the default age past which events are pruned.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultMaxEvents is the default number of events kept.
	DefaultMaxEvents = 1_000_000
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("store closed")

// Filter selects events. Zero fields do not filter. String fields match
// exactly.
type Filter struct {
	// Since and Until bound the event time: Since <= time < Until.
	Since, Until time.Time
	// Kind, API, Guard, Rule, Category, Verdict, Principal, ClientIP and
	// RequestID match the event's fields of the same name.
	Kind, API, Guard, Rule, Category, Verdict, Principal, ClientIP, RequestID string
	// Before is a cursor: only events with ID < Before; 0 means from the newest.
	Before int64
	// Limit is the number of events returned: default 100, at most 1000.
	Limit int
}

// limit returns the effective limit of f.
func (f *Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// Retention says which events Prune deletes.
type Retention struct {
	// MaxAge deletes older events. Default 7 days; negative keeps any age.
	MaxAge time.Duration
	// MaxEvents keeps only the newest events. Default 1,000,000; negative
	// keeps any number.
	MaxEvents int64
}

// withDefaults returns r with zero fields set to their defaults.
func (r Retention) withDefaults() Retention {
	if r.MaxAge == 0 {
		r.MaxAge = DefaultMaxAge
	}
	if r.MaxEvents == 0 {
		r.MaxEvents = DefaultMaxEvents
	}
	return r
}

// Store keeps events. Implementations are safe for concurrent use.
type Store interface {
	// Append stores evs in one transaction; their ID fields are ignored.
	Append(ctx context.Context, evs []events.Event) error
	// Events returns the events f selects, newest (highest ID) first.
	Events(ctx context.Context, f Filter) ([]events.Event, error)
	// Prune deletes the events r no longer keeps and returns how many.
	Prune(ctx context.Context, r Retention) (int64, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// Drivers.
const (
	// DriverSQLite is the embedded SQLite store.
	DriverSQLite = "sqlite"
	// DriverPostgres is the PostgreSQL store.
	DriverPostgres = "postgres"
)

// DB is what both engines implement: events, keys and incident state.
type DB interface {
	Store
	KeyStore
	IncidentStore
}

// Open opens the store of driver: target is the SQLite file path for
// sqlite and the DSN for postgres.
func Open(ctx context.Context, driver, target string) (DB, error) {
	switch driver {
	case DriverSQLite, "":
		s, err := OpenSQLite(ctx, target)
		if err != nil {
			return nil, err
		}
		return s, nil
	case DriverPostgres:
		s, err := OpenPostgres(ctx, target)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("opening store: unknown driver %q", driver)
}
