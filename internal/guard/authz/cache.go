package authz

import (
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/pipeline"
)

const (
	maxAccessCacheTTL         = 5 * time.Minute
	defaultAccessCacheEntries = 10000
)

// accessCache keeps require_access answers per caller credential and
// object path. Only answers that say something about the caller's rights
// are kept (2xx, 401, 403, 404); transient ones (429, 5xx) are asked again.
type accessCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]accessEntry
}

type accessEntry struct {
	status int
	until  time.Time
}

func newAccessCache(ttl time.Duration, max int) *accessCache {
	return &accessCache{ttl: ttl, max: max, entries: make(map[string]accessEntry)}
}

// key identifies the caller's credential and the object: the token id
// when the token has one, else the credential headers, else the
// principal's identity; and the API, host and path.
func (c *accessCache) key(x *pipeline.Exchange, path string) string {
	var b strings.Builder
	b.WriteString(x.API)
	b.WriteByte(0)
	b.WriteString(x.Request.Host)
	b.WriteByte(0)
	b.WriteString(path)
	b.WriteByte(0)
	p := x.Principal
	if p != nil {
		if jti, ok := p.Claims["jti"].(string); ok && jti != "" {
			b.WriteString("jti\x00")
			b.WriteString(p.Subject)
			b.WriteByte(0)
			b.WriteString(jti)
			return b.String()
		}
	}
	auth, cookie := x.Request.Header.Get("Authorization"), x.Request.Header.Get("Cookie")
	if auth != "" || cookie != "" {
		b.WriteString("hdr\x00")
		b.WriteString(auth)
		b.WriteByte(0)
		b.WriteString(cookie)
		return b.String()
	}
	b.WriteString("principal\x00")
	if p != nil {
		b.WriteString(p.Method)
		b.WriteByte(0)
		b.WriteString(p.Subject)
		b.WriteByte(0)
		b.WriteString(p.ClientID)
		b.WriteByte(0)
		b.WriteString(p.Tenant)
		b.WriteByte(0)
		b.WriteString(strings.Join(p.Roles, ","))
		b.WriteByte(0)
		b.WriteString(strings.Join(p.Scopes, " "))
	}
	return b.String()
}

func (c *accessCache) get(key string, now time.Time) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return 0, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return 0, false
	}
	return e.status, true
}

func (c *accessCache) put(key string, status int, now time.Time) {
	switch {
	case status >= 200 && status <= 299, status == 401, status == 403, status == 404:
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = accessEntry{status: status, until: now.Add(c.ttl)}
}
