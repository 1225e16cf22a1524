// Package report holds the findings of `apiguard scan` and `apiguard
// audit` and writes them as text, JSON, SARIF 2.1.0, JUnit XML and a
// self-contained HTML page.
package report

import "time"

// Severity ranks a finding.
type Severity string

// Severities, lowest first.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Rank orders severities: info 0 … critical 4; unknown -1.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 0
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	case Critical:
		return 4
	}
	return -1
}

// Location is where a finding is: in a spec file (audit) or on a live
// endpoint (scan).
type Location struct {
	// File and Line locate a finding in a spec file.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Pointer is the JSON pointer of the spec node, e.g. /paths/~1users/get.
	Pointer string `json:"pointer,omitempty"`
	// Method and URL locate a finding on a running API.
	Method string `json:"method,omitempty"`
	URL    string `json:"url,omitempty"`
	// Operation is the spec operationId, when known.
	Operation string `json:"operation,omitempty"`
}

// Finding is one problem found by a scan check or an audit rule.
type Finding struct {
	// Rule is the stable id of the check or rule, e.g. "audit.no-security".
	Rule string `json:"rule"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// Category is the OWASP API Security Top 10 (2023) id, e.g. "API1".
	Category string `json:"category"`
	// Severity ranks the finding.
	Severity Severity `json:"severity"`
	// Description explains the risk.
	Description string `json:"description,omitempty"`
	// Evidence is what was observed (redacted).
	Evidence string `json:"evidence,omitempty"`
	// Location is where it was found.
	Location Location `json:"location"`
	// Reproduce is a command that reproduces it (scan: a curl line).
	Reproduce string `json:"reproduce,omitempty"`
	// Remediation says how to fix it, with apiguard or in the API.
	Remediation string `json:"remediation,omitempty"`
	// Fix is the apiguard setting (an x-apiguard extension or a config
	// section) that closes the finding, for `audit --fix-suggestions`.
	Fix string `json:"fix,omitempty"`
	// Gateway is set by `scan --compare-gateway`: GatewayClosed when the
	// finding is not reproduced through apiguard, GatewayRemaining when it
	// is, GatewayOnly when it was found only through apiguard.
	Gateway string `json:"gateway,omitempty"`
}

// Values of Finding.Gateway.
const (
	GatewayClosed    = "closed"
	GatewayRemaining = "remaining"
	GatewayOnly      = "gateway-only"
)

// Report is the result of one scan or audit run.
type Report struct {
	// Tool is "apiguard scan" or "apiguard audit"; Version is apiguard's.
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// Target is the scanned base URL or the audited file.
	Target string `json:"target"`
	// Gateway is the apiguard URL of `scan --compare-gateway`, "" otherwise.
	Gateway string `json:"gateway,omitempty"`
	// Started and Finished bound the run.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Score is the audit score (0-100), nil for a scan.
	Score *int `json:"score,omitempty"`
	// Findings, most severe first.
	Findings []Finding `json:"findings"`
	// Checks lists every check or rule that ran (for JUnit and coverage),
	// with the findings' rules among them.
	Checks []Check `json:"checks,omitempty"`
}

// Check is one check or rule that ran.
type Check struct {
	Rule        string   `json:"rule"`
	Title       string   `json:"title"`
	Category    string   `json:"category,omitempty"`
	Severity    Severity `json:"severity,omitempty"`
	Description string   `json:"description,omitempty"`
	// Remediation says how to fix what the check finds.
	Remediation string `json:"remediation,omitempty"`
}
