package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// Flows is the sensitive-business-flow check (API6): operations that
// move money or goods, place orders or sign up (by name, or marked with
// x-business-flow / x-apiguard-flow) are sent a small burst of valid
// requests as one user (no quota is a finding), and their amounts are
// sent negative and zero (accepted is a finding: business-logic
// validation is missing).
type Flows struct{ checkMeta }

// newFlows returns the API6 business-flow check.
func newFlows() *Flows {
	return &Flows{checkMeta{
		name: "scan.business-flows", category: "API6", severity: report.Medium,
		title:       "Sensitive business flows without quota or amount validation",
		description: "A business flow (transfer, payment, order, sign-up) can be automated without limit by one user, or accepts amounts that make no business sense (negative, zero), letting a caller reverse a money movement or drain stock.",
		remediation: "Quota each flow per user and per device (429 with Retry-After beyond it), and validate amounts server-side (strictly positive, bounded by the balance). With apiguard: guards.flows quotas, and the schema guard enforces the spec's minimum.",
	}}
}

// flowBurst is how many valid requests of one flow the check sends.
const flowBurst = 8

// Run checks each business flow.
func (c *Flows) Run(ctx context.Context, s *scan.Session) error {
	id := firstUser(s)
	if id == nil {
		return nil
	}
	for _, op := range s.Ops {
		if op.Deprecated || op == s.LoginOp || op.Body == nil || !mayCall(s, op) ||
			!isBusinessFlow(op.Method, strings.ToLower(op.ID+" "+op.Path), strings.ToLower(op.Summary), op.Extensions) {
			continue
		}
		caller := callerFor(s, op, id)
		base, err := s.Build(op, caller)
		if err != nil || base == nil || base.BodyObject() == nil {
			// Without the caller's own objects (a source account) the
			// request would act on someone else's: skip.
			continue
		}
		if err := c.amounts(ctx, s, op, caller, base); fatal(ctx, err) {
			return err
		}
		if err := c.quota(ctx, s, op, caller, base); fatal(ctx, err) {
			return err
		}
	}
	return nil
}

// amountField returns the first numeric amount-like member of the body
// schema and its schema.
func amountField(sc *scan.Schema) (string, *scan.Schema) {
	for _, name := range propOrder(sc) {
		p := sc.Properties[name]
		if p != nil && (p.Type == "number" || p.Type == "integer") && !p.ReadOnly && !p.HasConst && isAmountField(name) {
			return name, p
		}
	}
	return "", nil
}

// amounts sends the smallest negative amount, then zero.
func (c *Flows) amounts(ctx context.Context, s *scan.Session, op *scan.Operation, id *scan.Identity, base *scan.Request) error {
	field, sc := amountField(op.Body)
	if field == "" {
		return nil
	}
	neg := -0.01
	if sc.Type == "integer" {
		neg = -1
	}
	min := "none"
	if sc.Minimum != nil {
		min = fmt.Sprint(*sc.Minimum)
		if sc.ExclusiveMinimum {
			min = "> " + min
		}
	}
	for _, v := range []float64{neg, 0} {
		r := base.Clone()
		r.BodyObject()[field] = v
		resp, err := s.Do(ctx, id, r)
		if err != nil {
			return err
		}
		if !resp.OK() {
			continue
		}
		sev := report.Critical
		title := "Negative amount accepted"
		desc := "The operation accepted a negative amount: the caller reverses the flow (a negative transfer pulls money from the other side, a negative order quantity refunds)."
		if v == 0 {
			sev, title = report.Low, "Zero amount accepted"
			desc = "The operation accepted a zero amount: a no-op flow that still creates records, notifications and fees."
			if sc.Minimum != nil && (*sc.Minimum > 0 || *sc.Minimum == 0 && sc.ExclusiveMinimum) {
				sev = report.Medium
				desc += " The spec requires more than zero."
			}
		}
		s.Report(scan.Finding{Rule: "scan.business-logic", Severity: sev, Exchange: resp, Key: field + fmt.Sprint(v < 0),
			Title:       title + " by " + op.ID,
			Description: desc,
			Evidence:    fmt.Sprintf("%s=%v: %s (spec minimum: %s)", field, v, statusLine(resp), min),
			Remediation: "Validate amounts server-side: strictly positive, at most two decimals for money, not above the source balance; refuse with a 400 (apiguard: the schema guard enforces the spec's minimum)."})
		return nil // a negative amount accepted says enough
	}
	return nil
}

// quota sends flowBurst valid requests as one user, stopping at the
// first 429: all accepted means no quota.
func (c *Flows) quota(ctx context.Context, s *scan.Session, op *scan.Operation, id *scan.Identity, base *scan.Request) error {
	var out burstOutcome
	resps, err := s.Burst(ctx, id, flowBurst, func(int) *scan.Request { return base.Clone() }, func(r *scan.Response) bool {
		return !out.add(r.Status, r.Header.Get("Retry-After") != "") || r.Status >= 400
	})
	if err != nil && len(resps) == 0 {
		return err
	}
	if out.LimitedAt > 0 || out.OK < flowBurst {
		return err // limited (protected) or refused (inconclusive)
	}
	s.Report(scan.Finding{Rule: "scan.flow-quota", Severity: report.Medium, Exchange: resps[len(resps)-1], Steps: resps[:1],
		Title:       "No quota on the business flow " + op.ID,
		Description: "One user completed the flow " + fmt.Sprint(flowBurst) + " times in a burst without being limited: bots can automate it at scale (scalping, spam, draining, fraud).",
		Evidence:    fmt.Sprintf("%d of %d identical %s %s as %s answered 2xx in a burst, none 429", out.OK, out.Sent, op.Method, op.Path, id.Name),
		Remediation: "Quota the flow per user (and per device or IP) with a 429 and Retry-After beyond it (apiguard: guards.flows with quotas such as 5/h per principal)."})
	return err
}
