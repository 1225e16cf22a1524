package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/events"
)

// sqlStore is the engine-neutral SQL implementation of Store. Its queries
// use only standard SQL; an engine supplies its placeholder syntax, its
// migrations and its connection pools.
type sqlStore struct {
	write *sql.DB // the one writer connection
	read  *sql.DB // readers; may be write
	ph    func(n int) string
	// lock and unlock, when set, bracket the migrations with a session
	// lock so that instances starting together migrate one at a time.
	lock, unlock string
}

// eventColumns are the events table's columns, in scan order.
const eventColumns = "id, time_ns, kind, request_id, api, operation, method, path, client_ip, principal, guard, rule, category, verdict, mode, status, latency_ns, detail, severity"

// eventInsertColumns is the number of columns an INSERT of one event sets.
const eventInsertColumns = 18

// insertRows is the number of rows per INSERT statement: multi-row VALUES
// is standard SQL and cuts the per-statement cost. 32 rows of 18 columns
// stay well under every engine's parameter limit (32 × 18 = 576).
const insertRows = 32

// insertSQL returns an INSERT of n rows.
func (s *sqlStore) insertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events (time_ns, kind, request_id, api, operation, method, path, client_ip, principal, guard, rule, category, verdict, mode, status, latency_ns, detail, severity) VALUES ")
	p := 1
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := 0; c < eventInsertColumns; c++ {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s.ph(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Append stores evs in one transaction.
func (s *sqlStore) Append(ctx context.Context, evs []events.Event) (err error) {
	if len(evs) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("appending events: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var full *sql.Stmt
	args := make([]any, 0, eventInsertColumns*min(len(evs), insertRows))
	for len(evs) > 0 {
		n := min(len(evs), insertRows)
		args = args[:0]
		for i := range evs[:n] {
			e := &evs[i]
			t := e.Time
			if t.IsZero() {
				t = time.Now()
			}
			args = append(args, t.UnixNano(), string(e.Kind), e.RequestID, e.API, e.Operation,
				e.Method, e.Path, e.ClientIP, e.Principal, e.Guard, e.Rule, e.Category, e.Verdict, e.Mode,
				e.Status, int64(e.Latency), e.Detail, e.Severity)
		}
		if n == insertRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, s.insertSQL(n)); err != nil {
					return fmt.Errorf("appending events: %w", err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.insertSQL(n), args...)
		}
		if err != nil {
			return fmt.Errorf("appending events: %w", err)
		}
		evs = evs[n:]
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("appending events: %w", err)
	}
	return nil
}

// eventsQuery builds the SELECT of f and its arguments.
func (s *sqlStore) eventsQuery(f Filter) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 12)
	b.WriteString("SELECT " + eventColumns + " FROM events")
	where := func(cond string, arg any) {
		if len(args) == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		args = append(args, arg)
		b.WriteString(cond)
		b.WriteString(s.ph(len(args)))
	}
	if !f.Since.IsZero() {
		where("time_ns >= ", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where("time_ns < ", f.Until.UnixNano())
	}
	for _, c := range [...]struct{ col, val string }{
		{"kind", f.Kind}, {"api", f.API}, {"guard", f.Guard}, {"rule", f.Rule},
		{"category", f.Category}, {"verdict", f.Verdict}, {"principal", f.Principal},
		{"client_ip", f.ClientIP}, {"request_id", f.RequestID},
	} {
		if c.val != "" {
			where(c.col+" = ", c.val)
		}
	}
	if f.Before > 0 {
		where("id < ", f.Before)
	}
	args = append(args, f.limit())
	b.WriteString(" ORDER BY id DESC LIMIT " + s.ph(len(args)))
	return b.String(), args
}

// Events returns the events f selects, newest first.
func (s *sqlStore) Events(ctx context.Context, f Filter) ([]events.Event, error) {
	q, args := s.eventsQuery(f)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("querying events: %w", err)
	}
	defer rows.Close()
	out := make([]events.Event, 0, min(f.limit(), 64))
	for rows.Next() {
		var (
			e       events.Event
			ns, lat int64
			kind    string
		)
		if err := rows.Scan(&e.ID, &ns, &kind, &e.RequestID, &e.API, &e.Operation, &e.Method, &e.Path,
			&e.ClientIP, &e.Principal, &e.Guard, &e.Rule, &e.Category, &e.Verdict, &e.Mode,
			&e.Status, &lat, &e.Detail, &e.Severity); err != nil {
			return nil, fmt.Errorf("querying events: %w", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		e.Kind = events.Kind(kind)
		e.Latency = time.Duration(lat)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying events: %w", err)
	}
	return out, nil
}

// Prune deletes events older than r.MaxAge, then all but the newest
// r.MaxEvents.
func (s *sqlStore) Prune(ctx context.Context, r Retention) (int64, error) {
	r = r.withDefaults()
	var total int64
	if r.MaxAge > 0 {
		res, err := s.write.ExecContext(ctx, "DELETE FROM events WHERE time_ns < "+s.ph(1),
			time.Now().Add(-r.MaxAge).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("pruning events by age: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	if r.MaxEvents > 0 {
		res, err := s.write.ExecContext(ctx,
			"DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET "+s.ph(1)+")",
			r.MaxEvents)
		if err != nil {
			return total, fmt.Errorf("pruning events by count: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// Ping checks both connection pools.
func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging store: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging store: %w", err)
	}
	return nil
}

// Close closes both connection pools.
func (s *sqlStore) Close() error {
	errR := s.read.Close()
	errW := s.write.Close()
	if errW != nil {
		return fmt.Errorf("closing store: %w", errW)
	}
	if errR != nil {
		return fmt.Errorf("closing store: %w", errR)
	}
	return nil
}

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads dir of fsys: files named NNNN_name.sql, applied in
// version order.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("reading migrations: %s: name must be NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("reading migrations: %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations,
// each in its own transaction, on one connection that holds the engine's
// migration lock (if any). It refuses a database whose schema is newer
// than the newest migration known.
func (s *sqlStore) migrate(ctx context.Context, ms []migration) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrating store: %w", err)
	}
	defer conn.Close()
	if s.lock != "" {
		if _, err := conn.ExecContext(ctx, s.lock); err != nil {
			return fmt.Errorf("migrating store: taking the migration lock: %w", err)
		}
		defer func() {
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = conn.ExecContext(uctx, s.unlock)
		}()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_ns BIGINT  NOT NULL
)`); err != nil {
		return fmt.Errorf("migrating store: %w", err)
	}
	var current sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrating store: %w", err)
	}
	if len(ms) > 0 && current.Int64 > int64(ms[len(ms)-1].version) {
		return fmt.Errorf("migrating store: schema version %d is newer than this apiguard knows (%d)", current.Int64, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if int64(m.version) <= current.Int64 {
			continue
		}
		if err := s.apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migrating store: %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *sqlStore) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		_ = tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ("+s.ph(1)+", "+s.ph(2)+", "+s.ph(3)+")",
		m.version, m.name, time.Now().UnixNano()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// schemaVersion returns the newest migration applied.
func (s *sqlStore) schemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.write.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return int(v.Int64), nil
}
