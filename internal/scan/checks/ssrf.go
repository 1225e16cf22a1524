package checks

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
	"github.com/apiguard/apiguard/internal/scan/canary"
)

// SSRF is the server-side request forgery check (API7): every URL input
// (format uri/url or a URL-like name, in a query parameter or a body
// member) is pointed at the scan's own canary listener; a request reaching
// the canary proves the target fetches URLs it is given. Webhook-like
// registrations are followed by their test/ping operation
// (producer→consumer) so that the target calls the registered URL.
type SSRF struct{ checkMeta }

// newSSRF returns the API7 SSRF check.
func newSSRF() *SSRF {
	return &SSRF{checkMeta{
		name: "scan.ssrf", category: "API7", severity: report.High,
		title:       "Server-side request forgery: the API fetches URLs it is given",
		description: "The API fetches a URL supplied by the caller (an avatar or import URL, a webhook) without restricting where it goes: the scan's loopback canary was called, so internal services, cloud metadata and localhost admin ports are reachable through the API.",
		remediation: "Allow only https URLs to public addresses, check every resolved address at connect time, follow no redirects and never return the fetched content (apiguard: the ssrf guard).",
	}}
}

// canaryWait is how long a check waits for an asynchronous callback.
const canaryWait = 1500 * time.Millisecond

// urlInput is one URL input of an operation.
type urlInput struct {
	op     *scan.Operation
	query  string // query parameter name
	member string // top-level body member name
}

func (in urlInput) name() string {
	if in.query != "" {
		return "query parameter " + in.query
	}
	return "body member " + in.member
}

// urlInputs lists the URL inputs the scan may exercise.
func urlInputs(s *scan.Session) []urlInput {
	var out []urlInput
	for _, op := range s.Ops {
		if op.Deprecated || op == s.LoginOp || !mayCall(s, op) || op.Method == "DELETE" {
			continue
		}
		for _, p := range op.QueryParams() {
			format := ""
			if p.Schema != nil {
				if p.Schema.Type != "" && p.Schema.Type != "string" {
					continue
				}
				format = p.Schema.Format
			}
			if isURLInput(p.Name, format) {
				out = append(out, urlInput{op: op, query: p.Name})
			}
		}
		if op.Body == nil {
			continue
		}
		for _, m := range propOrder(op.Body) {
			ps := op.Body.Prop(m)
			if ps == nil || ps.ReadOnly || ps.Type != "" && ps.Type != "string" {
				continue
			}
			if isURLInput(m, ps.Format) {
				out = append(out, urlInput{op: op, member: m})
			}
		}
	}
	return out
}

// withURL returns req with the input set to u.
func (in urlInput) withURL(req *scan.Request, u string) *scan.Request {
	r := req.Clone()
	if in.query != "" {
		r.Query.Set(in.query, u)
		return r
	}
	if obj := r.BodyObject(); obj != nil {
		obj[in.member] = u
	}
	return r
}

// triggers returns the operations that make the API call what op
// registered: below op's path, with a path parameter, named
// test/ping/deliver/… .
func triggers(s *scan.Session, op *scan.Operation) []*scan.Operation {
	if !isWebhookRegistration(op.Method, strings.ToLower(op.ID+" "+op.Path+" "+op.Summary)) {
		return nil
	}
	var out []*scan.Operation
	for _, t := range s.Ops {
		if t == op || t.Deprecated || t.Method != "POST" && t.Method != "GET" && t.Method != "PUT" || !mayCall(s, t) {
			continue
		}
		last := t.Path[strings.LastIndexByte(t.Path, '/')+1:]
		if isTrigger(op.Path, t.Path, strings.ToLower(last+" "+t.ID)) {
			out = append(out, t)
		}
	}
	return out
}

// createdID is the id of the object a create answer describes.
func createdID(r *scan.Response) string {
	obj := r.Object()
	if obj == nil {
		return ""
	}
	for _, k := range []string{"id", "uuid", "key"} {
		if v := scan.ScalarString(obj[k]); v != "" {
			return v
		}
	}
	for k, v := range obj {
		if strings.HasSuffix(strings.ToLower(k), "id") {
			if s := scan.ScalarString(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// triggerRequest builds the trigger's request as id with its last path
// parameter set to the registered object's id.
func triggerRequest(s *scan.Session, t *scan.Operation, id *scan.Identity, objID string) *scan.Request {
	req, _ := s.Build(t, id)
	if req == nil {
		return nil
	}
	params := t.PathParams()
	if len(params) == 0 {
		return nil
	}
	req.PathParams[params[len(params)-1].Name] = objID
	return req
}

// canaryIsInternal reports whether the canary's URL names a loopback or
// private address (so a target reaching it reaches internal addresses).
func canaryIsInternal(c scan.Canary) bool {
	u, err := url.Parse(c.URL("apiguard-probe"))
	if err != nil {
		return false
	}
	h := u.Hostname()
	if isLoopbackHost(h) {
		return true
	}
	return isPrivateHost(h)
}

// Run points every URL input at the canary.
func (c *SSRF) Run(ctx context.Context, s *scan.Session) error {
	if s.Canary == nil {
		s.Logf("scan: %s skipped: no canary listener", c.name)
		return nil
	}
	internal := canaryIsInternal(s.Canary)
	id := firstUser(s)
	for i, in := range urlInputs(s) {
		caller := callerFor(s, in.op, id)
		base, _ := s.Build(in.op, caller)
		if base == nil {
			continue
		}
		token := fmt.Sprintf("api7-%d-%s", i, randomHex(6))
		curl := s.Canary.URL(token)
		resp, err := s.Do(ctx, caller, in.withURL(base, curl))
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			continue
		}
		if resp.Status >= 400 {
			continue // refused: nothing was fetched
		}
		exchange, steps := resp, []*scan.Response(nil)
		hits := waitHits(ctx, s.Canary, token, 300*time.Millisecond)
		if len(hits) == 0 {
			// A registration: make the API call it now.
			if objID := createdID(resp); objID != "" {
				for _, t := range triggers(s, in.op) {
					treq := triggerRequest(s, t, caller, objID)
					if treq == nil {
						continue
					}
					tr, err := s.Do(ctx, caller, treq)
					if err != nil {
						if fatal(ctx, err) {
							return err
						}
						continue
					}
					exchange, steps = tr, []*scan.Response{resp}
					if hits = waitHits(ctx, s.Canary, token, canaryWait); len(hits) > 0 {
						break
					}
				}
			}
		}
		if len(hits) == 0 {
			hits = waitHits(ctx, s.Canary, token, canaryWait)
		}
		if len(hits) == 0 {
			continue
		}
		c.report(s, in, token, curl, internal, hits, exchange, steps)
	}
	return nil
}

func (c *SSRF) report(s *scan.Session, in urlInput, token, curl string, internal bool, hits []scan.Hit, exchange *scan.Response, steps []*scan.Response) {
	h := hits[0]
	reflected := strings.Contains(string(exchange.Body), canary.Marker(token))
	for _, st := range steps {
		reflected = reflected || strings.Contains(string(st.Body), canary.Marker(token))
	}
	sev := report.High
	where := "the scan's canary on an internal address"
	if !internal {
		sev, where = report.Low, "the scan's canary (not on an internal address: verify that internal addresses are refused too)"
		if reflected {
			sev = report.Medium // the fetched content comes back to the caller
		}
	}
	title := "SSRF: the API fetches a caller-supplied URL"
	if reflected {
		title = "SSRF with response reflection: the API fetches a caller-supplied URL and returns its content"
	}
	if len(steps) > 0 {
		title = "SSRF: a registered callback URL is called without restriction"
	}
	ev := fmt.Sprintf("%s=%s made the target send %s %s to %s", in.name(), curl, h.Method, h.Path, where)
	if ua := h.Header.Get("User-Agent"); ua != "" {
		ev += " (User-Agent: " + ua + ")"
	}
	if !strings.HasPrefix(strings.ToLower(curl), "https://") {
		ev += "; a plain http URL was accepted"
	}
	if reflected {
		ev += "; the canary's answer is reflected in the API's answer"
	}
	s.Report(scan.Finding{Rule: "scan.ssrf", Severity: sev, Op: in.op, Exchange: exchange, Steps: steps, Key: in.name(),
		Title:       title,
		Description: "The API fetches a URL supplied by the caller without restricting the destination: it reached the scan's canary listener, so it can be made to call internal services, cloud metadata (169.254.169.254) and localhost-only admin ports.",
		Evidence:    ev,
		Remediation: "Allow only https URLs to public addresses (checked at connect time, after DNS), follow no redirects, and never return fetched content (apiguard: the ssrf guard)."})
}
