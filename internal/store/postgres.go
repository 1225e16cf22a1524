package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Postgres is the store for clusters: every apiguard instance writes to and
// reads from one PostgreSQL database. It runs the same engine-neutral SQL
// as SQLite through pgx's database/sql driver
// (docs/decisions/0005-postgresql-store.md).
type Postgres struct {
	sqlStore
}

var (
	_ Store         = (*Postgres)(nil)
	_ KeyStore      = (*Postgres)(nil)
	_ IncidentStore = (*Postgres)(nil)
)

// Postgres pool sizes.
const (
	postgresMaxConns  = 8
	postgresIdleConns = 4
)

// migrationLockID is the advisory lock key held while migrating
// ("apiguard" in ASCII, truncated to fit a bigint).
const migrationLockID int64 = 0x61706967_75617264

// OpenPostgres connects to the PostgreSQL database named by dsn (a
// postgres:// URL or key=value string, as libpq accepts) and brings its
// schema up to date. Errors never contain the DSN, which may hold a
// password.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	if dsn == "" {
		return nil, fmt.Errorf("opening postgres store: empty dsn")
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN; do not wrap it.
		return nil, fmt.Errorf("opening postgres store: the dsn does not parse")
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	where := cc.Host + ":" + strconv.Itoa(int(cc.Port)) + "/" + cc.Database
	s := &Postgres{sqlStore{write: db, read: db, ph: func(n int) string { return "$" + strconv.Itoa(n) },
		lock:   "SELECT pg_advisory_lock(" + strconv.FormatInt(migrationLockID, 10) + ")",
		unlock: "SELECT pg_advisory_unlock(" + strconv.FormatInt(migrationLockID, 10) + ")"}}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", where, err)
	}
	ms, err := loadMigrations(migrationsFS, "migrations/postgres")
	if err == nil {
		err = s.migrate(ctx, ms)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", where, err)
	}
	return s, nil
}

// Close closes the connection pool.
func (p *Postgres) Close() error {
	if err := p.write.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}
