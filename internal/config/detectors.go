package config

import (
	"fmt"
	"strings"
	"time"
)

// Detectors configures the anomaly detectors (docs/detectors.md). They
// watch every exchange off the request path, with sliding windows and a
// bounded number of tracked clients, and report what they find as events
// of kind "detector"; each can also alert or block the client for a while
// through the denylist. Every detector is on by default with action
// event: nothing is blocked unless configured.
type Detectors struct {
	// Enabled turns every detector off when false. Default true.
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// MaxKeys bounds how many clients (principals, addresses, credentials,
	// usernames) each detector tracks at once; the least recently seen
	// are forgotten first. Default 100000.
	MaxKeys int `yaml:"max_keys" json:"max_keys"`
	// Allowlist names who is never blocked by a detector (events are
	// still reported).
	Allowlist DetectorAllowlist `yaml:"allowlist" json:"allowlist"`
	// Enumeration catches object enumeration and scraping (API1): many
	// distinct object ids on one operation, or ids walked in sequence.
	Enumeration EnumerationDetector `yaml:"enumeration" json:"enumeration"`
	// CredentialStuffing catches credential stuffing and brute force on
	// login operations (API2).
	CredentialStuffing CredentialStuffingDetector `yaml:"credential_stuffing" json:"credential_stuffing"`
	// TokenSharing catches one token or API key used from many addresses
	// or networks (API2).
	TokenSharing TokenSharingDetector `yaml:"token_sharing" json:"token_sharing"`
	// ErrorRatio catches clients whose answers are mostly 401, 403 or 404
	// (probing: API2, API1/API5, API9).
	ErrorRatio ErrorRatioDetector `yaml:"error_ratio" json:"error_ratio"`
	// Exfiltration catches a client receiving far more data than its own
	// baseline (API3: data leaving in bulk).
	Exfiltration ExfiltrationDetector `yaml:"exfiltration" json:"exfiltration"`
	// FirstSight reports new clients, new operations and shadow
	// endpoints (API9).
	FirstSight FirstSightDetector `yaml:"first_sight" json:"first_sight"`
}

// DetectorAllowlist names who detectors never block.
type DetectorAllowlist struct {
	// Networks are IP addresses or CIDRs never blocked (monitoring,
	// partners, the load balancer). Default none: loopback can be blocked.
	Networks []string `yaml:"networks" json:"networks"`
	// Principals are subjects (or API key ids) never blocked (service
	// accounts). Default none.
	Principals []string `yaml:"principals" json:"principals"`
}

// DetectorCommon are the settings every detector has.
type DetectorCommon struct {
	// Enabled turns the detector off when false. Default true.
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// Window is the sliding window the thresholds apply to; a client
	// triggers the detector at most once per window.
	Window Duration `yaml:"window" json:"window"`
	// Action is what a trigger does besides the event: event (default,
	// severity low), alert (severity high, for alert channels) or block
	// (alert, and block the client through the denylist for block_ttl).
	Action string `yaml:"action" json:"action" jsonschema:"enum=event,enum=alert,enum=block"`
	// BlockTTL is how long an automatic block lasts.
	BlockTTL Duration `yaml:"block_ttl" json:"block_ttl"`
}

// On reports whether the detector is enabled.
func (c DetectorCommon) On() bool { return c.Enabled == nil || *c.Enabled }

// EnumerationDetector configures the object enumeration detector. Window
// default 1m, block_ttl 15m.
type EnumerationDetector struct {
	DetectorCommon `yaml:",inline"`
	// MaxIDs is how many distinct object ids one client may request on
	// one operation within the window. Default 100.
	MaxIDs int `yaml:"max_ids" json:"max_ids"`
	// MaxFailedIDs is how many distinct object ids answered 403 or 404
	// one client may request on one operation within the window (a walk
	// mostly fails). Default 30; 0 turns the check off.
	MaxFailedIDs int `yaml:"max_failed_ids" json:"max_failed_ids"`
	// Sequential is how many consecutive requests with numeric ids each
	// at most max_step from the previous one (a walk: 1, 2, 3, ...) one
	// client may make on one operation within the window. Default 30; 0
	// turns the check off, else at least 3.
	Sequential int `yaml:"sequential" json:"sequential"`
	// MaxStep is the largest difference between consecutive ids still
	// counted as walking. Default 2.
	MaxStep int `yaml:"max_step" json:"max_step"`
}

// CredentialStuffingDetector configures the credential stuffing and brute
// force detector. Window default 10m, block_ttl 1h.
type CredentialStuffingDetector struct {
	DetectorCommon `yaml:",inline"`
	// UsernamesPerIP is how many distinct usernames may fail to log in
	// from one address within the window. Default 20.
	UsernamesPerIP int `yaml:"usernames_per_ip" json:"usernames_per_ip"`
	// IPsPerUsername is how many distinct addresses may fail to log in as
	// one username within the window. Default 10; 0 turns the check off.
	IPsPerUsername int `yaml:"ips_per_username" json:"ips_per_username"`
	// SpikeFactor: login failures across all clients within the window
	// above spike_factor times their usual count (and at least
	// spike_min_failures) are a spike. Default 5; 0 turns the check off.
	SpikeFactor float64 `yaml:"spike_factor" json:"spike_factor"`
	// SpikeMinFailures is the fewest failures within the window that can
	// be a spike. Default 100.
	SpikeMinFailures int `yaml:"spike_min_failures" json:"spike_min_failures"`
	// Operations are login operation ids besides those found in the spec
	// (x-apiguard-login, an operationId such as login or signin, POST
	// .../login, .../signin, .../token).
	Operations []string `yaml:"operations" json:"operations"`
	// UsernameFields are the JSON body members read as the username, in
	// order (top level, or a JSON pointer such as /user/email). The
	// x-apiguard-login pointer of the operation comes first. Default
	// username, email, login, user. Nothing else is read from the body.
	UsernameFields []string `yaml:"username_fields" json:"username_fields"`
	// FailureStatuses are the answers that mean a failed login. Default
	// [401, 403].
	FailureStatuses []int `yaml:"failure_statuses" json:"failure_statuses"`
}

// TokenSharingDetector configures the token sharing detector. Window
// default 10m, block_ttl 1h.
type TokenSharingDetector struct {
	DetectorCommon `yaml:",inline"`
	// MaxIPs is how many distinct addresses may use one credential within
	// the window. Default 10.
	MaxIPs int `yaml:"max_ips" json:"max_ips"`
	// MaxNetworks is how many distinct networks (IPv4 /24, IPv6 /64) may
	// use one credential within the window. Default 4.
	MaxNetworks int `yaml:"max_networks" json:"max_networks"`
}

// ErrorRatioDetector configures the 401/403/404 ratio detector. Window
// default 5m, block_ttl 15m.
type ErrorRatioDetector struct {
	DetectorCommon `yaml:",inline"`
	// MinRequests is the fewest requests of a client within the window
	// before its ratio is judged. Default 30.
	MinRequests int `yaml:"min_requests" json:"min_requests"`
	// MaxRatio is the largest share of error answers allowed, above 0
	// and at most 1. Default 0.5.
	MaxRatio float64 `yaml:"max_ratio" json:"max_ratio"`
	// Statuses are the answers counted as errors. Default [401, 403, 404].
	Statuses []int `yaml:"statuses" json:"statuses"`
}

// ExfiltrationDetector configures the response volume detector. Window
// default 5m, block_ttl 1h.
type ExfiltrationDetector struct {
	DetectorCommon `yaml:",inline"`
	// Factor: a principal receiving more than factor times its usual
	// volume per window (an exponential moving average) triggers.
	// Default 10.
	Factor float64 `yaml:"factor" json:"factor"`
	// MinBytes is the least volume within one window that can trigger,
	// whatever the baseline (new principals are judged against it).
	// Default 50MiB.
	MinBytes ByteSize `yaml:"min_bytes" json:"min_bytes"`
	// BaselineWindows is the span of the moving average, in windows.
	// Default 12.
	BaselineWindows int `yaml:"baseline_windows" json:"baseline_windows"`
}

// FirstSightDetector configures the first sight detector. It only reports
// (action event or alert). Window default 1m: at most max_events events
// per window.
type FirstSightDetector struct {
	DetectorCommon `yaml:",inline"`
	// Clients reports a principal or credential never seen before.
	// Default true.
	Clients *bool `yaml:"clients" json:"clients"`
	// Operations reports the first call of a documented operation.
	// Default true.
	Operations *bool `yaml:"operations" json:"operations"`
	// ShadowEndpoints reports the first successful (2xx) call of an
	// undocumented path (numeric segments generalised: /a/12 is /a/{n}).
	// Default true.
	ShadowEndpoints *bool `yaml:"shadow_endpoints" json:"shadow_endpoints"`
	// Learn is how long after start-up everything seen is learned
	// without events. Default 10m.
	Learn Duration `yaml:"learn" json:"learn"`
	// MaxEvents bounds the events per window; the rest are counted in
	// the next event. Default 20.
	MaxEvents int `yaml:"max_events" json:"max_events"`
	// MaxSeen bounds the remembered clients, operations and endpoints
	// (each); forgotten ones may be reported again. Default 100000.
	MaxSeen int `yaml:"max_seen" json:"max_seen"`
}

// DefaultDetectors are the detectors' defaults.
func DefaultDetectors() Detectors {
	common := func(window, ttl time.Duration) DetectorCommon {
		return DetectorCommon{Window: Duration(window), Action: "event", BlockTTL: Duration(ttl)}
	}
	return Detectors{
		MaxKeys: 100_000,
		Enumeration: EnumerationDetector{DetectorCommon: common(time.Minute, 15*time.Minute),
			MaxIDs: 100, MaxFailedIDs: 30, Sequential: 30, MaxStep: 2},
		CredentialStuffing: CredentialStuffingDetector{DetectorCommon: common(10*time.Minute, time.Hour),
			UsernamesPerIP: 20, IPsPerUsername: 10, SpikeFactor: 5, SpikeMinFailures: 100,
			UsernameFields: []string{"username", "email", "login", "user"}, FailureStatuses: []int{401, 403}},
		TokenSharing: TokenSharingDetector{DetectorCommon: common(10*time.Minute, time.Hour), MaxIPs: 10, MaxNetworks: 4},
		ErrorRatio: ErrorRatioDetector{DetectorCommon: common(5*time.Minute, 15*time.Minute),
			MinRequests: 30, MaxRatio: 0.5, Statuses: []int{401, 403, 404}},
		Exfiltration: ExfiltrationDetector{DetectorCommon: common(5*time.Minute, time.Hour),
			Factor: 10, MinBytes: 50 << 20, BaselineWindows: 12},
		FirstSight: FirstSightDetector{DetectorCommon: common(time.Minute, 0),
			Learn: Duration(10 * time.Minute), MaxEvents: 20, MaxSeen: 100_000},
	}
}

// On reports whether the detectors are enabled at all.
func (d *Detectors) On() bool { return d.Enabled == nil || *d.Enabled }

// Limits of detector settings: they bound memory.
const (
	maxDetectorKeys = 10_000_000
	maxDistinct     = 10_000
)

// Validate checks the section alone; errors name the field path under
// observe.detectors. Config.Validate checks it as part of the file.
func (d *Detectors) Validate() error {
	var errs Errors
	d.validate(func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	})
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validate checks the detectors section.
func (d *Detectors) validate(add func(path, format string, args ...any)) {
	const p = "observe.detectors"
	if d.MaxKeys < 100 || d.MaxKeys > maxDetectorKeys {
		add(p+".max_keys", "must be between 100 and %d", maxDetectorKeys)
	}
	for i, n := range d.Allowlist.Networks {
		if _, err := ParsePrefix(n); err != nil {
			add(fmt.Sprintf("%s.allowlist.networks[%d]", p, i), "%v", err)
		}
	}
	for i, s := range d.Allowlist.Principals {
		if s == "" || len(s) > 512 {
			add(fmt.Sprintf("%s.allowlist.principals[%d]", p, i), "must be 1 to 512 bytes")
		}
	}
	common := func(name string, c DetectorCommon, canBlock bool) {
		q := p + "." + name
		if c.Window < Duration(time.Second) || c.Window > Duration(24*time.Hour) {
			add(q+".window", "must be between 1s and 24h")
		}
		switch c.Action {
		case "event", "alert":
		case "block":
			if !canBlock {
				add(q+".action", "must be event or alert: this detector does not block")
			}
		default:
			add(q+".action", "must be event, alert or block, not %q", c.Action)
		}
		if c.Action == "block" && (c.BlockTTL < Duration(time.Second) || c.BlockTTL > Duration(366*24*time.Hour)) {
			add(q+".block_ttl", "must be between 1s and 8784h when action is block")
		}
	}
	between := func(path string, v, lo, hi int) {
		if v < lo || v > hi {
			add(p+"."+path, "must be between %d and %d", lo, hi)
		}
	}
	offOr := func(path string, v, lo int) { // 0 turns a check off
		if v != 0 && (v < lo || v > maxDistinct) {
			add(p+"."+path, "must be 0 (off) or between %d and %d", lo, maxDistinct)
		}
	}
	statuses := func(path string, vs []int) {
		if len(vs) == 0 {
			add(p+"."+path, "must list at least one status")
		}
		for i, s := range vs {
			if s < 100 || s > 599 {
				add(fmt.Sprintf("%s.%s[%d]", p, path, i), "must be an HTTP status (100 to 599)")
			}
		}
	}

	e := &d.Enumeration
	common("enumeration", e.DetectorCommon, true)
	between("enumeration.max_ids", e.MaxIDs, 2, maxDistinct)
	offOr("enumeration.max_failed_ids", e.MaxFailedIDs, 2)
	offOr("enumeration.sequential", e.Sequential, 3)
	if e.Sequential != 0 {
		between("enumeration.max_step", e.MaxStep, 1, 1_000_000)
	}

	c := &d.CredentialStuffing
	common("credential_stuffing", c.DetectorCommon, true)
	between("credential_stuffing.usernames_per_ip", c.UsernamesPerIP, 2, maxDistinct)
	offOr("credential_stuffing.ips_per_username", c.IPsPerUsername, 2)
	if c.SpikeFactor != 0 && (c.SpikeFactor <= 1 || c.SpikeFactor > 1000) {
		add(p+".credential_stuffing.spike_factor", "must be 0 (off) or above 1 and at most 1000")
	}
	if c.SpikeFactor != 0 {
		between("credential_stuffing.spike_min_failures", c.SpikeMinFailures, 1, 100_000_000)
	}
	for i, op := range c.Operations {
		if op == "" || len(op) > 256 {
			add(fmt.Sprintf("%s.credential_stuffing.operations[%d]", p, i), "must be an operation id")
		}
	}
	if len(c.UsernameFields) == 0 || len(c.UsernameFields) > 16 {
		add(p+".credential_stuffing.username_fields", "must list 1 to 16 fields")
	}
	for i, f := range c.UsernameFields {
		if f == "" || len(f) > 256 || (strings.Contains(f, "/") && !strings.HasPrefix(f, "/")) {
			add(fmt.Sprintf("%s.credential_stuffing.username_fields[%d]", p, i), "must be a member name or a JSON pointer such as /user/email")
		}
	}
	statuses("credential_stuffing.failure_statuses", c.FailureStatuses)

	t := &d.TokenSharing
	common("token_sharing", t.DetectorCommon, true)
	between("token_sharing.max_ips", t.MaxIPs, 2, maxDistinct)
	offOr("token_sharing.max_networks", t.MaxNetworks, 2)

	r := &d.ErrorRatio
	common("error_ratio", r.DetectorCommon, true)
	between("error_ratio.min_requests", r.MinRequests, 1, 100_000_000)
	if !(r.MaxRatio > 0 && r.MaxRatio <= 1) {
		add(p+".error_ratio.max_ratio", "must be above 0 and at most 1")
	}
	statuses("error_ratio.statuses", r.Statuses)

	x := &d.Exfiltration
	common("exfiltration", x.DetectorCommon, true)
	if !(x.Factor > 1 && x.Factor <= 1_000_000) {
		add(p+".exfiltration.factor", "must be above 1")
	}
	if x.MinBytes < 1 {
		add(p+".exfiltration.min_bytes", "must be positive")
	}
	between("exfiltration.baseline_windows", x.BaselineWindows, 1, 10_000)

	f := &d.FirstSight
	common("first_sight", f.DetectorCommon, false)
	if f.Learn < 0 || f.Learn > Duration(30*24*time.Hour) {
		add(p+".first_sight.learn", "must be between 0s and 720h")
	}
	between("first_sight.max_events", f.MaxEvents, 1, 1_000_000)
	between("first_sight.max_seen", f.MaxSeen, 100, maxDetectorKeys)
}

// ClientsOn reports whether new clients are reported.
func (f FirstSightDetector) ClientsOn() bool { return f.Clients == nil || *f.Clients }

// OperationsOn reports whether first calls of operations are reported.
func (f FirstSightDetector) OperationsOn() bool { return f.Operations == nil || *f.Operations }

// ShadowEndpointsOn reports whether shadow endpoints are reported.
func (f FirstSightDetector) ShadowEndpointsOn() bool {
	return f.ShadowEndpoints == nil || *f.ShadowEndpoints
}
