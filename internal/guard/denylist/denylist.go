// Package denylist is the first request guard: it refuses requests from
// blocked IP addresses and networks, API keys, principals and token ids,
// and applies per-API lockdowns (read-only or closed). Blocks come from
// the config and from the admin API (POST /api/v1/blocks); run-time blocks
// and lockdowns are persisted in the store and shared between instances
// through Redis. See docs/denylist.md.
package denylist

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// DefaultRetryAfter is the Retry-After of a lockdown answer without expiry.
const DefaultRetryAfter = 60 * time.Second

// Config is the denylist section of an API. The guard is on for every API
// even without a section, so that blocks and lockdowns added through the
// admin API apply everywhere.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Entries are blocks from the config, enforced for this API. Default
	// none.
	Entries []Entry `yaml:"entries" json:"entries,omitempty"`
	// APIKeyHeader is the header carrying API keys, for key blocks.
	// Default X-API-Key.
	APIKeyHeader string `yaml:"api_key_header" json:"api_key_header,omitempty"`
	// RetryAfter is the Retry-After of lockdown answers; a lockdown that
	// ends sooner announces its end instead. Default 60s.
	RetryAfter config.Duration `yaml:"retry_after" json:"retry_after,omitempty"`
	// GeoIPDatabase is a MaxMind DB file (GeoLite2-Country or
	// GeoIP2-Country/City format) placing client addresses in countries,
	// for country blocks; relative to the config file. Optional: without
	// it country blocks do not apply to this API (and country entries in
	// this section are refused).
	GeoIPDatabase string `yaml:"geoip_database" json:"geoip_database,omitempty"`
}

// Entry is one block in the config.
type Entry struct {
	// Kind is ip, cidr, key (API key id), principal (subject), jti or
	// country (an ISO 3166-1 alpha-2 code; needs geoip_database).
	Kind string `yaml:"kind" json:"kind"`
	// Value is the address, prefix, key id, subject or token id.
	Value string `yaml:"value" json:"value"`
	// Reason is an operator note, written to the events.
	Reason string `yaml:"reason" json:"reason,omitempty"`
	// Expires, an RFC 3339 time, ends the block. Default never.
	Expires string `yaml:"expires" json:"expires,omitempty"`
}

// guard is the denylist of one API.
type guard struct {
	api        string
	static     *table
	st         *state
	keyHeader  string
	retryAfter time.Duration
	now        func() time.Time
	geo        *geoDB // nil without geoip_database
}

// New builds the denylist guard of one API.
func New(b pipeline.Build) (any, error) {
	var c Config
	if _, err := b.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	blocks := make([]store.Block, 0, len(c.Entries))
	for i, e := range c.Entries {
		bl := store.Block{ID: "config:" + strconv.Itoa(i), Kind: e.Kind, Value: e.Value, Reason: e.Reason, CreatedBy: "config"}
		if e.Expires != "" {
			t, err := time.Parse(time.RFC3339, e.Expires)
			if err != nil {
				return nil, fmt.Errorf("entries[%d].expires: must be an RFC 3339 time such as 2030-01-02T15:04:05Z", i)
			}
			bl.Expires = t
		}
		blocks = append(blocks, bl)
	}
	static, errs := compile(blocks, nil)
	if len(errs) > 0 {
		return nil, fmt.Errorf("entries%w", errs[0])
	}
	var geo *geoDB
	if c.GeoIPDatabase != "" {
		path := c.GeoIPDatabase
		if !filepath.IsAbs(path) && b.Dir != "" {
			path = filepath.Join(b.Dir, path)
		}
		db, err := openGeoDB(path)
		if err != nil {
			return nil, fmt.Errorf("geoip_database: %w", err)
		}
		geo = db
	}
	st, err := sharedState(b.Services)
	if err != nil {
		return nil, err
	}
	st.addAPI(b.API)
	g := &guard{api: b.API, static: static, st: st, keyHeader: http.CanonicalHeaderKey(c.APIKeyHeader),
		retryAfter: c.RetryAfter.D(), now: b.Services.Now, geo: geo}
	if g.keyHeader == "" {
		g.keyHeader = "X-Api-Key"
	}
	if g.retryAfter == 0 {
		g.retryAfter = DefaultRetryAfter
	}
	return g, nil
}

// Validate checks the section.
func (c *Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if c.RetryAfter < 0 {
		return fmt.Errorf("retry_after: must not be negative")
	}
	for i, e := range c.Entries {
		if _, err := canonical(e.Kind, e.Value); err != nil {
			return fmt.Errorf("entries[%d].%w", i, err)
		}
		if e.Kind == KindCountry && c.GeoIPDatabase == "" {
			return fmt.Errorf("entries[%d].kind: a country block needs geoip_database", i)
		}
		if len(e.Reason) > maxValueLen {
			return fmt.Errorf("entries[%d].reason: must be at most %d bytes", i, maxValueLen)
		}
	}
	return nil
}

// Request refuses blocked callers and applies the API's lockdown. It never
// fails: the lists are in memory.
func (g *guard) Request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	now := g.now()
	ns := now.UnixNano()
	dyn := g.st.current()
	if l := dyn.lockdowns[g.api]; l != nil && (l.expires == 0 || ns < l.expires) {
		if l.mode != ModeReadOnly || !safeMethod(x.Request.Method) {
			return g.lockdownVerdict(l, ns), nil
		}
	}
	if e := g.static.prefixes.lookup(x.ClientIP, ns); e != nil {
		return blockVerdict(e), nil
	}
	if e := dyn.prefixes.lookup(x.ClientIP, ns); e != nil {
		return blockVerdict(e), nil
	}
	if g.geo != nil && (len(g.static.countries) > 0 || len(dyn.countries) > 0) {
		country := g.geo.country(x.ClientIP)
		if e := g.static.matchCountry(country, ns); e != nil {
			return blockVerdict(e), nil
		}
		if e := dyn.matchCountry(country, ns); e != nil {
			return blockVerdict(e), nil
		}
	}
	if g.static.needsCredentials() || dyn.needsCredentials() {
		c := credentialsOf(x, g.keyHeader)
		if e := g.static.matchCredentials(&c, ns); e != nil {
			return blockVerdict(e), nil
		}
		if e := dyn.matchCredentials(&c, ns); e != nil {
			return blockVerdict(e), nil
		}
	}
	return pipeline.Verdict{}, nil
}

// blockVerdict is the 403 of a block: denylist.<kind>, API4 for
// addresses (abuse from a network), API2 for credentials and principals.
func blockVerdict(e *entry) pipeline.Verdict {
	cat := "API2"
	if e.kind == KindIP || e.kind == KindCIDR || e.kind == KindCountry {
		cat = "API4"
	}
	detail := "blocked by " + e.kind + " block " + e.id
	if e.reason != "" {
		detail += ": " + events.RedactText(e.reason, 256)
	}
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Rule: "denylist." + e.kind, Category: cat,
		Title: "Access denied.", Detail: detail}
}

// lockdownVerdict is the 503 of a lockdown, with Retry-After.
func (g *guard) lockdownVerdict(l *lockdown, now int64) pipeline.Verdict {
	wait := g.retryAfter
	if l.expires != 0 {
		if left := time.Duration(l.expires - now); left < wait {
			wait = left
		}
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	rule, title := "denylist.lockdown_closed", "This API is temporarily closed."
	if l.mode == ModeReadOnly {
		rule, title = "denylist.lockdown_read_only", "This API is temporarily read-only."
	}
	detail := "api " + g.api + " in lockdown " + l.mode
	if l.reason != "" {
		detail += ": " + events.RedactText(l.reason, 256)
	}
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusServiceUnavailable, Rule: rule, Category: "API4",
		Title: title, Detail: detail, Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}}
}
