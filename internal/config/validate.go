package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/pipeline"
)

var (
	apiNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	headerNameRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
	hostRE       = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
)

// MinAdminTokenBytes is the shortest admin token accepted.
const MinAdminTokenBytes = 16

// Validate checks the whole configuration and returns every problem with
// its field path. It reads no files and opens no sockets.
func (c *Config) Validate() error {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if err := checkListen(c.Server.Listen); err != nil {
		add("server.listen", "%v", err)
	}
	t := c.Server.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("server.tls", "cert_file and key_file go together")
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		add("server.tls.min_version", "must be 1.2 or 1.3, not %q", t.MinVersion)
	}
	switch t.ClientAuth {
	case "", "request", "require":
	default:
		add("server.tls.client_auth", "must be request or require, not %q", t.ClientAuth)
	}
	if t.ClientAuth != "" && t.ClientCAFile == "" {
		add("server.tls.client_auth", "needs client_ca_file")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		add("server.tls.client_ca_file", "client certificates need TLS: set cert_file and key_file")
	}
	to := c.Server.Timeouts
	for _, d := range []struct {
		name string
		v    Duration
	}{{"read_header", to.ReadHeader}, {"read", to.Read}, {"write", to.Write}, {"idle", to.Idle}, {"shutdown", to.Shutdown}} {
		if d.v <= 0 {
			add("server.timeouts."+d.name, "must be positive")
		}
	}
	if c.Server.MaxHeaderBytes < 1024 || c.Server.MaxHeaderBytes > 1<<20 {
		add("server.max_header_bytes", "must be between 1KiB and 1MiB")
	}
	if c.Server.MaxHeaders < 1 || c.Server.MaxHeaders > 1000 {
		add("server.max_headers", "must be between 1 and 1000")
	}
	if c.Server.MaxHeaderValueBytes < 256 || c.Server.MaxHeaderValueBytes > c.Server.MaxHeaderBytes {
		add("server.max_header_value_bytes", "must be between 256 bytes and max_header_bytes")
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
	}
	if !headerNameRE.MatchString(c.Server.RequestIDHeader) {
		add("server.request_id_header", "must be a header name")
	}
	if c.Admin.Listen != "off" {
		if err := checkListen(c.Admin.Listen); err != nil {
			add("admin.listen", "%v", err)
		} else if !IsLoopbackListen(c.Admin.Listen) && c.Admin.Token == "" && len(c.Admin.Tokens) == 0 {
			add("admin.token", "required when admin.listen is not a loopback address (set it, APIGUARD_ADMIN_TOKEN or admin.tokens)")
		}
		if c.Admin.Token != "" && len(c.Admin.Token) < MinAdminTokenBytes {
			add("admin.token", "must be at least %d bytes", MinAdminTokenBytes)
		}
		c.Admin.validateTokens(add)
	}
	for i, a := range c.Redis.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add(fmt.Sprintf("redis.addrs[%d]", i), "must be host:port, not %q", a)
		}
	}
	if c.Redis.DB < 0 || c.Redis.DB > 15 || c.Redis.DB != 0 && len(c.Redis.Addrs) > 1 {
		add("redis.db", "must be 0-15, and 0 for a cluster")
	}
	if c.Redis.DialTimeout <= 0 || c.Redis.Timeout <= 0 {
		add("redis", "dial_timeout and timeout must be positive")
	}
	if c.Redis.PoolSize < 0 {
		add("redis.pool_size", "must not be negative")
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.DSN != "" {
			add("store.dsn", "is only for driver postgres; driver sqlite uses store.path")
		}
	case "postgres":
		if c.Store.DSN == "" {
			add("store.dsn", "is required for driver postgres")
		}
		if c.Store.Path != "" {
			add("store.path", "is only for driver sqlite; driver postgres uses store.dsn")
		}
	default:
		add("store.driver", "must be sqlite or postgres, not %q", c.Store.Driver)
	}
	if c.Store.Retention.MaxAge <= 0 {
		add("store.retention.max_age", "must be positive")
	}
	if c.Store.Retention.MaxEvents < 1 {
		add("store.retention.max_events", "must be at least 1")
	}
	if c.Store.QueueSize < 1 || c.Store.QueueSize > 1_000_000 {
		add("store.queue_size", "must be between 1 and 1000000")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.Log.AccessLog == "" {
		add("log.access_log", "must be stdout, stderr, off or a file path")
	}
	if d := c.Log.ObserveEventInterval.D(); d < 0 || d > 24*time.Hour {
		add("log.observe_event_interval", "must be between 0 (every event) and 24h, not %s", d)
	}
	if len(c.APIs) == 0 {
		add("apis", "at least one API is needed")
	}
	names := map[string]int{}
	routes := map[string]int{}
	sections := pipeline.Sections()
	for i := range c.APIs {
		a := &c.APIs[i]
		p := fmt.Sprintf("apis[%d]", i)
		if !apiNameRE.MatchString(a.Name) {
			add(p+".name", "must be 1-64 letters, digits, '_', '.', '-', not %q", a.Name)
		} else if j, dup := names[a.Name]; dup {
			add(p+".name", "%q is already the name of apis[%d]", a.Name, j)
		} else {
			names[a.Name] = i
		}
		if !strings.HasPrefix(a.Match.PathPrefix, "/") || strings.Contains(a.Match.PathPrefix, "//") || strings.ContainsAny(a.Match.PathPrefix, "?#%\\;") {
			add(p+".match.path_prefix", "must be a plain path starting with /")
		}
		for j, h := range a.Match.Hosts {
			if !hostRE.MatchString(h) {
				add(fmt.Sprintf("%s.match.hosts[%d]", p, j), "must be a host name (optionally *.domain), not %q", h)
			}
		}
		key := strings.Join(a.Match.Hosts, ",") + "|" + strings.TrimSuffix(a.Match.PathPrefix, "/")
		if j, dup := routes[key]; dup {
			add(p+".match", "same hosts and path_prefix as apis[%d]: it would never be reached", j)
		} else {
			routes[key] = i
		}
		if len(a.Upstream.URLs) == 0 {
			add(p+".upstream.urls", "at least one upstream URL is needed")
		}
		for j, raw := range a.Upstream.URLs {
			if err := checkUpstreamURL(raw); err != nil {
				add(fmt.Sprintf("%s.upstream.urls[%d]", p, j), "%v", err)
			}
		}
		ut := a.Upstream.Timeouts
		for _, d := range []struct {
			name string
			v    Duration
		}{{"dial", ut.Dial}, {"tls_handshake", ut.TLSHandshake}, {"response_header", ut.ResponseHeader}, {"idle_conn", ut.IdleConn}} {
			if d.v <= 0 {
				add(p+".upstream.timeouts."+d.name, "must be positive")
			}
		}
		pool := a.Upstream.Pool
		if pool.MaxIdleConns < 0 || pool.MaxIdleConnsPerHost < 0 || pool.MaxConnsPerHost < 0 {
			add(p+".upstream.pool", "sizes must not be negative")
		}
		if a.Upstream.Health.MaxFails < 1 {
			add(p+".upstream.health.max_fails", "must be at least 1")
		}
		utls := a.Upstream.TLS
		if (utls.CertFile == "") != (utls.KeyFile == "") {
			add(p+".upstream.tls", "cert_file and key_file go together")
		}
		if a.Mode != "enforce" && a.Mode != "monitor" {
			add(p+".mode", "must be enforce or monitor, not %q", a.Mode)
		}
		if a.Limits.MaxBodyBytes < 1 {
			add(p+".limits.max_body_bytes", "must be positive")
		}
		for op, l := range a.Limits.Operations {
			if l.MaxBodyBytes < 1 {
				add(p+".limits.operations."+op+".max_body_bytes", "must be positive")
			}
			if a.Spec == "" {
				add(p+".limits.operations."+op, "operations are named by the spec's operationId: set spec")
			}
		}
		for name := range a.Guards {
			known := false
			for _, s := range sections {
				known = known || s == name
			}
			if !known {
				add(p+".guards."+name, "unknown guard (known: %s)", strings.Join(sections, ", "))
			}
		}
	}
	c.Alerts.validate(add)
	c.Observe.Detectors.validate(add)
	c.Observe.Inventory.validate(add)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, not %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0-65535, not %q", port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("host must be an IP address, localhost or empty, not %q", host)
		}
	}
	return nil
}

// IsLoopbackListen reports whether a listen address only accepts local
// connections.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be http or https")
	}
	if u.Host == "" {
		return fmt.Errorf("must have a host")
	}
	if u.User != nil {
		return fmt.Errorf("must not hold credentials (userinfo)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not have a query or fragment")
	}
	return nil
}

// ParsePrefix parses a CIDR or a single IP address as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("must be an IP or CIDR, not %q", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an IP or CIDR, not %q", s)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
