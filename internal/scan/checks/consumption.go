package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
	"github.com/apiguard/apiguard/internal/scan/canary"
)

// Consumption is the unsafe-consumption check (API10): webhook and
// callback registrations are pointed at the canary's malicious mock,
// which answers injection payloads and a `url` member pointing back at
// the canary. After triggering the callback, the check looks for the
// mock's payloads reflected in the API's answer, for the API adopting the
// URL from the mock's answer (the next trigger calls it, or reading the
// registration back shows it) and for the API failing with internals.
type Consumption struct{ checkMeta }

// newConsumption returns the API10 unsafe-consumption check.
func newConsumption() *Consumption {
	return &Consumption{checkMeta{
		name: "scan.unsafe-consumption", category: "API10", severity: report.High,
		title:       "Unsafe consumption of third-party answers (callbacks, webhooks)",
		description: "The API trusts what a third party (a webhook receiver, a fetched URL) answers: it stores and echoes the answer, or applies instructions from it such as a new target URL, without validating it.",
		remediation: "Treat third-party answers as untrusted input: cap their size, validate them against a strict schema, never echo them and never let them change configuration such as a callback URL.",
	}}
}

// adoptedSuffix is the path the Injection mock's `url` member adds to its
// own canary URL: a hit there proves the target adopted the URL.
const adoptedSuffix = "/adopted"

// Run registers each callback URL input at the Injection mock and
// triggers it twice.
func (c *Consumption) Run(ctx context.Context, s *scan.Session) error {
	if s.Canary == nil {
		s.Logf("scan: %s skipped: no canary listener", c.name)
		return nil
	}
	id := firstUser(s)
	for i, in := range urlInputs(s) {
		ts := triggers(s, in.op)
		if len(ts) == 0 {
			continue
		}
		caller := callerFor(s, in.op, id)
		base, _ := s.Build(in.op, caller)
		if base == nil {
			continue
		}
		token := fmt.Sprintf("%s.api10-%d-%s", canary.Injection, i, randomHex(6))
		mockURL := s.Canary.URL(token)
		reg, err := s.Do(ctx, caller, in.withURL(base, mockURL))
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			continue
		}
		objID := createdID(reg)
		if !reg.OK() || objID == "" {
			continue
		}
		for _, t := range ts {
			if err := c.probe(ctx, s, in, t, caller, reg, objID, token); err != nil {
				if fatal(ctx, err) {
					return err
				}
				continue
			}
			break
		}
	}
	return nil
}

// probe triggers the registration twice and judges the answers.
func (c *Consumption) probe(ctx context.Context, s *scan.Session, in urlInput, t *scan.Operation, caller *scan.Identity, reg *scan.Response, objID, token string) error {
	treq := triggerRequest(s, t, caller, objID)
	if treq == nil {
		return nil
	}
	first, err := s.Do(ctx, caller, treq.Clone())
	if err != nil {
		return err
	}
	if len(waitHits(ctx, s.Canary, token, canaryWait)) == 0 {
		return nil // the mock was never called: nothing was consumed
	}
	body := string(first.Body)
	var reflected []string
	if strings.Contains(body, canary.Marker(token)) {
		reflected = append(reflected, "the mock's marker")
	}
	for k, p := range canary.Payloads {
		if strings.Contains(body, p) || strings.Contains(body, jsonEscaped(p)) {
			reflected = append(reflected, k+" payload")
		}
	}
	// Adoption: the next trigger calls the URL the mock answered.
	second, err := s.Do(ctx, caller, treq.Clone())
	if err != nil && fatal(ctx, err) {
		return err
	}
	adopted := false
	for _, h := range waitHits(ctx, s.Canary, token, 300*time.Millisecond) {
		if strings.HasSuffix(h.Path, adoptedSuffix) {
			adopted = true
		}
	}
	var failure string
	if first.Status >= 500 && first.Status != 502 && first.Status != 504 {
		if k := stackTrace(body); k != "" {
			failure = fmt.Sprintf("the trigger answered %d with a %s", first.Status, k)
		}
	}
	if len(reflected) == 0 && !adopted && failure == "" {
		return nil
	}
	sev := report.Medium
	var what []string
	exchange := first
	if adopted {
		sev = report.High
		what = append(what, "the API adopted the `url` member of the callback's answer: the next "+t.ID+" called "+s.Canary.URL(token)+adoptedSuffix)
		if second != nil {
			exchange = second
		}
	}
	if len(reflected) > 0 {
		what = append(what, "the callback's answer is echoed in the API's answer ("+strings.Join(reflected, ", ")+")")
		if len(reflected) > 1 && sev != report.High {
			sev = report.High
		}
	}
	if failure != "" {
		what = append(what, failure)
	}
	steps := []*scan.Response{reg}
	if exchange != first {
		steps = append(steps, first)
	}
	s.Report(scan.Finding{Rule: "scan.unsafe-consumption", Severity: sev, Op: t, Exchange: exchange, Steps: steps, Key: in.name(),
		Title:       "Unsafe consumption of a callback's answer",
		Description: "The API called a URL registered through " + in.op.ID + " and trusted the answer: the scan's malicious mock answered injection payloads and a new `url`.",
		Evidence:    strings.Join(what, "; "),
		Remediation: "Cap and validate callback answers against a strict schema (for example only {\"status\": \"…\"}), never echo them, and never apply values from them (a callback must not retarget itself)."})
	return nil
}

// jsonEscaped is s as it appears inside a JSON string.
func jsonEscaped(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "<", `\u003c`, ">", `\u003e`, "&", `\u0026`)
	return r.Replace(s)
}
