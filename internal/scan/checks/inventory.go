package checks

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// Inventory is the improper-inventory check (API9): undocumented paths
// and versions that answer (shadow and zombie APIs) and deprecated
// operations that are still live.
type Inventory struct{ checkMeta }

// newInventory returns the API9 inventory check.
func newInventory() *Inventory {
	return &Inventory{checkMeta{
		name: "scan.inventory", category: "API9", severity: report.High,
		title:       "Undocumented endpoints and versions, deprecated operations still live",
		description: "The API answers on paths its description does not list (old or future versions, debug and admin consoles, framework endpoints), or still serves operations the description marks deprecated. Such endpoints escape review, often lack the current authentication and leak data.",
		remediation: "Retire old versions and debug endpoints, or document and protect them like the rest; keep an inventory of every host, version and route (apiguard: authz.unknown_operation: deny and authz.deprecated_operation: deny refuse what the spec does not describe).",
	}}
}

// maxInventoryProbes bounds the paths probed in one run.
const maxInventoryProbes = 80

// Run probes the word list, version variants of documented paths and the
// deprecated operations.
func (c *Inventory) Run(ctx context.Context, s *scan.Session) error {
	if err := c.deprecated(ctx, s); fatal(ctx, err) {
		return err
	}
	return c.undocumented(ctx, s)
}

// deprecated calls every deprecated safe operation without credentials
// and, when refused, as a user.
func (c *Inventory) deprecated(ctx context.Context, s *scan.Session) error {
	owner := firstUser(s)
	for _, op := range s.Ops {
		if !op.Deprecated || op.Unsafe() {
			continue
		}
		// Another identity's object: the anonymous call must not see it.
		req := c.requestFor(s, op, owner)
		if req == nil {
			continue
		}
		resp, err := s.Do(ctx, s.Anonymous(), req.Clone())
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			continue
		}
		anon := true
		if !resp.OK() && owner != nil {
			if resp, err = s.Do(ctx, owner, req.Clone()); err != nil {
				if fatal(ctx, err) {
					return err
				}
				continue
			}
			anon = false
		}
		if !resp.OK() {
			continue
		}
		leaks := sensitiveData(string(resp.Body))
		sev := report.Low
		how := "with credentials"
		switch {
		case anon && (op.Secured() || len(leaks) > 0):
			sev, how = report.High, "without credentials"
		case anon:
			sev, how = report.Medium, "without credentials"
		case len(leaks) > 0:
			sev = report.Medium
		}
		ev := statusLine(resp) + " " + how
		if len(leaks) > 0 {
			ev += "; the answer carries " + strings.Join(leaks, ", ")
		}
		if anon && op.Secured() {
			ev += " although the spec requires them"
		}
		s.Report(scan.Finding{Rule: "scan.deprecated-live", Severity: sev, Op: op, Exchange: resp,
			Title:       "Deprecated operation still live",
			Description: "An operation the description marks deprecated still answers. Old versions keep old bugs and weaker controls (a zombie API).",
			Evidence:    ev,
			Remediation: "Retire the deprecated version (answer 404/410) once clients moved, and until then give it the same authentication and authorization as its successor (apiguard: authz.deprecated_operation: deny)."})
	}
	return nil
}

// requestFor builds op's request with path parameters that name another
// identity's objects when known (so an answer shows cross-user data).
func (c *Inventory) requestFor(s *scan.Session, op *scan.Operation, owner *scan.Identity) *scan.Request {
	var other *scan.Identity
	for _, u := range s.Identities() {
		if u != owner {
			other = u
			break
		}
	}
	pick := other
	if pick == nil {
		pick = owner
	}
	req, _ := s.Build(op, pick)
	return req
}

// inventoryProbe is one undocumented path to try, with the documented
// operation it is a variant of (nil for word-list paths).
type inventoryProbe struct {
	path string
	of   *scan.Operation
	req  *scan.Request
}

// undocumented probes the word list and version variants, compared with
// the answer to a path that cannot exist.
func (c *Inventory) undocumented(ctx context.Context, s *scan.Session) error {
	owner := firstUser(s)
	base := strings.TrimRight(s.Target.Path, "/")
	documented := func(p string) bool {
		return s.Spec.MatchLoose(base+p) || s.Spec.MatchLoose(p)
	}
	var probes []inventoryProbe
	seen := map[string]bool{}
	add := func(p inventoryProbe) {
		if len(probes) >= maxInventoryProbes || seen[p.path] || documented(p.path) {
			return
		}
		seen[p.path] = true
		probes = append(probes, p)
	}
	var templates []string
	for _, op := range s.Ops {
		templates = append(templates, op.Path)
	}
	// Version variants of documented GET paths first: they are the likely
	// zombies and carry objects the identities own.
	for _, op := range s.Ops {
		if op.Method != "GET" {
			continue
		}
		for _, v := range versionVariants(op.Path) {
			if s.Spec.MatchLoose(v) {
				continue // a documented version (deprecated ones are probed above)
			}
			req := c.requestFor(s, op, owner)
			if req == nil {
				continue
			}
			r := req.Clone()
			r.Op = nil
			r.Path = scan.FillPath(v, req.PathParams)
			add(inventoryProbe{path: r.Path, of: op, req: r})
		}
	}
	for _, w := range inventoryWords {
		add(inventoryProbe{path: w})
	}
	for _, root := range apiRoots(templates, 3) {
		for _, w := range prefixWords {
			add(inventoryProbe{path: root + w})
		}
	}

	// Baselines: a random path at the root, and one under each probed
	// first segment, answer like any nonexistent path.
	baselines := map[string]fingerprint{}
	baselineOf := func(p string) (fingerprint, error) {
		dir := "/"
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			dir = p[:i+1]
		}
		if fp, ok := baselines[dir]; ok {
			return fp, nil
		}
		nonce := dir + "apiguard-" + randomHex(6)
		resp, err := s.Do(ctx, s.Anonymous(), &scan.Request{Method: http.MethodGet, Path: nonce})
		if err != nil {
			return fingerprint{}, err
		}
		fp := fingerprintOf(resp.Status, resp.Header.Get("Content-Type"), resp.Body, nonce)
		baselines[dir] = fp
		return fp, nil
	}

	for _, p := range probes {
		req := p.req
		if req == nil {
			req = &scan.Request{Method: http.MethodGet, Path: p.path}
		}
		resp, err := s.Do(ctx, s.Anonymous(), req.Clone())
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			continue
		}
		if resp.Status == http.StatusNotFound || resp.Status == http.StatusTooManyRequests || resp.Status >= 500 {
			continue
		}
		bl, err := baselineOf(p.path)
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			continue
		}
		fp := fingerprintOf(resp.Status, resp.Header.Get("Content-Type"), resp.Body, p.path)
		if sameAsCatchAll(fp, bl) {
			continue
		}
		if !resp.OK() && !(resp.Status == http.StatusUnauthorized && bl.status == http.StatusNotFound) {
			// Only "authentication required" where unknown paths are not
			// found says the path exists; a 403 may be a WAF rule on a
			// file name, a 405 or 400 says little.
			continue
		}
		anon := true
		if resp.Status == http.StatusUnauthorized && owner != nil {
			// It exists (unknown paths answer 404); try as a user.
			authResp, err := s.Do(ctx, owner, req.Clone())
			if err != nil {
				if fatal(ctx, err) {
					return err
				}
				continue
			}
			if authResp.OK() {
				resp, anon = authResp, false
			}
		}
		c.judge(s, p, resp, anon, bl)
	}
	return nil
}

// judge reports an undocumented path that answered differently from a
// nonexistent one.
func (c *Inventory) judge(s *scan.Session, p inventoryProbe, resp *scan.Response, anon bool, bl fingerprint) {
	body := string(resp.Body)
	leaks := sensitiveData(body)
	var sev report.Severity
	var what string
	switch {
	case !resp.OK():
		// 401/403 where a nonexistent path gets another status: the
		// endpoint exists but is protected.
		sev, what = report.Info, fmt.Sprintf("answers %d (a nonexistent path answers %d): it exists but refused the scan's identities", resp.Status, bl.status)
	case specDocPaths[p.path]:
		sev, what = report.Info, "publishes an API description"
	case len(leaks) > 0 && anon:
		sev, what = report.High, "answers without credentials and leaks "+strings.Join(leaks, ", ")
	case len(leaks) > 0:
		sev, what = report.Medium, "answers a user and leaks "+strings.Join(leaks, ", ")
	case p.of != nil && anon && p.of.Secured() && substantive(resp.Header.Get("Content-Type"), resp.Body):
		sev, what = report.High, "answers without credentials although the documented "+p.of.Path+" requires them"
	case anon && substantive(resp.Header.Get("Content-Type"), resp.Body):
		sev, what = report.Medium, "answers data without credentials"
	case substantive(resp.Header.Get("Content-Type"), resp.Body):
		sev, what = report.Low, "answers data"
	default:
		sev, what = report.Info, "answers 2xx"
	}
	title := "Undocumented endpoint answers"
	rule := "scan.undocumented-endpoint"
	switch {
	case !resp.OK():
		title, rule = "Undocumented endpoint exists (refused)", "scan.undocumented-protected"
	case specDocPaths[p.path]:
		title, rule = "API description published", "scan.api-description-public"
	case p.of != nil:
		title, rule = "Undocumented API version answers", "scan.undocumented-version"
	}
	if p.of != nil {
		what += " (a version variant of " + p.of.Method + " " + p.of.Path + ")"
	}
	s.Report(scan.Finding{Rule: rule, Severity: sev, Exchange: resp, Key: p.path,
		Title:       title,
		Description: "A path the API description does not list answers. Undocumented (shadow) endpoints and old (zombie) versions escape review and often bypass the current authentication and authorization.",
		Evidence:    statusLine(resp) + ": " + what,
		Remediation: "Remove the endpoint or version, or document and protect it like the rest of the API (apiguard: authz.unknown_operation: deny)."})
}
