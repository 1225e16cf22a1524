package checks

import (
	"context"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// Misconfig is the security-misconfiguration check (API8): missing
// hardening headers, version banners, permissive CORS, verbose errors and
// stack traces, TRACE enabled and plain HTTP.
type Misconfig struct{ checkMeta }

// newMisconfig returns the API8 misconfiguration check.
func newMisconfig() *Misconfig {
	return &Misconfig{checkMeta{
		name: "scan.misconfiguration", category: "API8", severity: report.Medium,
		title:       "Security misconfiguration: headers, CORS, verbose errors, TRACE, plain HTTP",
		description: "Answers lack hardening headers or name the server software and version; any web origin may read answers with the victim's credentials (CORS); malformed input makes the API answer its internals (SQL, stack traces); TRACE echoes requests; the API is served over plain HTTP.",
		remediation: "Send X-Content-Type-Options: nosniff, a frame-ancestors CSP, Cache-Control: no-store on authenticated answers and HSTS over TLS; drop Server/X-Powered-By versions; allow only listed CORS origins; answer malformed input with a 400 and internal errors without detail; disable TRACE; serve HTTPS. With apiguard: the headers and errors guards.",
	}}
}

// maxErrorProbes bounds the malformed-value requests of one run.
const maxErrorProbes = 40

// Run probes one reference operation for headers and CORS, every safe
// operation's query parameters (and, with --allow-destructive, PATCH/PUT
// bodies) for verbose errors, TRACE, and the target's scheme.
func (c *Misconfig) Run(ctx context.Context, s *scan.Session) error {
	if err := c.headersAndCORS(ctx, s); fatal(ctx, err) {
		return err
	}
	if err := c.verboseErrors(ctx, s); fatal(ctx, err) {
		return err
	}
	if err := c.trace(ctx, s); fatal(ctx, err) {
		return err
	}
	c.plainHTTP(s)
	return nil
}

// referenceOp picks a cheap authenticated GET that the user can call with
// objects it owns: no path parameters first, else owned ones.
func referenceOp(s *scan.Session, id *scan.Identity) (*scan.Operation, *scan.Request) {
	var fallback *scan.Operation
	var fallbackReq *scan.Request
	for _, op := range s.Ops {
		if op.Method != "GET" || op.Deprecated || !op.Secured() || scan.AdminLooking(op) {
			continue
		}
		req, err := s.Build(op, id)
		if err != nil {
			continue
		}
		if len(op.PathParams()) == 0 && len(op.QueryParams()) == 0 {
			return op, req
		}
		if fallback == nil {
			fallback, fallbackReq = op, req
		}
	}
	return fallback, fallbackReq
}

func (c *Misconfig) headersAndCORS(ctx context.Context, s *scan.Session) error {
	id := firstUser(s)
	op, req := referenceOp(s, id)
	if op == nil {
		id = s.Anonymous()
		for _, o := range s.Ops {
			if o.Method == "GET" && len(o.PathParams()) == 0 && !o.Deprecated {
				op = o
				req, _ = s.Build(o, id)
				break
			}
		}
	}
	if op == nil || req == nil {
		return nil
	}
	origin := "https://apiguard-" + randomHex(4) + ".example"
	probe := req.Clone()
	probe.Header.Set("Origin", origin)
	resp, err := s.Do(ctx, id, probe)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusTooManyRequests {
		return nil
	}
	authed := !id.IsAnonymous()
	https := strings.EqualFold(s.Target.Scheme, "https")
	if gaps := headerGaps(resp.Header, authed, https); len(gaps) > 0 {
		s.Report(scan.Finding{Rule: "scan.security-headers", Severity: report.Low, Exchange: resp,
			Title:       "Hardening headers missing",
			Description: "The API's answers lack security headers that tell browsers and caches how to treat them (MIME sniffing, framing, caching of authenticated data, HTTPS only).",
			Evidence:    statusLine(resp) + " without " + strings.Join(gaps, ", "),
			Remediation: "Send X-Content-Type-Options: nosniff, Content-Security-Policy: default-src 'none'; frame-ancestors 'none' (or X-Frame-Options: DENY), Cache-Control: no-store on authenticated answers and Strict-Transport-Security over TLS (apiguard's headers guard does by default)."})
	}
	if list, versioned := banners(resp.Header); len(list) > 0 {
		sev := report.Info
		if versioned {
			sev = report.Low
		}
		s.Report(scan.Finding{Rule: "scan.version-banner", Severity: sev, Exchange: resp,
			Title:       "Server software disclosed in headers",
			Description: "Answer headers name the server software (and its version), which helps an attacker pick known vulnerabilities.",
			Evidence:    statusLine(resp) + " with " + strings.Join(list, "; "),
			Remediation: "Remove Server, X-Powered-By and similar banners, or at least their versions (apiguard's headers guard strips them)."})
	}
	if sev, why := corsVerdict(origin, resp.Header); sev != "" {
		s.Report(scan.Finding{Rule: "scan.cors-permissive", Severity: sev, Exchange: resp,
			Title:       "CORS allows any origin",
			Description: "The API grants cross-origin reads to an origin it cannot have listed: any web page the victim visits can call the API with the victim's browser-held credentials and read the answers.",
			Evidence:    statusLine(resp) + ": " + why,
			Remediation: "Allow only the web origins that need the API, never reflect the Origin header, and send Access-Control-Allow-Credentials only to listed origins (apiguard: headers.cors.origins)."})
	}
	return nil
}

// verboseErrors sends malformed values: a lone quote in string query
// parameters, text in integer ones, and (destructive) a wrong-typed body
// member on PATCH/PUT operations; an answer carrying a stack trace or SQL
// is a finding.
func (c *Misconfig) verboseErrors(ctx context.Context, s *scan.Session) error {
	id := firstUser(s)
	sent := 0
	for _, op := range s.Ops {
		if sent >= maxErrorProbes {
			break
		}
		if op.Deprecated || op == s.LoginOp || !mayCall(s, op) {
			continue
		}
		caller := callerFor(s, op, id)
		base, err := s.Build(op, caller)
		if err != nil && base == nil {
			continue
		}
		var probes []*scan.Request
		if op.Method == "GET" {
			for _, p := range op.QueryParams() {
				if p.Schema == nil {
					continue
				}
				var v string
				switch p.Schema.Type {
				case "string":
					if len(p.Schema.Enum) > 0 || p.Schema.Format != "" {
						continue
					}
					v = "'"
				case "integer", "number":
					v = "apiguard"
				default:
					continue
				}
				r := base.Clone()
				r.Query.Set(p.Name, v)
				probes = append(probes, r)
			}
		}
		if (op.Method == "PATCH" || op.Method == "PUT") && op.Body != nil {
			if props := stringProps(op.Body); len(props) > 0 {
				r := base.Clone()
				if obj := r.BodyObject(); obj != nil {
					obj[props[0]] = map[string]any{"apiguard": 1}
					probes = append(probes, r)
				}
			}
		}
		for _, r := range probes {
			if sent >= maxErrorProbes {
				break
			}
			sent++
			resp, err := s.Do(ctx, caller, r)
			if err != nil {
				if fatal(ctx, err) {
					return err
				}
				continue
			}
			body := string(resp.Body)
			trace, sqlKind := stackTrace(body), sqlError(body)
			if trace == "" && sqlKind == "" {
				continue
			}
			var what []string
			if sqlKind != "" {
				what = append(what, sqlKind+" ("+excerpt(firstMatch(body, sqlKind), "", 120)+")")
			}
			if trace != "" {
				what = append(what, trace+" ("+excerpt(firstMatch(body, trace), "", 80)+")")
			}
			s.Report(scan.Finding{Rule: "scan.verbose-errors", Severity: report.Medium, Exchange: resp,
				Title:       "Verbose errors disclose internals",
				Description: "A malformed value makes the API answer with its internals: database errors with the SQL text, or a stack trace with source paths and versions. They guide injection attacks and reveal the code base.",
				Evidence:    statusLine(resp) + " to a malformed value: " + strings.Join(what, "; "),
				Remediation: "Validate input and answer a 400 without detail; log internal errors server-side and answer a generic 500 (apiguard's errors guard scrubs 5xx bodies)."})
			break // one finding per operation is enough
		}
	}
	return nil
}

// trace sends TRACE to the reference path; an answer echoing the request
// means the method is enabled (cross-site tracing, header disclosure).
func (c *Misconfig) trace(ctx context.Context, s *scan.Session) error {
	path := "/"
	if op, req := referenceOp(s, firstUser(s)); op != nil && req != nil {
		path = scan.FillPath(op.Path, req.PathParams)
	}
	resp, err := s.Do(ctx, s.Anonymous(), &scan.Request{Method: http.MethodTrace, Path: path})
	if err != nil {
		return err
	}
	if traceEchoes(resp.Status, resp.Body, strings.TrimRight(s.Target.Path, "/")+path) {
		s.Report(scan.Finding{Rule: "scan.trace-enabled", Severity: report.Low, Exchange: resp,
			Title:       "HTTP TRACE is enabled",
			Description: "The server echoes TRACE requests, including their headers: with a proxy or browser bug it discloses credentials and cookies (cross-site tracing).",
			Evidence:    statusLine(resp) + " echoing the request",
			Remediation: "Disable TRACE on the server and any proxy (apiguard answers 405 for methods the spec does not list)."})
	}
	return nil
}

// plainHTTP reports a target served without TLS.
func (c *Misconfig) plainHTTP(s *scan.Session) {
	sev := plainHTTPVerdict(s.Target)
	if sev == "" {
		return
	}
	desc := "The API is served over plain HTTP: tokens, passwords and data cross the network in clear text."
	if sev == report.Info {
		desc = "The target is plain HTTP on a loopback address (a local test setup); in production the API must be served over HTTPS only."
	}
	s.Report(scan.Finding{Rule: "scan.plain-http", Severity: sev,
		Title:       "API served over plain HTTP",
		Description: desc,
		Evidence:    "target " + s.Target.Scheme + "://" + s.Target.Host,
		Remediation: "Serve the API over HTTPS only, with HSTS (apiguard: server.tls)."})
}
