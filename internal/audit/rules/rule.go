// Package rules holds the rules of `apiguard audit`, one file per rule,
// and the indexed view of a spec (Doc) they read.
package rules

import (
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// Scope says what a rule's findings are counted against in the score.
type Scope int

// Scopes.
const (
	// ScopeDocument rules find problems of the whole description; any
	// finding costs the rule's full weight.
	ScopeDocument Scope = iota
	// ScopeItems rules find problems per operation, parameter or schema;
	// their cost grows with the number of findings per operation.
	ScopeItems
)

// Hit is one place where a rule fires.
type Hit struct {
	// Node is the YAML node the finding is about (for its line).
	Node *yaml.Node
	// Pointer is the JSON pointer of Node in the spec.
	Pointer string
	// Operation is the operationId (or "METHOD /path") involved, if any.
	Operation string
	// Evidence says what was seen.
	Evidence string
}

// Rule is one audit rule.
type Rule struct {
	// ID is stable: "audit.<kebab-case>".
	ID string
	// Title is a one-line summary of the problem.
	Title string
	// Category is the OWASP API Security Top 10 (2023) id.
	Category string
	// Severity is the default severity.
	Severity report.Severity
	// Scope decides how findings count in the score.
	Scope Scope
	// Description explains the risk.
	Description string
	// Remediation says how to fix the spec or the API.
	Remediation string
	// Fix is the apiguard extension or config that closes the finding.
	Fix string
	// Check returns the places where the rule fires.
	Check func(d *Doc) []Hit
}

var registry []*Rule

func register(r *Rule) { registry = append(registry, r) }

// All returns every rule, sorted by id.
func All() []*Rule {
	out := append([]*Rule(nil), registry...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
