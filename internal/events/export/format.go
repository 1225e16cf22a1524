// Package export sends apiguard's security events to SIEMs and people: a
// JSON lines file with rotation, syslog (RFC 5424 over UDP, TCP or TLS,
// with CEF or JSON payloads) and webhooks (generic JSON, OCSF or Slack,
// signed, retried, deduplicated and rate limited).
//
// Every exporter is a sink the events.Recorder fans out to through a Hub.
// Export never blocks: each exporter has a bounded queue and its own
// goroutine; a full queue drops the event, counts it in a Prometheus
// metric and reports it as a system event at most once per minute. The
// Hub follows configuration reloads (Apply) and flushes with a deadline
// on Close. The event schema, its OCSF mapping and its CEF keys are
// documented field by field in docs/events.md.
package export

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// Severity ranks events for filtering and for the severity fields of
// syslog, CEF and OCSF. Its values are OCSF's severity_id.
type Severity int

// Severities, lowest first.
const (
	// SeverityInfo is an allow verdict: an event that is not an attack
	// (a block added by an operator, a config reload).
	SeverityInfo Severity = 1
	// SeverityLow is an observe verdict: recorded, not blocked.
	SeverityLow Severity = 2
	// SeverityMedium is a block verdict: an attack that was stopped.
	SeverityMedium Severity = 3
	// SeverityHigh is an error verdict: a guard or apiguard itself failed,
	// so protection may be degraded.
	SeverityHigh Severity = 4
)

var severityNames = [...]string{"", "info", "low", "medium", "high"}

// String returns info, low, medium or high.
func (s Severity) String() string {
	if s < SeverityInfo || s > SeverityHigh {
		return "info"
	}
	return severityNames[s]
}

// ParseSeverity reads info, low, medium or high.
func ParseSeverity(s string) (Severity, bool) {
	for i := SeverityInfo; i <= SeverityHigh; i++ {
		if severityNames[i] == s {
			return i, true
		}
	}
	return 0, false
}

// SeverityOf is the severity of an event: the one its source set
// (Event.Severity, such as a detector with action alert), else from its
// verdict.
func SeverityOf(e *events.Event) Severity {
	if s, ok := ParseSeverity(e.Severity); ok {
		return s
	}
	switch e.Verdict {
	case events.VerdictError:
		return SeverityHigh
	case events.VerdictBlock:
		return SeverityMedium
	case events.VerdictObserve:
		return SeverityLow
	}
	return SeverityInfo
}

// syslogSeverity maps a Severity to RFC 5424: error, warning, notice,
// informational.
func syslogSeverity(s Severity) int {
	switch s {
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 4
	case SeverityLow:
		return 5
	}
	return 6
}

// cefSeverity maps a Severity to CEF's 0-10 scale (0-3 low, 4-6 medium,
// 7-8 high, 9-10 very high).
func cefSeverity(s Severity) int {
	switch s {
	case SeverityHigh:
		return 8
	case SeverityMedium:
		return 6
	case SeverityLow:
		return 3
	}
	return 1
}

// filter is a compiled config.AlertFilter.
type filter struct {
	min        Severity
	verdicts   map[string]bool
	categories map[string]bool
	guards     map[string]bool
	kinds      map[string]bool
}

func newFilter(f config.AlertFilter) filter {
	set := func(vs []string) map[string]bool {
		if len(vs) == 0 {
			return nil
		}
		m := make(map[string]bool, len(vs))
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	min, ok := ParseSeverity(f.MinSeverity)
	if !ok {
		min = SeverityInfo
	}
	return filter{min: min, verdicts: set(f.Verdicts), categories: set(f.Categories), guards: set(f.Guards), kinds: set(f.Kinds)}
}

// match reports whether the filter keeps e.
func (f *filter) match(e *events.Event) bool {
	if SeverityOf(e) < f.min {
		return false
	}
	if f.verdicts != nil && !f.verdicts[e.Verdict] {
		return false
	}
	if f.categories != nil && !f.categories[e.Category] {
		return false
	}
	if f.guards != nil && !f.guards[e.Guard] {
		return false
	}
	if f.kinds != nil && !f.kinds[string(e.Kind)] {
		return false
	}
	return true
}

// appendJSON appends e in the documented event schema (docs/events.md),
// times in UTC.
func appendJSON(dst []byte, e *events.Event) []byte {
	c := *e
	c.Time = c.Time.UTC()
	b, err := json.Marshal(&c)
	if err != nil { // strings, ints and a time: cannot fail
		return append(dst, "{}"...)
	}
	return append(dst, b...)
}

// OCSF constants: the API Activity class of the Application Activity
// category, OCSF schema 1.3.0.
const (
	OCSFVersion       = "1.3.0"
	ocsfClassUID      = 6003
	ocsfCategoryUID   = 6
	ocsfClassName     = "API Activity"
	ocsfCategoryName  = "Application Activity"
	ocsfProductName   = "apiguard"
	ocsfVendorName    = "apiguard"
	ocsfProfileSecCtl = "security_control"
)

// OCSF is an event as an OCSF API Activity (class_uid 6003) object.
type OCSF struct {
	ActivityID    int    `json:"activity_id"`
	ActivityName  string `json:"activity_name"`
	CategoryUID   int    `json:"category_uid"`
	CategoryName  string `json:"category_name"`
	ClassUID      int    `json:"class_uid"`
	ClassName     string `json:"class_name"`
	TypeUID       int    `json:"type_uid"`
	TypeName      string `json:"type_name"`
	SeverityID    int    `json:"severity_id"`
	Severity      string `json:"severity"`
	Time          int64  `json:"time"`
	StartTime     int64  `json:"start_time,omitempty"`
	EndTime       int64  `json:"end_time,omitempty"`
	Count         int    `json:"count,omitempty"`
	Message       string `json:"message,omitempty"`
	StatusID      int    `json:"status_id"`
	Status        string `json:"status"`
	StatusCode    string `json:"status_code,omitempty"`
	StatusDetail  string `json:"status_detail,omitempty"`
	DispositionID int    `json:"disposition_id"`
	Disposition   string `json:"disposition"`
	Metadata      struct {
		Version       string   `json:"version"`
		Profiles      []string `json:"profiles"`
		UID           string   `json:"uid,omitempty"`
		CorrelationID string   `json:"correlation_uid,omitempty"`
		LogName       string   `json:"log_name,omitempty"`
		Product       struct {
			Name       string `json:"name"`
			VendorName string `json:"vendor_name"`
			Version    string `json:"version"`
		} `json:"product"`
	} `json:"metadata"`
	API struct {
		Operation string `json:"operation"`
		Service   struct {
			Name string `json:"name,omitempty"`
		} `json:"service"`
		Request *struct {
			UID string `json:"uid"`
		} `json:"request,omitempty"`
	} `json:"api"`
	HTTPRequest *ocsfHTTPRequest `json:"http_request,omitempty"`
	HTTPResp    *struct {
		Code int `json:"code"`
	} `json:"http_response,omitempty"`
	SrcEndpoint struct {
		IP string `json:"ip,omitempty"`
	} `json:"src_endpoint"`
	Actor struct {
		User *struct {
			UID string `json:"uid"`
		} `json:"user,omitempty"`
		AppName string `json:"app_name,omitempty"`
	} `json:"actor"`
	Unmapped map[string]any `json:"unmapped,omitempty"`
}

type ocsfHTTPRequest struct {
	HTTPMethod string `json:"http_method,omitempty"`
	URL        struct {
		Path string `json:"path,omitempty"`
	} `json:"url"`
	UID string `json:"uid,omitempty"`
}

// ocsfActivity maps an HTTP method to API Activity's activity_id.
func ocsfActivity(method string) (int, string) {
	switch method {
	case "":
		return 0, "Unknown"
	case "POST":
		return 1, "Create"
	case "GET", "HEAD":
		return 2, "Read"
	case "PUT", "PATCH":
		return 3, "Update"
	case "DELETE":
		return 4, "Delete"
	}
	return 99, "Other"
}

// ocsfDisposition maps a verdict to the security control profile's
// disposition_id.
func ocsfDisposition(verdict string) (int, string) {
	switch verdict {
	case events.VerdictAllow:
		return 1, "Allowed"
	case events.VerdictBlock:
		return 2, "Blocked"
	case events.VerdictObserve:
		return 15, "Detected"
	case events.VerdictError:
		return 99, "Error"
	}
	return 0, "Unknown"
}

var ocsfSeverityNames = [...]string{"Unknown", "Informational", "Low", "Medium", "High"}

// ToOCSF maps an event to OCSF API Activity. version is apiguard's
// version. The mapping is documented in docs/events.md.
func ToOCSF(e *events.Event, version string) *OCSF {
	o := &OCSF{CategoryUID: ocsfCategoryUID, CategoryName: ocsfCategoryName, ClassUID: ocsfClassUID, ClassName: ocsfClassName}
	o.ActivityID, o.ActivityName = ocsfActivity(e.Method)
	o.TypeUID = ocsfClassUID*100 + o.ActivityID
	o.TypeName = ocsfClassName + ": " + o.ActivityName
	sev := SeverityOf(e)
	o.SeverityID, o.Severity = int(sev), ocsfSeverityNames[sev]
	o.Time = e.Time.UnixMilli()
	o.Message = message(e)
	o.StatusID, o.Status = 1, "Success"
	if e.Verdict == events.VerdictBlock || e.Verdict == events.VerdictError {
		o.StatusID, o.Status = 2, "Failure"
	}
	if e.Status != 0 {
		o.StatusCode = strconv.Itoa(e.Status)
	}
	o.StatusDetail = e.Detail
	o.DispositionID, o.Disposition = ocsfDisposition(e.Verdict)
	md := &o.Metadata
	md.Version = OCSFVersion
	md.Profiles = []string{ocsfProfileSecCtl}
	if e.ID != 0 {
		md.UID = strconv.FormatInt(e.ID, 10)
	}
	md.CorrelationID = e.RequestID
	md.LogName = string(e.Kind)
	md.Product.Name, md.Product.VendorName, md.Product.Version = ocsfProductName, ocsfVendorName, version
	o.API.Operation = e.Operation
	o.API.Service.Name = e.API
	if e.RequestID != "" {
		o.API.Request = &struct {
			UID string `json:"uid"`
		}{e.RequestID}
	}
	if e.Method != "" || e.Path != "" || e.RequestID != "" {
		o.HTTPRequest = &ocsfHTTPRequest{HTTPMethod: e.Method, UID: e.RequestID}
		o.HTTPRequest.URL.Path = e.Path
	}
	if e.Status != 0 {
		o.HTTPResp = &struct {
			Code int `json:"code"`
		}{e.Status}
	}
	o.SrcEndpoint.IP = e.ClientIP
	if e.Principal != "" {
		o.Actor.User = &struct {
			UID string `json:"uid"`
		}{e.Principal}
	}
	o.Actor.AppName = "apiguard"
	u := map[string]any{"kind": string(e.Kind), "verdict": e.Verdict}
	for k, v := range map[string]string{"guard": e.Guard, "rule": e.Rule, "category": e.Category, "mode": e.Mode} {
		if v != "" {
			u[k] = v
		}
	}
	if e.Category != "" {
		u["category_name"] = events.CategoryName(e.Category)
	}
	if e.Latency != 0 {
		u["latency_ns"] = int64(e.Latency)
	}
	o.Unmapped = u
	return o
}

// appendOCSF appends e as an OCSF JSON object.
func appendOCSF(dst []byte, e *events.Event, version string) []byte {
	b, err := json.Marshal(ToOCSF(e, version))
	if err != nil {
		return append(dst, "{}"...)
	}
	return append(dst, b...)
}

// message is a one-line human summary of an event, such as
// "waf block: GET /pets (waf.942100, API8)".
func message(e *events.Event) string {
	who := e.Guard
	if who == "" {
		who = string(e.Kind)
	}
	s := who + " " + e.Verdict
	if e.Method != "" || e.Path != "" {
		s += ": " + e.Method + " " + e.Path
	}
	if e.Rule != "" || e.Category != "" {
		s += " (" + e.Rule
		if e.Category != "" {
			if e.Rule != "" {
				s += ", "
			}
			s += e.Category
		}
		s += ")"
	}
	return s
}

// cefName is the CEF Name header field: the OWASP risk's name when the
// event has a category, otherwise a short description of its kind.
func cefName(e *events.Event) string {
	if n := events.CategoryName(e.Category); n != "" {
		return n
	}
	switch e.Kind {
	case events.KindProtocol:
		return "Protocol violation"
	case events.KindUpstream:
		return "Upstream failure"
	case events.KindConfig:
		return "Configuration"
	case events.KindSystem:
		return "System"
	}
	return "Security event"
}

// AppendCEF appends e as one CEF:0 record:
//
//	CEF:0|apiguard|apiguard|<version>|<rule>|<name>|<severity>|<extension>
//
// Header fields escape '\' and '|'; extension values escape '\' and '=',
// and write CR and LF as \r and \n. Keys are fixed (docs/events.md).
func AppendCEF(dst []byte, e *events.Event, version string) []byte {
	dst = append(dst, "CEF:0|apiguard|apiguard|"...)
	dst = appendCEFHeader(dst, version)
	dst = append(dst, '|')
	sig := e.Rule
	if sig == "" {
		sig = string(e.Kind)
	}
	dst = appendCEFHeader(dst, sig)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, cefName(e))
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(cefSeverity(SeverityOf(e))), 10)
	dst = append(dst, '|')
	first := true
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = appendCEFValue(dst, v)
	}
	kv("rt", strconv.FormatInt(e.Time.UnixMilli(), 10))
	kv("cat", string(e.Kind))
	kv("act", e.Verdict)
	kv("src", e.ClientIP)
	kv("suser", e.Principal)
	kv("requestMethod", e.Method)
	kv("request", e.Path)
	if e.ID != 0 {
		kv("externalId", strconv.FormatInt(e.ID, 10))
	}
	if e.Status != 0 {
		kv("cn1", strconv.Itoa(e.Status))
		kv("cn1Label", "httpStatus")
	}
	if e.Latency != 0 {
		kv("cn2", strconv.FormatInt(int64(e.Latency), 10))
		kv("cn2Label", "latencyNs")
	}
	for _, f := range [...]struct{ n, label, v string }{
		{"cs1", "api", e.API}, {"cs2", "operation", e.Operation}, {"cs3", "owaspCategory", e.Category},
		{"cs4", "guard", e.Guard}, {"cs5", "requestId", e.RequestID}, {"cs6", "mode", e.Mode},
	} {
		if f.v != "" {
			kv(f.n, f.v)
			kv(f.n+"Label", f.label)
		}
	}
	kv("msg", e.Detail)
	return dst
}

// appendCEFHeader escapes a CEF header field: '\' and '|' are escaped;
// CR and LF (not allowed in headers) become spaces; invalid UTF-8 becomes
// U+FFFD.
func appendCEFHeader(dst []byte, s string) []byte { return appendCEF(dst, s, true) }

// appendCEFValue escapes a CEF extension value: '\' and '=' are escaped,
// CR and LF are written \r and \n; invalid UTF-8 becomes U+FFFD.
func appendCEFValue(dst []byte, s string) []byte { return appendCEF(dst, s, false) }

// appendCEF escapes s as a CEF header field (header) or extension value.
func appendCEF(dst []byte, s string, header bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '\\', header && c == '|', !header && c == '=':
			dst = append(dst, '\\', c)
		case header && (c == '\r' || c == '\n'):
			dst = append(dst, ' ')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}
