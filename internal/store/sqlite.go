package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

//go:embed migrations
var migrationsFS embed.FS

// SQLite is the embedded store: one SQLite file in WAL mode, one writer
// connection and a small pool of read-only connections.
type SQLite struct {
	sqlStore
}

var _ Store = (*SQLite)(nil)

// sqliteReaders is the size of the read pool.
const sqliteReaders = 4

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("opening sqlite store: empty path")
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	w, err := sql.Open("sqlite", base+"?"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	// SQLite has one writer at a time; one connection avoids SQLITE_BUSY
	// between our own writers.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &SQLite{sqlStore{write: w, ph: func(int) string { return "?" }}}
	ms, err := loadMigrations(migrationsFS, "migrations/sqlite")
	if err == nil {
		err = s.migrate(ctx, ms)
	}
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	s.read = r
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	return s, nil
}
