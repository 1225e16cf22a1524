// Package events defines apiguard's one typed security event, the OWASP
// category table, redaction of secrets, and the sinks events go to: the
// JSON access log, Prometheus metrics and the store.
package events

import "time"

// Kind says what an event is about.
type Kind string

const (
	// KindGuard is a guard's verdict on a request (block, observe, failure).
	KindGuard Kind = "guard"
	// KindProtocol is a request refused by protocol hardening, before any guard.
	KindProtocol Kind = "protocol"
	// KindUpstream is a failure to reach or read the upstream.
	KindUpstream Kind = "upstream"
	// KindConfig is a configuration load, reload or refusal.
	KindConfig Kind = "config"
	// KindSystem is anything else apiguard itself reports (a risky setting
	// in use, a dependency down, the store dropping events).
	KindSystem Kind = "system"
	// KindDetector is an anomaly detector's finding about traffic over time
	// (object enumeration, credential stuffing, token sharing, ...), from
	// the observers off the request path (docs/detectors.md).
	KindDetector Kind = "detector"
)

// Event is one security event. Its fields never hold secrets: Detail is
// redacted before it is set, and credentials are never copied in.
type Event struct {
	// ID is the store's id for the event; 0 until stored.
	ID int64 `json:"id,omitempty"`
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Kind is what the event is about.
	Kind Kind `json:"kind"`
	// RequestID is the id of the request the event is about, if any.
	RequestID string `json:"request_id,omitempty"`
	// API is the name of the API, if any.
	API string `json:"api,omitempty"`
	// Operation is the spec operation id, or "unmatched".
	Operation string `json:"operation,omitempty"`
	// Method and Path are the request's method and canonical path.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// ClientIP is the client's address.
	ClientIP string `json:"client_ip,omitempty"`
	// Principal is the authenticated caller's subject, when known.
	Principal string `json:"principal,omitempty"`
	// Guard is the step that decided, such as "waf" or "normalize".
	Guard string `json:"guard,omitempty"`
	// Rule is the stable rule id, such as "normalize.dot_segment".
	Rule string `json:"rule,omitempty"`
	// Category is the OWASP API Security Top 10 (2023) id, such as "API8".
	Category string `json:"category,omitempty"`
	// Verdict is allow, block, observe or error.
	Verdict string `json:"verdict"`
	// Mode is enforce or monitor.
	Mode string `json:"mode,omitempty"`
	// Status is the HTTP status answered to the client.
	Status int `json:"status,omitempty"`
	// Latency is how long apiguard took with the request so far.
	Latency time.Duration `json:"latency_ns,omitempty"`
	// Detail is a short, redacted explanation for the operator.
	Detail string `json:"detail,omitempty"`
	// Severity, when set, is the event's severity as its source judged it
	// (info, low, medium or high), overriding the one derived from the
	// verdict: an anomaly detector configured to alert sets high, so that
	// alert channels filtering on severity receive it.
	Severity string `json:"severity,omitempty"`
}

// Verdict values.
const (
	VerdictAllow   = "allow"
	VerdictBlock   = "block"
	VerdictObserve = "observe"
	VerdictError   = "error"
)
