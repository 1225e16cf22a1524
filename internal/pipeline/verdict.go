// Package pipeline holds the exchange that flows through apiguard, the
// verdicts guards return, the one ordered list of guards (order.go) and the
// runner that applies them with their mode and failure mode.
package pipeline

import (
	"context"
	"fmt"
	"net/http"
)

// Action is what a guard decided about an exchange.
type Action uint8

const (
	// Continue lets the exchange go on. It is the zero Action.
	Continue Action = iota
	// Block stops the exchange and answers the client with a problem.
	Block
	// Observe records a finding without stopping the exchange.
	Observe
	// Answer stops the exchange with an answer that is not a refusal (an
	// allowed CORS preflight): Status and Header, no body, no event. Monitor
	// mode does not change it.
	Answer
)

// String returns the lower-case name of the action as used in events.
func (a Action) String() string {
	switch a {
	case Continue:
		return "allow"
	case Block:
		return "block"
	case Observe:
		return "observe"
	case Answer:
		return "answer"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Verdict is a guard's decision. The zero Verdict lets the exchange continue.
type Verdict struct {
	// Action is the decision.
	Action Action
	// Status is the response status when blocking; 0 means 403.
	Status int
	// Rule is a stable id such as "authn.token_expired" or "waf.942100".
	Rule string
	// Category is the OWASP API Security Top 10 (2023) id, such as "API2".
	Category string
	// Title is a short, client-safe sentence for the problem answer. It must
	// never contain internals or echo attacker input. Empty means the
	// generic text of the status.
	Title string
	// Detail is a short operator-facing detail for the event. It may hold
	// redacted request data; it is never sent to the client.
	Detail string
	// Header, when set on a Block, is added to the block answer (for
	// example WWW-Authenticate or Retry-After).
	Header http.Header
	// Errors, when set on a Block, are copied into the problem answer:
	// precise, client-safe failures such as the JSON pointer of a property
	// that may not be written. They must not echo attacker input.
	Errors []ProblemError
}

// Mode says whether a guard's blocks are enforced or only observed.
type Mode string

const (
	// Enforce applies Block verdicts. It is the default.
	Enforce Mode = "enforce"
	// Monitor turns Block verdicts into Observe: logged, not blocked.
	Monitor Mode = "monitor"
)

// FailMode says what happens when a guard itself fails (returns an error).
type FailMode string

const (
	// FailClosed answers 503 when the guard fails. It is the default.
	FailClosed FailMode = "closed"
	// FailOpen lets the exchange continue when the guard fails, with an event.
	FailOpen FailMode = "open"
)

// Common holds the settings every guard section shares. Guard config
// structs embed it with `yaml:",inline"`.
type Common struct {
	// Mode is enforce (default) or monitor.
	Mode Mode `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"enum=enforce,enum=monitor"`
	// Fail is closed (default) or open: what to do when the guard itself fails.
	Fail FailMode `yaml:"fail,omitempty" json:"fail,omitempty" jsonschema:"enum=closed,enum=open"`
}

// Validate checks the mode and failure mode values.
func (c Common) Validate() error {
	switch c.Mode {
	case "", Enforce, Monitor:
	default:
		return fmt.Errorf("mode: must be enforce or monitor, not %q", c.Mode)
	}
	switch c.Fail {
	case "", FailClosed, FailOpen:
	default:
		return fmt.Errorf("fail: must be closed or open, not %q", c.Fail)
	}
	return nil
}

// RequestGuard inspects a request before it is proxied.
//
// A guard returns an error only when it itself failed (a key set could not
// be fetched, Redis is down), never for a bad request; the pipeline then
// applies that guard's failure mode.
type RequestGuard interface {
	Request(ctx context.Context, x *Exchange) (Verdict, error)
}

// ResponseGuard inspects (and may rewrite) the upstream response before it
// reaches the client. Errors have the same meaning as for RequestGuard.
type ResponseGuard interface {
	Response(ctx context.Context, x *Exchange, resp *http.Response) (Verdict, error)
}

// Closer is implemented by guards that hold resources.
type Closer interface {
	Close() error
}
