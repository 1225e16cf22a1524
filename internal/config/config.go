// Package config loads apiguard's YAML configuration: environment
// substitution, defaults, strict decoding (an unknown field is an error
// naming its path), and validation that names the failing field.
package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole apiguard configuration.
type Config struct {
	// Server is the gateway listener.
	Server Server `yaml:"server" json:"server"`
	// Admin is the admin listener (API, metrics, health).
	Admin Admin `yaml:"admin" json:"admin"`
	// DataDir holds the embedded store; a relative path is relative to the
	// config file's directory. Default ./apiguard-data.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// Store is where security events are kept.
	Store Store `yaml:"store" json:"store"`
	// Log configures the access log and apiguard's own log.
	Log Log `yaml:"log" json:"log"`
	// Redis is shared by the guards that keep state across gateway
	// instances (rate limits, business flows, revocations, nonces). Off
	// when addrs is empty.
	Redis Redis `yaml:"redis" json:"redis"`
	// APIs are the protected APIs, matched in order by host and path prefix.
	APIs []API `yaml:"apis" json:"apis"`
	// Egress is the optional proxy for the protected application's own
	// calls to third-party APIs (docs/egress.md). Off when listen is empty.
	Egress Egress `yaml:"egress" json:"egress"`
	// Observe configures what apiguard learns from traffic off the hot
	// path: the API inventory and the anomaly detectors (docs/inventory.md,
	// docs/detectors.md).
	Observe Observe `yaml:"observe" json:"observe"`
	// Alerts sends security events to a SIEM and to people: files, syslog,
	// webhooks (docs/alerts.md).
	Alerts Alerts `yaml:"alerts" json:"alerts"`
}

// Egress is the proxy the protected application calls third-party APIs
// through: http://<listen>/<destination name>/<path> is sent to the
// destination's https URL with <path> appended, and the answer is checked
// before the application sees it (OWASP API10).
type Egress struct {
	// Listen is the egress proxy's address. Default "" (off). Keep it on
	// loopback or a network only the application reaches.
	Listen string `yaml:"listen" json:"listen"`
	// Token, when set, must be presented by the application in
	// Proxy-Authorization: Basic with any user name and the token as
	// password (what HTTP_PROXY=http://app:TOKEN@host:port makes clients
	// send), or Bearer. At least 16 bytes. Default "" (no authentication:
	// keep the listener on loopback).
	Token Secret `yaml:"token" json:"token"`
	// Destinations are the only third-party APIs that can be reached.
	Destinations []EgressDestination `yaml:"destinations" json:"destinations"`
}

// EgressDestination is one third-party API the application may call.
type EgressDestination struct {
	// Name is the first path segment the application uses for this
	// destination ([A-Za-z0-9_.-]). Required, unique.
	Name string `yaml:"name" json:"name" jsonschema:"required"`
	// URL is the destination's base URL; it must be https (certificates
	// are always verified). Its host is the only host reached. Required.
	URL string `yaml:"url" json:"url" jsonschema:"required"`
	// CAFile adds PEM roots to the system roots for this destination.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// AllowCIDRs are internal ranges the destination may resolve to
	// anyway; by default only public addresses are dialed.
	AllowCIDRs []string `yaml:"allow_cidrs" json:"allow_cidrs"`
	// Methods are the HTTP methods allowed. Default GET, HEAD, POST, PUT,
	// PATCH, DELETE.
	Methods []string `yaml:"methods" json:"methods"`
	// Timeout bounds the whole call, answer included. Default 10s.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// MaxRequestBytes caps the application's request body. Default 1MiB.
	MaxRequestBytes ByteSize `yaml:"max_request_bytes" json:"max_request_bytes"`
	// MaxResponseBytes caps the destination's answer. Default 1MiB.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes" json:"max_response_bytes"`
	// ContentTypes are the media types an answer with a body may have;
	// application/json also admits */*+json. Default [application/json].
	ContentTypes []string `yaml:"content_types" json:"content_types"`
	// Spec is the destination's OpenAPI description, relative to the
	// config file. Optional: with it, only documented operations can be
	// called and answers must have a documented status and content type.
	Spec string `yaml:"spec" json:"spec"`
	// Injection is what happens to an answer carrying injection patterns
	// (script tags, SQL error strings, JNDI lookups, CR/LF in header
	// values): observe (default: an event, the answer is passed) or block
	// (502).
	Injection string `yaml:"injection" json:"injection" jsonschema:"enum=observe,enum=block"`
}

// Server is the gateway listener.
type Server struct {
	// Listen is the address to listen on. Default 127.0.0.1:8080.
	Listen string `yaml:"listen" json:"listen"`
	// TLS enables TLS termination when CertFile is set.
	TLS ServerTLS `yaml:"tls" json:"tls"`
	// Timeouts protect against slow clients (slowloris).
	Timeouts ServerTimeouts `yaml:"timeouts" json:"timeouts"`
	// MaxHeaderBytes caps the request line and headers. Default 32 KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes" json:"max_header_bytes"`
	// MaxHeaders caps the number of request header fields. Default 100.
	MaxHeaders int `yaml:"max_headers" json:"max_headers"`
	// MaxHeaderValueBytes caps one header value. Default 8 KiB.
	MaxHeaderValueBytes ByteSize `yaml:"max_header_value_bytes" json:"max_header_value_bytes"`
	// TrustedProxies are the CIDRs whose X-Forwarded-For, Forwarded and
	// X-Request-Id headers are believed. Default none: the socket address
	// is the client.
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies"`
	// RequestIDHeader is the header carrying the request id. Default X-Request-Id.
	RequestIDHeader string `yaml:"request_id_header" json:"request_id_header"`
}

// ServerTLS is TLS termination on the gateway listener.
type ServerTLS struct {
	// CertFile and KeyFile are a PEM certificate chain and key. TLS is on
	// when CertFile is set.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version" json:"min_version" jsonschema:"enum=1.2,enum=1.3"`
	// ClientCAFile enables client certificate verification (mTLS) against
	// these PEM CAs.
	ClientCAFile string `yaml:"client_ca_file" json:"client_ca_file"`
	// ClientAuth is request (verify when sent) or require (default when
	// ClientCAFile is set).
	ClientAuth string `yaml:"client_auth" json:"client_auth" jsonschema:"enum=request,enum=require"`
	// DisableHTTP2 turns HTTP/2 off. Default false (HTTP/2 on with TLS).
	DisableHTTP2 bool `yaml:"disable_http2" json:"disable_http2"`
}

// ServerTimeouts are the listener's timeouts.
type ServerTimeouts struct {
	// ReadHeader bounds reading the request head. Default 5s.
	ReadHeader Duration `yaml:"read_header" json:"read_header"`
	// Read bounds reading the whole request. Default 30s.
	Read Duration `yaml:"read" json:"read"`
	// Write bounds writing the response. Default 60s.
	Write Duration `yaml:"write" json:"write"`
	// Idle bounds keep-alive idle time. Default 120s.
	Idle Duration `yaml:"idle" json:"idle"`
	// Shutdown bounds draining in-flight requests on stop. Default 30s.
	Shutdown Duration `yaml:"shutdown" json:"shutdown"`
}

// Admin is the admin listener.
type Admin struct {
	// Listen is the admin address. Default 127.0.0.1:9090. Empty string
	// "off" disables the admin listener.
	Listen string `yaml:"listen" json:"listen"`
	// Token is the admin bearer token (or APIGUARD_ADMIN_TOKEN). When empty
	// on a loopback listener, a random one is generated and printed once.
	Token Secret `yaml:"token" json:"token"`
	// Tokens are named tokens, beside Token (whose name is "admin"): the
	// audit log records the name of the token behind every action.
	Tokens []AdminToken `yaml:"tokens" json:"tokens"`
	// Profiling serves Go's runtime profiles (CPU, heap, goroutines,
	// execution traces: net/http/pprof) under /debug/pprof/ to tokens with
	// the admin role, to find what costs CPU or memory under real traffic.
	// Default false. Read at start: a reload does not change it.
	Profiling bool `yaml:"profiling" json:"profiling"`
}

// Store is where security events are kept.
type Store struct {
	// Driver is sqlite (default, embedded, one instance) or postgres
	// (shared by the instances of a cluster; needs dsn).
	Driver string `yaml:"driver" json:"driver" jsonschema:"enum=sqlite,enum=postgres"`
	// Path is the SQLite file. Default <data_dir>/apiguard.db. Only for
	// driver sqlite.
	Path string `yaml:"path" json:"path"`
	// DSN is the PostgreSQL connection string (postgres://user:pass@host/db
	// or key=value form), required for driver postgres and refused for
	// sqlite. It may hold a password: write it as ${APIGUARD_STORE_DSN};
	// it is never printed.
	DSN Secret `yaml:"dsn" json:"dsn"`
	// Retention bounds what is kept.
	Retention Retention `yaml:"retention" json:"retention"`
	// QueueSize bounds events waiting to be written; more are dropped and
	// counted. Default 10000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
}

// Retention bounds the events kept.
type Retention struct {
	// MaxAge drops older events. Default 168h (7 days).
	MaxAge Duration `yaml:"max_age" json:"max_age"`
	// MaxEvents keeps at most this many events. Default 1000000.
	MaxEvents int64 `yaml:"max_events" json:"max_events"`
}

// Redis is the connection to Redis (one node, or a cluster when several
// addresses are given).
type Redis struct {
	// Addrs are host:port addresses. Empty: Redis is off.
	Addrs []string `yaml:"addrs" json:"addrs"`
	// Username and Password authenticate (ACL); use ${ENV} for the password.
	Username string `yaml:"username" json:"username"`
	Password Secret `yaml:"password" json:"password"`
	// DB is the database number (single node only). Default 0.
	DB int `yaml:"db" json:"db"`
	// TLS turns TLS on, verified against the system roots or CAFile.
	TLS bool `yaml:"tls" json:"tls"`
	// CAFile adds PEM roots for TLS.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// DialTimeout bounds connecting. Default 500ms.
	DialTimeout Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// Timeout bounds each command. Default 200ms: a guard waiting on
	// Redis holds a request, so a slow Redis must fail fast into the
	// guard's failure mode.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// PoolSize is the connection pool size. Default 10 per CPU.
	PoolSize int `yaml:"pool_size" json:"pool_size"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level" json:"level" jsonschema:"enum=debug,enum=info,enum=warn,enum=error"`
	// AccessLog is stdout (default), stderr, off, or a file path.
	AccessLog string `yaml:"access_log" json:"access_log"`
	// ObserveEventInterval records at most one "observe" security event
	// (a detection that let the request through: dlp detect, monitor
	// mode, answers drifting from the spec) per API, operation, guard and
	// rule in this interval, in the log, the store and the alerts; the
	// next one recorded says how many were folded into it. Metrics count
	// every event, the access log keeps every request's verdict, and
	// blocks, guard errors and anomaly detector events are always
	// recorded. Default 0: every event.
	ObserveEventInterval Duration `yaml:"observe_event_interval" json:"observe_event_interval"`
}

// API is one protected API.
type API struct {
	// Name identifies the API in events and metrics. Required, unique.
	Name string `yaml:"name" json:"name" jsonschema:"required"`
	// Match selects the requests for this API.
	Match Match `yaml:"match" json:"match"`
	// Upstream is where requests go.
	Upstream Upstream `yaml:"upstream" json:"upstream"`
	// Spec is the path of the API's OpenAPI 3.0/3.1 description, relative
	// to the config file. Optional: without it no operation is matched.
	Spec string `yaml:"spec" json:"spec"`
	// Mode is enforce (default) or monitor: monitor logs every block and
	// lets the request through, for all guards of this API.
	Mode string `yaml:"mode" json:"mode" jsonschema:"enum=enforce,enum=monitor"`
	// Limits bound request sizes.
	Limits Limits `yaml:"limits" json:"limits"`
	// Guards holds one section per guard, keyed by the guard's name; each
	// guard documents its own fields, plus mode and fail.
	Guards map[string]yaml.Node `yaml:"guards" json:"guards"`
}

// Match selects requests by host and path prefix.
type Match struct {
	// Hosts are the Host header values (without port) served; "*.example.com"
	// matches one label. Empty matches any host.
	Hosts []string `yaml:"hosts" json:"hosts"`
	// PathPrefix is the path prefix served, on a segment boundary. Default "/".
	PathPrefix string `yaml:"path_prefix" json:"path_prefix"`
	// StripPrefix removes PathPrefix before proxying. Default false.
	StripPrefix bool `yaml:"strip_prefix" json:"strip_prefix"`
}

// Upstream is the API's backend.
type Upstream struct {
	// URLs are the backends, used round robin. Required.
	URLs []string `yaml:"urls" json:"urls" jsonschema:"required"`
	// Timeouts bound each upstream call.
	Timeouts UpstreamTimeouts `yaml:"timeouts" json:"timeouts"`
	// Pool sizes the connection pool.
	Pool Pool `yaml:"pool" json:"pool"`
	// Health is passive health checking.
	Health Health `yaml:"health" json:"health"`
	// TLS configures TLS to https upstreams.
	TLS UpstreamTLS `yaml:"tls" json:"tls"`
}

// UpstreamTimeouts bound upstream calls.
type UpstreamTimeouts struct {
	// Dial bounds connecting. Default 5s.
	Dial Duration `yaml:"dial" json:"dial"`
	// TLSHandshake bounds the TLS handshake. Default 5s.
	TLSHandshake Duration `yaml:"tls_handshake" json:"tls_handshake"`
	// ResponseHeader bounds waiting for the response head. Default 30s.
	ResponseHeader Duration `yaml:"response_header" json:"response_header"`
	// IdleConn bounds how long idle connections are kept. Default 90s.
	IdleConn Duration `yaml:"idle_conn" json:"idle_conn"`
}

// Pool sizes the upstream connection pool.
type Pool struct {
	// MaxIdleConns across all upstream hosts. Default 512.
	MaxIdleConns int `yaml:"max_idle_conns" json:"max_idle_conns"`
	// MaxIdleConnsPerHost. Default 256.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host" json:"max_idle_conns_per_host"`
	// MaxConnsPerHost; 0 means unlimited. Default 0.
	MaxConnsPerHost int `yaml:"max_conns_per_host" json:"max_conns_per_host"`
}

// Health is passive health checking of upstream URLs.
type Health struct {
	// MaxFails is how many consecutive failures mark an upstream down. Default 3.
	MaxFails int `yaml:"max_fails" json:"max_fails"`
	// Cooldown is how long a down upstream is skipped. Default 10s.
	Cooldown Duration `yaml:"cooldown" json:"cooldown"`
}

// UpstreamTLS configures TLS to the upstream.
type UpstreamTLS struct {
	// CAFile adds PEM roots; default the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// ServerName overrides the name verified.
	ServerName string `yaml:"server_name" json:"server_name"`
	// CertFile and KeyFile present a client certificate to the upstream.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// InsecureSkipVerify disables certificate verification. Never in
	// production: a warning event is raised at every load.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// Limits bound requests.
type Limits struct {
	// MaxBodyBytes caps request bodies. Default 1MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes" json:"max_body_bytes"`
	// Operations override limits per spec operationId.
	Operations map[string]OperationLimits `yaml:"operations" json:"operations"`
}

// OperationLimits override an API's limits for one operation.
type OperationLimits struct {
	// MaxBodyBytes caps this operation's request bodies.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes" json:"max_body_bytes"`
}

// Durations and sizes used as defaults.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:9090"
	DefaultDataDir     = "./apiguard-data"
	DefaultMaxBody     = 1 << 20
)

// Default returns the configuration defaults with no API.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen: DefaultListen,
			TLS:    ServerTLS{MinVersion: "1.2"},
			Timeouts: ServerTimeouts{
				ReadHeader: Duration(5 * time.Second),
				Read:       Duration(30 * time.Second),
				Write:      Duration(60 * time.Second),
				Idle:       Duration(120 * time.Second),
				Shutdown:   Duration(30 * time.Second),
			},
			MaxHeaderBytes:      32 << 10,
			MaxHeaders:          100,
			MaxHeaderValueBytes: 8 << 10,
			RequestIDHeader:     "X-Request-Id",
		},
		Admin:   Admin{Listen: DefaultAdminListen},
		DataDir: DefaultDataDir,
		Store: Store{
			Driver:    "sqlite",
			Retention: Retention{MaxAge: Duration(7 * 24 * time.Hour), MaxEvents: 1_000_000},
			QueueSize: 10000,
		},
		Log:     Log{Level: "info", AccessLog: "stdout"},
		Redis:   Redis{DialTimeout: Duration(500 * time.Millisecond), Timeout: Duration(200 * time.Millisecond)},
		Observe: Observe{Inventory: DefaultInventory(), Detectors: DefaultDetectors()},
	}
}

// applyAPIDefaults fills an API's unset fields.
func applyAPIDefaults(a *API) {
	if a.Match.PathPrefix == "" {
		a.Match.PathPrefix = "/"
	}
	if a.Mode == "" {
		a.Mode = "enforce"
	}
	t := &a.Upstream.Timeouts
	setDur(&t.Dial, 5*time.Second)
	setDur(&t.TLSHandshake, 5*time.Second)
	setDur(&t.ResponseHeader, 30*time.Second)
	setDur(&t.IdleConn, 90*time.Second)
	p := &a.Upstream.Pool
	if p.MaxIdleConns == 0 {
		p.MaxIdleConns = 512
	}
	if p.MaxIdleConnsPerHost == 0 {
		p.MaxIdleConnsPerHost = 256
	}
	h := &a.Upstream.Health
	if h.MaxFails == 0 {
		h.MaxFails = 3
	}
	setDur(&h.Cooldown, 10*time.Second)
	if a.Limits.MaxBodyBytes == 0 {
		a.Limits.MaxBodyBytes = DefaultMaxBody
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}
