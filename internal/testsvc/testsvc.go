// Package testsvc gives tests the real services they need (Redis,
// PostgreSQL). A test that needs one calls Redis(t) or Postgres(t): when the
// service does not answer the test fails — it never skips silently — and
// the message says how to start it (./scripts/test.sh starts both).
package testsvc

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

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
