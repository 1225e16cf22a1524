package pipeline

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ProblemTypeBase prefixes the rule id to form a problem's stable type URI.
const ProblemTypeBase = "https://apiguard.dev/problems/"

// Problem is an RFC 9457 problem details answer. It never carries
// internals: no stack, no upstream text, no attacker input.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id"`
	// Errors lists precise, client-safe failures (for example a JSON
	// pointer and the rule it broke); guards fill it where useful.
	Errors []ProblemError `json:"errors,omitempty"`
}

// ProblemError is one precise failure inside a Problem.
type ProblemError struct {
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail"`
}

// WriteProblem answers the client with a problem+json body and
// DefaultSecurityHeaders. It does not know the request, so it never sends
// Strict-Transport-Security: code that has the request uses
// WriteProblemFor.
func WriteProblem(w http.ResponseWriter, p Problem) {
	WriteProblemFor(w, nil, DefaultSecurityHeaders, p)
}

// WriteProblemFor answers the client of r with a problem+json body and the
// security headers s (SecurityHeaders.Set: HSTS when r came in over TLS).
func WriteProblemFor(w http.ResponseWriter, r *http.Request, s SecurityHeaders, p Problem) {
	if p.Status == 0 {
		p.Status = http.StatusForbidden
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen with these field types
		body = []byte(`{"title":"error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	s.Set(h, r)
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// ProblemFor turns a blocking decision into the client's problem answer.
func ProblemFor(d *Decision, requestID string) Problem {
	status := d.Verdict.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	rule := d.Verdict.Rule
	if rule == "" {
		rule = d.Guard
	}
	return Problem{
		Type:      ProblemTypeBase + rule,
		Title:     d.Verdict.Title,
		Status:    status,
		RequestID: requestID,
		Errors:    d.Verdict.Errors,
	}
}
