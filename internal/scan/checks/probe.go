package checks

// Helpers of the resource (API4), business-flow (API6), SSRF (API7),
// misconfiguration (API8), inventory (API9), consumption (API10) and
// injection checks: check metadata, canary polling, operation picking.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/scan"
)

// fatal reports whether err must end a check (budget, time, context);
// other errors (scope, refused method, network error on one request) only
// skip the probe.
func fatal(ctx context.Context, err error) bool {
	return err != nil && (errors.Is(err, scan.ErrBudget) || ctx.Err() != nil)
}

// randomHex returns n random bytes as hex, for probe values and tokens.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// waitHits polls the canary for token's hits for at most d (a target may
// call back asynchronously), returning as soon as there is one.
func waitHits(ctx context.Context, c scan.Canary, token string, d time.Duration) []scan.Hit {
	deadline := time.Now().Add(d)
	for {
		if h := c.Hits(token); len(h) > 0 || !time.Now().Before(deadline) {
			return h
		}
		t := time.NewTimer(25 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.Hits(token)
		case <-t.C:
		}
	}
}

// firstUser is the identity most probes act as: the first ordinary user,
// else the admin, else nil.
func firstUser(s *scan.Session) *scan.Identity {
	if u := s.Users(); len(u) > 0 {
		return u[0]
	}
	return s.Admin()
}

// lastUser is the identity of bursts that may exhaust a per-principal
// budget: the last ordinary user (the first one owns most probes' objects).
func lastUser(s *scan.Session) *scan.Identity {
	if u := s.Users(); len(u) > 0 {
		return u[len(u)-1]
	}
	return s.Admin()
}

// callerFor is the identity that may call op: an admin for admin-looking
// operations when there is one, anonymous for operations without
// security, else id.
func callerFor(s *scan.Session, op *scan.Operation, id *scan.Identity) *scan.Identity {
	if scan.AdminLooking(op) && s.Admin() != nil {
		return s.Admin()
	}
	if id == nil {
		return s.Anonymous()
	}
	return id
}

// mayCall reports whether the scan may send op's method (unsafe methods
// need --allow-destructive, except the login operation).
func mayCall(s *scan.Session, op *scan.Operation) bool {
	return !op.Unsafe() || s.AllowDestructive || op == s.LoginOp
}

// stringProps returns the names of the writable string properties of a
// JSON object schema, in the schema's order.
func stringProps(sc *scan.Schema) []string {
	if sc == nil {
		return nil
	}
	var out []string
	for _, name := range propOrder(sc) {
		p := sc.Properties[name]
		if p != nil && p.Type == "string" && !p.ReadOnly && !p.HasConst && len(p.Enum) == 0 {
			out = append(out, name)
		}
	}
	return out
}

// propOrder is the schema's property order (sorted names when unknown).
func propOrder(sc *scan.Schema) []string {
	if len(sc.Order) == len(sc.Properties) {
		return sc.Order
	}
	names := make([]string, 0, len(sc.Properties))
	for n := range sc.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// isJSONAnswer reports whether a response is JSON by its content type.
func isJSONAnswer(h http.Header) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	return strings.Contains(ct, "json")
}

// truncatedItems stands for the rows of a 2xx answer cut at the scan's
// body cap (scan.MaxBodyBytes): more than any answer that fits.
const truncatedItems = 1 << 30

// shapeOf summarises an answer for the oracles.
func shapeOf(r *scan.Response) answerShape {
	if r == nil {
		return answerShape{status: 0, items: -1}
	}
	items := -1
	if v := r.JSON(); v != nil {
		items = itemCount(v)
	} else if r.Truncated && r.OK() && isJSONAnswer(r.Header) {
		items = truncatedItems
	}
	return answerShape{status: r.Status, items: items, size: len(r.Body), elapsed: r.Duration}
}

// statusLine renders "METHOD path → status" for evidence.
func statusLine(r *scan.Response) string {
	u := r.URL
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			u = u[i+3+j:]
		}
	}
	return r.Method + " " + u + " → " + strconv.Itoa(r.Status)
}
