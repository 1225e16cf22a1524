package gateway

import (
	"crypto/tls"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/config"
)

// NewRedis returns the shared Redis client for the config, or nil when
// Redis is off. It does not connect: a Redis that is down at start-up is
// the guards' failure mode, not a reason to refuse to start.
func NewRedis(c config.Redis, dir string) (redis.UniversalClient, error) {
	if len(c.Addrs) == 0 {
		return nil, nil
	}
	opts := &redis.UniversalOptions{
		Addrs:        c.Addrs,
		Username:     c.Username,
		Password:     c.Password.Value(),
		DB:           c.DB,
		DialTimeout:  c.DialTimeout.D(),
		ReadTimeout:  c.Timeout.D(),
		WriteTimeout: c.Timeout.D(),
		PoolSize:     c.PoolSize,
		MaxRetries:   1,
	}
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pool, err := loadPool(resolvePath(dir, c.CAFile))
			if err != nil {
				return nil, fmt.Errorf("redis.ca_file: %w", err)
			}
			tc.RootCAs = pool
		}
		opts.TLSConfig = tc
	}
	return redis.NewUniversalClient(opts), nil
}
