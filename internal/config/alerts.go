package config

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Alerts configures where security events go besides the store and the
// log: SIEM exporters and alert channels (docs/alerts.md). Every exporter
// has its own bounded queue and goroutine: a slow or unreachable
// destination drops events (counted) and never slows requests. Exporters
// follow configuration reloads.
type Alerts struct {
	// File writes events as JSON lines to a local file with size-based
	// rotation, for a log shipper (Filebeat, Fluent Bit, Splunk UF) to
	// pick up. Off when path is empty.
	File AlertFile `yaml:"file" json:"file"`
	// Syslog sends events to syslog receivers (RFC 5424), as CEF or JSON.
	Syslog []AlertSyslog `yaml:"syslog" json:"syslog"`
	// Webhooks post alerts to HTTP receivers: generic JSON or Slack.
	Webhooks []AlertWebhook `yaml:"webhooks" json:"webhooks"`
}

// AlertFilter selects the events an exporter sends. Empty lists match
// everything.
type AlertFilter struct {
	// MinSeverity is the lowest severity sent: info (allow verdicts),
	// low (observe), medium (block) or high (error: a guard or apiguard
	// failed). Default info for the file and syslog, medium for webhooks.
	MinSeverity string `yaml:"min_severity" json:"min_severity" jsonschema:"enum=info,enum=low,enum=medium,enum=high"`
	// Verdicts keeps only these verdicts (allow, block, observe, error).
	Verdicts []string `yaml:"verdicts" json:"verdicts"`
	// Categories keeps only these OWASP API 2023 ids (API1..API10).
	Categories []string `yaml:"categories" json:"categories"`
	// Guards keeps only events of these guards (waf, authn, ...).
	Guards []string `yaml:"guards" json:"guards"`
	// Kinds keeps only these event kinds (guard, protocol, upstream,
	// config, system, detector).
	Kinds []string `yaml:"kinds" json:"kinds"`
}

// AlertFile is the JSON lines file exporter.
type AlertFile struct {
	// Path is the file; relative to the config file's directory. Default
	// "" (off). Created with mode 0600.
	Path string `yaml:"path" json:"path"`
	// Format is json (default: the event schema of docs/events.md) or
	// ocsf (OCSF API Activity, class 6003).
	Format string `yaml:"format" json:"format" jsonschema:"enum=json,enum=ocsf"`
	// MaxSize rotates the file when it would grow past this size.
	// Default 100MiB.
	MaxSize ByteSize `yaml:"max_size" json:"max_size"`
	// MaxFiles is how many rotated files are kept besides the current
	// one. Default 5.
	MaxFiles int `yaml:"max_files" json:"max_files"`
	// MaxAge deletes rotated files older than this. Default 0 (by count
	// only).
	MaxAge Duration `yaml:"max_age" json:"max_age"`
	// QueueSize bounds the events waiting to be written. Default 10000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// Filter selects the events written. Default: all.
	Filter AlertFilter `yaml:"filter" json:"filter"`
}

// AlertSyslog is one syslog receiver.
type AlertSyslog struct {
	// Name identifies the exporter in metrics and events. Default
	// "syslog-<index>".
	Name string `yaml:"name" json:"name"`
	// Address is the receiver's host:port. Required.
	Address string `yaml:"address" json:"address" jsonschema:"required"`
	// Network is udp (default; one datagram per message, RFC 5426), tcp
	// or tls (octet-counted framing, RFC 6587 / RFC 5425).
	Network string `yaml:"network" json:"network" jsonschema:"enum=udp,enum=tcp,enum=tls"`
	// Format is the message payload: cef (default; ArcSight Common Event
	// Format) or json (the event schema).
	Format string `yaml:"format" json:"format" jsonschema:"enum=cef,enum=json"`
	// Facility is the syslog facility name (kern, user, auth, authpriv,
	// daemon, local0..local7, ...). Default local0.
	Facility string `yaml:"facility" json:"facility"`
	// AppName is the APP-NAME header field. Default apiguard.
	AppName string `yaml:"app_name" json:"app_name"`
	// Hostname is the HOSTNAME header field. Default the machine's name.
	Hostname string `yaml:"hostname" json:"hostname"`
	// TLS configures network tls.
	TLS AlertTLS `yaml:"tls" json:"tls"`
	// MaxMessageBytes caps one message; longer ones are cut. Default 2048
	// for udp, 8KiB for tcp and tls.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes" json:"max_message_bytes"`
	// DialTimeout bounds connecting (TLS handshake included). Default 5s.
	DialTimeout Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// WriteTimeout bounds writing one message. Default 5s.
	WriteTimeout Duration `yaml:"write_timeout" json:"write_timeout"`
	// QueueSize bounds the events waiting to be sent. Default 10000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// Filter selects the events sent. Default: all.
	Filter AlertFilter `yaml:"filter" json:"filter"`
}

// AlertTLS is the client side of a TLS connection to a receiver.
type AlertTLS struct {
	// CAFile adds PEM roots to the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// ServerName is the name verified in the receiver's certificate.
	// Default the host of address.
	ServerName string `yaml:"server_name" json:"server_name"`
	// CertFile and KeyFile present a client certificate (mutual TLS).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
}

// AlertWebhook is one HTTP alert receiver.
type AlertWebhook struct {
	// Name identifies the exporter in metrics and events. Default
	// "webhook-<index>".
	Name string `yaml:"name" json:"name"`
	// URL receives a POST per alert. Required, http or https. It is a
	// secret (Slack webhook URLs are credentials): never printed.
	URL Secret `yaml:"url" json:"url" jsonschema:"required"`
	// Format is json (default: {"alert": ..., "event": <event schema>}),
	// ocsf (the OCSF API Activity object) or slack (a Slack incoming
	// webhook message: text and blocks).
	Format string `yaml:"format" json:"format" jsonschema:"enum=json,enum=ocsf,enum=slack"`
	// Headers are added to every request; values are secrets.
	Headers map[string]Secret `yaml:"headers" json:"headers"`
	// Secret signs every body with HMAC-SHA256 in the
	// X-Apiguard-Signature header: "t=<unix time>,v1=<hex of
	// HMAC(secret, t + "." + body)>". Optional.
	Secret Secret `yaml:"secret" json:"secret"`
	// AllowPrivate allows a URL on loopback, private (RFC 1918), CGNAT
	// and unique-local addresses. Default false: webhooks go through the
	// SSRF-safe client and only reach public addresses. Cloud metadata
	// addresses are never allowed.
	AllowPrivate bool `yaml:"allow_private" json:"allow_private"`
	// Timeout bounds one attempt. Default 10s.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// MaxAttempts bounds the attempts of one alert (network errors, 429
	// and 5xx are retried). Default 5.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
	// Backoff is the first retry delay, doubled each attempt with full
	// jitter. Default 1s.
	Backoff Duration `yaml:"backoff" json:"backoff"`
	// MaxBackoff caps the retry delay (and a receiver's Retry-After).
	// Default 30s.
	MaxBackoff Duration `yaml:"max_backoff" json:"max_backoff"`
	// DedupeWindow folds events with the same rule, client address and
	// API into one alert: the first is sent at once, the repeats within
	// the window are sent as one alert with their count when it ends.
	// Default 1m; 0s turns deduplication off.
	DedupeWindow *Duration `yaml:"dedupe_window" json:"dedupe_window"`
	// RatePerMinute is the token bucket's refill rate: alerts sent per
	// minute on average. Excess alerts are counted and summarized in one
	// alert per minute. Default 30.
	RatePerMinute int `yaml:"rate_per_minute" json:"rate_per_minute"`
	// Burst is the token bucket's size. Default 10.
	Burst int `yaml:"burst" json:"burst"`
	// QueueSize bounds the events waiting to be sent. Default 1000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// Filter selects the events alerted. Default: min_severity medium
	// (blocks and errors).
	Filter AlertFilter `yaml:"filter" json:"filter"`
}

// Alert exporter defaults.
const (
	DefaultAlertFileMaxSize     = 100 << 20
	DefaultAlertFileMaxFiles    = 5
	DefaultAlertQueueSize       = 10000
	DefaultWebhookQueueSize     = 1000
	DefaultSyslogUDPMaxMessage  = 2048
	DefaultSyslogStreamMaxBytes = 8 << 10
	DefaultWebhookDedupeWindow  = time.Minute
	DefaultWebhookRatePerMinute = 30
	DefaultWebhookBurst         = 10
	DefaultWebhookMaxAttempts   = 5
)

// SyslogFacilities maps facility names to their RFC 5424 codes.
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// applyDefaults fills the unset fields of the exporters.
func (a *Alerts) applyDefaults() {
	f := &a.File
	if f.Format == "" {
		f.Format = "json"
	}
	if f.MaxSize == 0 {
		f.MaxSize = DefaultAlertFileMaxSize
	}
	if f.MaxFiles == 0 {
		f.MaxFiles = DefaultAlertFileMaxFiles
	}
	if f.QueueSize == 0 {
		f.QueueSize = DefaultAlertQueueSize
	}
	if f.Filter.MinSeverity == "" {
		f.Filter.MinSeverity = "info"
	}
	for i := range a.Syslog {
		s := &a.Syslog[i]
		if s.Name == "" {
			s.Name = "syslog-" + strconv.Itoa(i)
		}
		if s.Network == "" {
			s.Network = "udp"
		}
		if s.Format == "" {
			s.Format = "cef"
		}
		if s.Facility == "" {
			s.Facility = "local0"
		}
		if s.AppName == "" {
			s.AppName = "apiguard"
		}
		if s.MaxMessageBytes == 0 {
			s.MaxMessageBytes = DefaultSyslogStreamMaxBytes
			if s.Network == "udp" {
				s.MaxMessageBytes = DefaultSyslogUDPMaxMessage
			}
		}
		setDur(&s.DialTimeout, 5*time.Second)
		setDur(&s.WriteTimeout, 5*time.Second)
		if s.QueueSize == 0 {
			s.QueueSize = DefaultAlertQueueSize
		}
		if s.Filter.MinSeverity == "" {
			s.Filter.MinSeverity = "info"
		}
	}
	for i := range a.Webhooks {
		w := &a.Webhooks[i]
		if w.Name == "" {
			w.Name = "webhook-" + strconv.Itoa(i)
		}
		if w.Format == "" {
			w.Format = "json"
		}
		setDur(&w.Timeout, 10*time.Second)
		if w.MaxAttempts == 0 {
			w.MaxAttempts = DefaultWebhookMaxAttempts
		}
		setDur(&w.Backoff, time.Second)
		setDur(&w.MaxBackoff, 30*time.Second)
		if w.DedupeWindow == nil {
			d := Duration(DefaultWebhookDedupeWindow)
			w.DedupeWindow = &d
		}
		if w.RatePerMinute == 0 {
			w.RatePerMinute = DefaultWebhookRatePerMinute
		}
		if w.Burst == 0 {
			w.Burst = DefaultWebhookBurst
		}
		if w.QueueSize == 0 {
			w.QueueSize = DefaultWebhookQueueSize
		}
		if w.Filter.MinSeverity == "" {
			w.Filter.MinSeverity = "medium"
		}
	}
}

var exporterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// forbiddenWebhookHeaders are set by apiguard or the HTTP client.
var forbiddenWebhookHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "X-Apiguard-Signature": true, "X-Apiguard-Delivery": true, "Te": true, "Trailer": true, "Upgrade": true,
}

// validate checks the alerts section; add reports a problem at a path.
func (a *Alerts) validate(add func(path, format string, args ...any)) {
	names := map[string]string{}
	name := func(path, n string) {
		if !exporterNameRE.MatchString(n) {
			add(path+".name", "must be 1-64 letters, digits, '_', '.', '-', not %q", n)
			return
		}
		if prev, dup := names[n]; dup {
			add(path+".name", "%q is already the name of %s", n, prev)
			return
		}
		names[n] = path
	}
	f := a.File
	if f.Path != "" {
		if f.Format != "json" && f.Format != "ocsf" {
			add("alerts.file.format", "must be json or ocsf, not %q", f.Format)
		}
		if f.MaxSize < 4096 {
			add("alerts.file.max_size", "must be at least 4KiB")
		}
		if f.MaxFiles < 1 || f.MaxFiles > 1000 {
			add("alerts.file.max_files", "must be between 1 and 1000")
		}
		if f.QueueSize < 1 || f.QueueSize > 1_000_000 {
			add("alerts.file.queue_size", "must be between 1 and 1000000")
		}
		validateFilter("alerts.file.filter", f.Filter, add)
	}
	for i, s := range a.Syslog {
		p := fmt.Sprintf("alerts.syslog[%d]", i)
		name(p, s.Name)
		if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" || port == "" {
			add(p+".address", "must be host:port, not %q", s.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			add(p+".address", "port must be 1-65535, not %q", port)
		}
		switch s.Network {
		case "udp", "tcp", "tls":
		default:
			add(p+".network", "must be udp, tcp or tls, not %q", s.Network)
		}
		if s.Format != "cef" && s.Format != "json" {
			add(p+".format", "must be cef or json, not %q", s.Format)
		}
		if _, ok := SyslogFacilities[s.Facility]; !ok {
			add(p+".facility", "must be a syslog facility name such as local0, auth or daemon, not %q", s.Facility)
		}
		if !printUSASCII(s.AppName, 48) {
			add(p+".app_name", "must be 1-48 printable ASCII characters without spaces")
		}
		if s.Hostname != "" && !printUSASCII(s.Hostname, 255) {
			add(p+".hostname", "must be 1-255 printable ASCII characters without spaces")
		}
		if s.Network != "tls" && (s.TLS != AlertTLS{}) {
			add(p+".tls", "is only for network tls")
		}
		if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
			add(p+".tls", "cert_file and key_file go together")
		}
		if s.MaxMessageBytes < 480 || s.MaxMessageBytes > 1<<20 || s.Network == "udp" && s.MaxMessageBytes > 65000 {
			add(p+".max_message_bytes", "must be between 480 bytes and 1MiB (65000 for udp)")
		}
		if s.DialTimeout <= 0 || s.WriteTimeout <= 0 {
			add(p, "dial_timeout and write_timeout must be positive")
		}
		if s.QueueSize < 1 || s.QueueSize > 1_000_000 {
			add(p+".queue_size", "must be between 1 and 1000000")
		}
		validateFilter(p+".filter", s.Filter, add)
	}
	for i, w := range a.Webhooks {
		p := fmt.Sprintf("alerts.webhooks[%d]", i)
		name(p, w.Name)
		// The URL is a secret: the messages never repeat it.
		if u, err := url.Parse(w.URL.Value()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(p+".url", "must be an http(s) URL")
		} else if u.User != nil {
			add(p+".url", "must not hold credentials (userinfo); use headers")
		} else if u.Fragment != "" {
			add(p+".url", "must not have a fragment")
		}
		switch w.Format {
		case "json", "ocsf", "slack":
		default:
			add(p+".format", "must be json, ocsf or slack, not %q", w.Format)
		}
		for h := range w.Headers {
			if !headerNameRE.MatchString(h) {
				add(p+".headers", "%q is not a header name", h)
			} else if forbiddenWebhookHeaders[http.CanonicalHeaderKey(h)] {
				add(p+".headers."+h, "is set by apiguard and cannot be configured")
			}
		}
		if w.Secret != "" && len(w.Secret) < 16 {
			add(p+".secret", "must be at least 16 bytes")
		}
		if w.Timeout <= 0 {
			add(p+".timeout", "must be positive")
		}
		if w.MaxAttempts < 1 || w.MaxAttempts > 20 {
			add(p+".max_attempts", "must be between 1 and 20")
		}
		if w.Backoff <= 0 || w.MaxBackoff < w.Backoff {
			add(p+".backoff", "must be positive and at most max_backoff")
		}
		if w.DedupeWindow != nil && w.DedupeWindow.D() > 24*time.Hour {
			add(p+".dedupe_window", "must be at most 24h")
		}
		if w.RatePerMinute < 1 || w.RatePerMinute > 60000 {
			add(p+".rate_per_minute", "must be between 1 and 60000")
		}
		if w.Burst < 1 || w.Burst > 10000 {
			add(p+".burst", "must be between 1 and 10000")
		}
		if w.QueueSize < 1 || w.QueueSize > 1_000_000 {
			add(p+".queue_size", "must be between 1 and 1000000")
		}
		validateFilter(p+".filter", w.Filter, add)
	}
}

func validateFilter(p string, f AlertFilter, add func(path, format string, args ...any)) {
	switch f.MinSeverity {
	case "info", "low", "medium", "high":
	default:
		add(p+".min_severity", "must be info, low, medium or high, not %q", f.MinSeverity)
	}
	for i, v := range f.Verdicts {
		switch v {
		case "allow", "block", "observe", "error":
		default:
			add(fmt.Sprintf("%s.verdicts[%d]", p, i), "must be allow, block, observe or error, not %q", v)
		}
	}
	for i, c := range f.Categories {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "API"))
		if !strings.HasPrefix(c, "API") || err != nil || n < 1 || n > 10 || c != "API"+strconv.Itoa(n) {
			add(fmt.Sprintf("%s.categories[%d]", p, i), "must be an OWASP API 2023 id, API1 to API10, not %q", c)
		}
	}
	for i, k := range f.Kinds {
		switch k {
		case "guard", "protocol", "upstream", "config", "system", "detector":
		default:
			add(fmt.Sprintf("%s.kinds[%d]", p, i), "must be guard, protocol, upstream, config, system or detector, not %q", k)
		}
	}
	for i, g := range f.Guards {
		if g == "" || len(g) > 64 {
			add(fmt.Sprintf("%s.guards[%d]", p, i), "must be a guard name")
		}
	}
}

// printUSASCII reports whether s is 1..max printable ASCII characters
// without spaces (RFC 5424 PRINTUSASCII).
func printUSASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
