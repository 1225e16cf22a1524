// Package testsvc gives tests the real services they need (Redis,
// PostgreSQL). A test that needs one calls Redis(t) or Postgres(t): when the
// service does not answer the test fails — it never skips silently — and
// the message says how to start it (./scripts/test.sh starts both).
package testsvc

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/redis/go-redis/v9"
)

// RedisAddr is the address tests use: APIGUARD_TEST_REDIS or 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("APIGUARD_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// PostgresURL is the URL tests use: APIGUARD_TEST_POSTGRES or the local
// trust-auth server.
func PostgresURL() string {
	if u := os.Getenv("APIGUARD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Redis returns a client on a database of its own (flushed before and
// after the test), or fails the test when Redis does not answer.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	addr := RedisAddr()
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		t.Fatalf("Redis at %s is needed by this test and does not answer (%v): run ./scripts/test.sh, which starts it", addr, err)
	} else {
		c.Close()
	}
	db := redisDB(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rdb.FlushDB(ctx).Err()
		_ = rdb.Close()
	})
	return rdb
}

// redisDB picks a database number per test package process, so packages
// tested in parallel do not flush each other's keys: 1..15 by process id.
func redisDB(t testing.TB) int {
	return 1 + os.Getpid()%15
}

// Postgres creates a schema of its own for the test (test_<random>, dropped
// when the test ends) and returns a DSN whose search_path selects it, so
// packages tested in parallel do not see each other's tables. It fails the
// test when PostgreSQL does not answer.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", redactURL(base), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		t.Fatalf("PostgreSQL at %s is needed by this test and does not answer (%v): run ./scripts/test.sh, which starts it, or set APIGUARD_TEST_POSTGRES", redactURL(base), err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = db.Close()
		t.Fatalf("PostgreSQL at %s: creating schema %s: %v", redactURL(base), schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("PostgreSQL: dropping schema %s: %v", schema, err)
		}
		_ = db.Close()
	})
	return withSearchPath(base, schema)
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// redactURL hides a password in a URL DSN.
func redactURL(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return "the configured DSN"
}
