package checks

import "github.com/apiguard/apiguard/internal/report"

// checkMeta carries what a check says about itself; embedding it gives a
// check its Name, Category and the scan.Describer methods.
type checkMeta struct {
	name, category, title, description, remediation string
	severity                                        report.Severity
}

// Name is the check's rule id.
func (m checkMeta) Name() string { return m.name }

// Category is the check's OWASP API 2023 id.
func (m checkMeta) Category() string { return m.category }

// Title is the check's one-line summary.
func (m checkMeta) Title() string { return m.title }

// Severity is the check's usual severity.
func (m checkMeta) Severity() report.Severity { return m.severity }

// Description explains the risk.
func (m checkMeta) Description() string { return m.description }

// Remediation says how to fix it.
func (m checkMeta) Remediation() string { return m.remediation }
