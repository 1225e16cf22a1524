package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// Resource is the unrestricted-resource-consumption check (API4): no
// rate limit under a bounded burst, no page-size cap (a page far above
// the spec's maximum is served), and no request body cap (a bounded
// oversize body is accepted).
type Resource struct{ checkMeta }

// newResource returns the API4 resource-consumption check.
func newResource() *Resource {
	return &Resource{checkMeta{
		name: "scan.resources", category: "API4", severity: report.Medium,
		title:       "Unrestricted resource consumption: rate limit, page size, body size",
		description: "The API serves any number of requests per caller, any page size and any body size: one client exhausts CPU, memory, bandwidth and the database, or scrapes everything in one call.",
		remediation: "Rate-limit per principal and per IP (429 with Retry-After), enforce the documented maximum page size (400 or clamp), and cap request bodies (413). With apiguard: guards.ratelimit, guards.limits.pagination and limits.max_body_bytes.",
	}}
}

// Bounds of the resource check.
const (
	// rateBurst is the size of one rate-limit burst (at most
	// scan.MaxBurst); rateWorkers send it in parallel so it is short; a
	// slow target gets up to rateRounds bursts.
	rateBurst   = scan.MaxBurst
	rateWorkers = 10
	rateRounds  = 4
	// limiterBurst and limiterRate define the loosest limit the probe
	// must see: a bucket of 200 requests refilled at 30/s. Requests
	// answered beyond what it admits prove there is no limit that strict.
	limiterBurst = 200
	limiterRate  = 30
	// oversizeBody is the size of the oversize request body.
	oversizeBody = 2 << 20
)

// Run probes page sizes, the body cap, then the rate limit (last: it may
// exhaust the identity's request budget at the target).
func (c *Resource) Run(ctx context.Context, s *scan.Session) error {
	if err := c.pageSize(ctx, s); fatal(ctx, err) {
		return err
	}
	if err := c.bodySize(ctx, s); fatal(ctx, err) {
		return err
	}
	return c.rateLimit(ctx, s)
}

// pageSize asks list operations for a page far above their documented
// maximum.
func (c *Resource) pageSize(ctx context.Context, s *scan.Session) error {
	id := firstUser(s)
	for _, op := range s.Ops {
		if op.Method != "GET" || op.Deprecated {
			continue
		}
		for _, p := range op.QueryParams() {
			if !isPageSizeParam(p.Name) || p.Schema == nil || p.Schema.Maximum == nil || (p.Schema.Type != "integer" && p.Schema.Type != "number") {
				continue
			}
			caller := callerFor(s, op, id)
			base, _ := s.Build(op, caller)
			if base == nil {
				continue
			}
			max := *p.Schema.Maximum
			want := oversizePage(max)
			r := base.Clone()
			r.Query.Set(p.Name, fmt.Sprint(want))
			resp, err := s.Do(ctx, caller, r)
			if err != nil {
				if fatal(ctx, err) {
					return err
				}
				continue
			}
			n := shapeOf(resp).items
			if !resp.OK() || n <= int(max) {
				continue // refused, clamped, or too little data to tell
			}
			s.Report(scan.Finding{Rule: "scan.page-size", Severity: report.Medium, Exchange: resp, Key: p.Name,
				Title:       "Page size not capped on " + op.ID,
				Description: "The list operation serves pages far above the maximum its description documents: one request reads (and makes the server build) everything.",
				Evidence:    fmt.Sprintf("%s=%d (spec maximum %v) answered %d with %s", p.Name, want, max, resp.Status, rowsText(n)),
				Remediation: "Refuse (400) or clamp page sizes above the documented maximum (apiguard: guards.limits.pagination)."})
		}
	}
	return nil
}

// bodySize sends a bounded oversize body to one write operation.
func (c *Resource) bodySize(ctx context.Context, s *scan.Session) error {
	if !s.AllowDestructive {
		return nil
	}
	id := firstUser(s)
	op, member := oversizeTarget(s)
	if op == nil {
		return nil
	}
	caller := callerFor(s, op, id)
	base, err := s.Build(op, caller)
	if err != nil || base == nil || base.BodyObject() == nil {
		return nil
	}
	obj := base.BodyObject()
	obj[member] = strings.Repeat("a", oversizeBody)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	r := base.Clone()
	r.JSON, r.Body = nil, b
	if r.ContentType == "" {
		r.ContentType = "application/json"
	}
	resp, err := s.Do(ctx, caller, r)
	if err != nil {
		// A server that closes the connection on an oversize body is
		// protected.
		return err
	}
	if !resp.OK() {
		return nil // 413, or 400 from a body cap or validation
	}
	s.Report(scan.Finding{Rule: "scan.body-size", Severity: report.Medium, Exchange: resp,
		Title:       "Request body size not capped on " + op.ID,
		Description: "The API read and accepted a 2 MiB request body: without a body cap, large or slow bodies exhaust memory and workers.",
		Evidence:    fmt.Sprintf("%s %s with a %d-byte JSON body (%s = %d × \"a\"; the curl line reads it from body.bin) answered %d", op.Method, op.Path, len(b), member, oversizeBody, resp.Status),
		Remediation: "Cap request bodies at what the operation needs and answer 413 (apiguard: limits.max_body_bytes, per operation)."})
	return nil
}

// oversizeTarget picks the write operation and string member to pad:
// PATCH/PUT first (they update, not create), never a business flow or
// the login operation.
func oversizeTarget(s *scan.Session) (*scan.Operation, string) {
	var post *scan.Operation
	var postMember string
	for _, op := range s.Ops {
		if !op.Unsafe() || op.Method == "DELETE" || op.Deprecated || op == s.LoginOp || op.Body == nil ||
			isBusinessFlow(op.Method, strings.ToLower(op.ID+" "+op.Path), strings.ToLower(op.Summary), op.Extensions) {
			continue
		}
		props := stringProps(op.Body)
		if len(props) == 0 {
			continue
		}
		if op.Method == "PATCH" || op.Method == "PUT" {
			return op, props[0]
		}
		if post == nil {
			post, postMember = op, props[0]
		}
	}
	return post, postMember
}

// rateLimit sends bursts of a cheap authenticated GET as the last user,
// in parallel, stopping at the first 429. One burst of 250 is enough when
// the target answers fast; a slow target gets up to rateRounds bursts,
// until the requests answered exceed what any meaningful limiter allows
// in the time they took (see exceedsLimiter).
func (c *Resource) rateLimit(ctx context.Context, s *scan.Session) error {
	id := lastUser(s)
	if id == nil {
		return nil
	}
	op, base := referenceOp(s, id)
	if op == nil {
		return nil
	}
	var (
		limited atomic.Bool
		mu      sync.Mutex
		all     []*scan.Response
		firstEr error
	)
	start := time.Now()
	for round := 0; round < rateRounds; round++ {
		var wg sync.WaitGroup
		for w := 0; w < rateWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps, err := s.Burst(ctx, id, rateBurst/rateWorkers, func(int) *scan.Request { return base.Clone() }, func(r *scan.Response) bool {
					if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" {
						limited.Store(true)
					}
					return limited.Load()
				})
				mu.Lock()
				all = append(all, resps...)
				if err != nil && firstEr == nil {
					firstEr = err
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if limited.Load() || firstEr != nil || exceedsLimiter(len(all), time.Since(start)) {
			break
		}
	}
	elapsed := time.Since(start)
	var out burstOutcome
	var limitedResp *scan.Response
	for _, r := range all {
		ra := r.Header.Get("Retry-After") != ""
		if !out.add(r.Status, ra) && limitedResp == nil {
			limitedResp = r
		}
	}
	if limitedResp != nil {
		s.Logf("scan: %s: %s %s limited with %d (Retry-After %q) within %d requests", c.name, op.Method, op.Path, limitedResp.Status, limitedResp.Header.Get("Retry-After"), len(all))
		return nil
	}
	if firstEr != nil && !errors.Is(firstEr, scan.ErrBudget) && ctx.Err() == nil {
		firstEr = nil // a network error on one request: judge what came back
	}
	if !out.unlimited(rateBurst * 9 / 10) {
		return firstEr
	}
	pace := float64(out.Sent) / elapsed.Seconds()
	if !exceedsLimiter(out.Sent, elapsed) {
		s.Logf("scan: %s: %d requests to %s %s answered without 429 in %s (%.0f/s): too slow to tell a rate limit from none", c.name, out.Sent, op.Method, op.Path, elapsed.Round(time.Millisecond), pace)
		return firstEr
	}
	last := all[len(all)-1]
	s.Report(scan.Finding{Rule: "scan.rate-limit", Severity: report.Medium, Exchange: last, Op: op,
		Title:       "No rate limit",
		Description: "A burst of requests from one authenticated caller was served without a single 429: nothing stops one client from flooding the API, scraping it or brute-forcing identifiers.",
		Evidence: fmt.Sprintf("%d requests to %s %s as %s in %s (%.0f/s): %d answered 2xx, none 429 (more than a limit of %d at once and %d/s would allow)",
			out.Sent, op.Method, op.Path, id.Name, elapsed.Round(time.Millisecond), pace, out.OK, limiterBurst, limiterRate),
		Remediation: "Rate-limit per principal and per IP with 429 and Retry-After (apiguard: guards.ratelimit, e.g. 20/s burst 200 per principal)."})
	return firstEr
}

// exceedsLimiter reports whether n requests answered within elapsed are
// more than a token bucket of limiterBurst requests refilled at
// limiterRate per second admits: then no limit that strict exists.
func exceedsLimiter(n int, elapsed time.Duration) bool {
	return float64(n) > limiterBurst+limiterRate*elapsed.Seconds()
}
