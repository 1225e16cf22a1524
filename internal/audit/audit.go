// Package audit is `apiguard audit`: a static security audit of an
// OpenAPI 3.0/3.1 description. Rules live in audit/rules, one file each;
// this package runs them, builds the report and computes the score.
//
// # Score
//
// The score starts at 100. Each rule r with n_r > 0 findings costs
//
//	penalty_r = W(severity_r) × (1/2 + 1/2 × min(1, n_r / N))
//
// where N is the number of operations (at least 1) and W is 15 for
// critical, 8 for high, 4 for medium, 1.5 for low and 0 for info. Rules
// about the whole document (ScopeDocument) always cost the full W. So a
// rule costs half its weight as soon as it fires and its full weight when
// it fires about once per operation or more: the score never goes up when
// a finding is added, and no single rule costs more than its weight.
// score = max(0, round(100 − Σ penalty_r)).
package audit

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/apiguard/apiguard/internal/audit/rules"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

// Weight is the score weight of a severity.
func Weight(s report.Severity) float64 {
	switch s {
	case report.Critical:
		return 15
	case report.High:
		return 8
	case report.Medium:
		return 4
	case report.Low:
		return 1.5
	}
	return 0
}

// Options tune a run.
type Options struct {
	// File is the spec's path as shown in locations.
	File string
	// Version is apiguard's version, for the report.
	Version string
	// Severity overrides rules' default severities, by rule id.
	Severity map[string]report.Severity
	// Disable lists rule ids not to run.
	Disable map[string]bool
}

// Rules returns every rule, sorted by id.
func Rules() []*rules.Rule { return rules.All() }

// Load loads the spec at path and audits it.
func Load(path string, opts Options) (*report.Report, error) {
	spec, err := openapi.Load(path)
	if err != nil {
		return nil, fmt.Errorf("auditing %s: %w", path, err)
	}
	if opts.File == "" {
		opts.File = path
	}
	return Audit(spec, opts), nil
}

// Audit runs every rule over spec and returns the report with its score.
func Audit(spec *openapi.Spec, opts Options) *report.Report {
	start := time.Now()
	d := rules.NewDoc(spec)
	r := &report.Report{Tool: "apiguard audit", Version: opts.Version, Target: opts.File, Started: start, Findings: []report.Finding{}}
	opFile := map[string]string{}
	for _, op := range d.Ops {
		if op.File != "" {
			opFile[op.ID] = filepath.ToSlash(filepath.Join(filepath.Dir(opts.File), filepath.FromSlash(op.File)))
		}
	}
	counts := map[string]int{}
	sev := map[string]report.Severity{}
	scope := map[string]rules.Scope{}
	for _, rule := range rules.All() {
		if opts.Disable[rule.ID] {
			continue
		}
		s := rule.Severity
		if o, ok := opts.Severity[rule.ID]; ok {
			s = o
		}
		sev[rule.ID], scope[rule.ID] = s, rule.Scope
		r.Checks = append(r.Checks, report.Check{Rule: rule.ID, Title: rule.Title, Category: rule.Category, Severity: s, Description: rule.Description, Remediation: rule.Remediation})
		for _, h := range rule.Check(d) {
			counts[rule.ID]++
			f := report.Finding{
				Rule: rule.ID, Title: rule.Title, Category: rule.Category, Severity: s,
				Description: rule.Description, Evidence: h.Evidence, Remediation: rule.Remediation, Fix: rule.Fix,
				Location: report.Location{File: opts.File, Pointer: h.Pointer, Operation: h.Operation},
			}
			if h.Node != nil {
				f.Location.Line = h.Node.Line
			}
			if file, ok := opFile[h.Operation]; ok && h.Operation != "" {
				// the node lives in the operation's own file
				f.Location.File = file
			}
			r.Findings = append(r.Findings, f)
		}
	}
	report.SortFindings(r.Findings)
	score := Score(counts, sev, scope, len(d.Ops))
	r.Score = &score
	r.Finished = time.Now()
	return r
}

// Score computes the 0-100 score from the number of findings per rule,
// the rules' severities and scopes, and the number of operations (see the
// package comment for the formula).
func Score(counts map[string]int, sev map[string]report.Severity, scope map[string]rules.Scope, ops int) int {
	if ops < 1 {
		ops = 1
	}
	penalty := 0.0
	for id, n := range counts {
		if n == 0 {
			continue
		}
		frac := 1.0
		if scope[id] == rules.ScopeItems {
			frac = math.Min(1, float64(n)/float64(ops))
		}
		penalty += Weight(sev[id]) * (0.5 + 0.5*frac)
	}
	return int(math.Max(0, math.Round(100-penalty)))
}
