package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/normalize"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// request is the gateway's per-request state, carried to the proxy hooks
// through the request context.
type request struct {
	x           *pipeline.Exchange
	st          *state
	api         *apiState
	target      *target
	peer        netip.Addr
	peerTrusted bool
	outPath     string // canonical path sent upstream (prefix stripped)
	upstreamAt  time.Time
	upstreamDur time.Duration
	status      int
	blocked     *pipeline.Decision
	upstreamErr string
}

type requestKey struct{}

var requestPool = sync.Pool{New: func() any { return new(request) }}

// statusWriter remembers the status and size written. Unwrap lets
// http.ResponseController reach the real writer (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through for streaming answers.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ServeHTTP handles one request: normalize, route, guard, proxy, record.
func (g *Gateway) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	st := g.state.Load()
	st.inflight.Add(1)
	defer st.inflight.Add(-1)
	g.opts.Metrics.InFlight(1)
	defer g.opts.Metrics.InFlight(-1)

	x := pipeline.NewExchange()
	rq := requestPool.Get().(*request)
	*rq = request{x: x, st: st}
	w := &statusWriter{ResponseWriter: rw}
	x.Start = g.opts.Now()
	x.Request = r

	rq.peer = peerAddr(r)
	rq.peerTrusted = len(st.trusted) > 0 && st.trusted.contains(rq.peer)
	x.ClientIP = clientIP(r, rq.peer, st.trusted)
	if id := r.Header.Get(st.ridHeader); rq.peerTrusted && validRequestID(id) {
		x.ID = id
	} else {
		x.ID = g.ids.next()
	}
	w.Header().Set(st.ridHeader, x.ID)
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		x.ClientCert = r.TLS.VerifiedChains[0][0]
	}

	g.handle(w, r, rq)

	rq.status = w.status
	g.finish(rq, w)
	x.Release()
	*rq = request{}
	requestPool.Put(rq)
}

// handle runs everything up to and including the proxy.
func (g *Gateway) handle(w *statusWriter, r *http.Request, rq *request) {
	x, st := rq.x, rq.st
	if rej := normalize.Request(r, st.limits); rej != nil {
		g.reject(w, rq, rej)
		return
	}
	path, rej := normalize.Path(normalize.RequestPath(r))
	if rej != nil {
		g.reject(w, rq, rej)
		return
	}
	x.Path = path

	a := st.route(r.Host, path)
	if a == nil {
		g.block(w, rq, &pipeline.Decision{Guard: "gateway", Mode: pipeline.Enforce, Verdict: pipeline.Verdict{
			Action: pipeline.Block, Status: http.StatusNotFound, Rule: "route.no_api", Category: "API9", Title: "No API is served at this address."}})
		return
	}
	rq.api = a
	x.API = a.name
	rq.outPath = path
	if a.cfg.Match.StripPrefix && a.prefix != "" {
		rq.outPath = strings.TrimPrefix(path, a.prefix)
		if rq.outPath == "" {
			rq.outPath = "/"
		}
	}

	x.RoutePath = rq.outPath
	limit := a.bodyLimit
	if a.spec != nil {
		op, params, found := a.spec.Match(r.Method, rq.outPath, x.PathParams)
		x.Operation, x.PathParams, x.MethodMismatch = op, params, op == nil && found
		if op == nil && !found && a.spec.MatchLoose(rq.outPath) {
			g.reject(w, rq, &normalize.Rejection{Status: http.StatusBadRequest, Rule: "normalize.noncanonical_route",
				Title: "The path differs from the API's documented path only by case or a trailing slash."})
			return
		}
		if l, ok := a.opLimits[op]; ok && op != nil {
			limit = l
		}
	}
	x.BodyLimit = limit
	if r.ContentLength > limit {
		g.reject(w, rq, &normalize.Rejection{Status: http.StatusRequestEntityTooLarge, Rule: "limits.body_too_large",
			Title: "The request body is larger than this operation accepts."})
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}

	if d := a.pipe.Request(r.Context(), x, a.mode); d != nil {
		g.block(w, rq, d)
		return
	}
	// A guard may replace the request (for example the limits guard sets
	// the upstream timeout as a context deadline); proxy what it left.
	r = x.Request
	if errors.Is(x.BodyErr(), pipeline.ErrBodyTooLarge) {
		// A guard read the body and found it too large (a guard that
		// cannot parse a body it needs blocks by itself).
		g.reject(w, rq, &normalize.Rejection{Status: http.StatusRequestEntityTooLarge, Rule: "limits.body_too_large",
			Title: "The request body is larger than this operation accepts."})
		return
	}

	rq.target = a.pool.pick()
	ctx := context.WithValue(r.Context(), requestKey{}, rq)
	rq.upstreamAt = g.opts.Now()
	a.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite builds the upstream request: the canonical path the guards saw,
// on the chosen upstream, with forwarding headers that a client cannot
// forge.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	rq := pr.In.Context().Value(requestKey{}).(*request)
	t := rq.target.url
	out := pr.Out.URL
	out.Scheme = t.Scheme
	out.Host = t.Host
	escaped := normalize.Escape(rq.outPath)
	base := strings.TrimSuffix(t.Path, "/")
	out.Path = base + rq.outPath
	out.RawPath = strings.TrimSuffix(t.EscapedPath(), "/") + escaped
	if out.RawPath == out.Path {
		out.RawPath = ""
	}
	out.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = ""
	if rq.peerTrusted {
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	pr.Out.Header.Set(rq.st.ridHeader, rq.x.ID)
}

// errBlockedResponse carries a response guard's block to proxyError.
type errBlockedResponse struct{ d *pipeline.Decision }

func (e errBlockedResponse) Error() string { return "response blocked by " + e.d.Guard }

// modifyResponse records upstream health and runs the response guards.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	rq := resp.Request.Context().Value(requestKey{}).(*request)
	rq.upstreamDur = g.opts.Now().Sub(rq.upstreamAt)
	rq.api.pool.success(rq.target)
	rq.x.RunResponseHooks(resp)
	if !rq.api.hasRespGrd {
		return nil
	}
	if d := rq.api.pipe.Response(resp.Request.Context(), rq.x, resp, rq.api.mode); d != nil {
		_ = resp.Body.Close()
		return errBlockedResponse{d}
	}
	return nil
}

// proxyError answers when the upstream could not be reached or read, when
// the request body was too large, or when a response guard blocked.
func (g *Gateway) proxyError(rw http.ResponseWriter, r *http.Request, err error) {
	rq := r.Context().Value(requestKey{}).(*request)
	w, _ := rw.(*statusWriter)
	if w == nil {
		w = &statusWriter{ResponseWriter: rw}
	}
	var blocked errBlockedResponse
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &blocked):
		g.block(w, rq, blocked.d)
		return
	case errors.As(err, &tooBig):
		g.reject(w, rq, &normalize.Rejection{Status: http.StatusRequestEntityTooLarge, Rule: "limits.body_too_large",
			Title: "The request body is larger than this operation accepts."})
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		rq.upstreamErr = "client_canceled"
		w.status = 499 // client closed the request; nothing can be written
		return
	}
	rq.upstreamDur = g.opts.Now().Sub(rq.upstreamAt)
	kind, status, rule, title := "error", http.StatusBadGateway, "upstream.unavailable", "The upstream service is unavailable."
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		kind, status, rule, title = "timeout", http.StatusGatewayTimeout, "upstream.timeout", "The upstream service did not answer in time."
	}
	rq.upstreamErr = kind
	markedDown := rq.api.pool.failure(rq.target)
	g.opts.Metrics.UpstreamError(rq.api.name, rq.target.host, kind)
	detail := "upstream " + rq.target.host + ": " + err.Error()
	if markedDown {
		detail += "; marked down for " + rq.api.cfg.Upstream.Health.Cooldown.D().String()
	}
	rq.x.Decisions = append(rq.x.Decisions, pipeline.Decision{Guard: "gateway", Mode: pipeline.Enforce,
		Verdict: pipeline.Verdict{Action: pipeline.Block, Status: status, Rule: rule, Title: title, Detail: detail}})
	d := &rq.x.Decisions[len(rq.x.Decisions)-1]
	rq.blocked = d
	pipeline.WriteProblemFor(w, rq.x.Request, rq.securityHeaders(), pipeline.ProblemFor(d, rq.x.ID))
}

// securityHeaders are the security headers of apiguard's own answers to
// this request: the API's headers guard decides them, the defaults apply
// when no API matched or the guard is off.
func (rq *request) securityHeaders() pipeline.SecurityHeaders {
	if rq.api == nil {
		return pipeline.DefaultSecurityHeaders
	}
	return rq.api.pipe.SecurityHeaders()
}

// reject answers a protocol-hardening rejection.
func (g *Gateway) reject(w *statusWriter, rq *request, rej *normalize.Rejection) {
	if rej.Close {
		// The connection's framing cannot be trusted: do not read another
		// request from it.
		w.Header().Set("Connection", "close")
	}
	guard, category := "normalize", "API8"
	if strings.HasPrefix(rej.Rule, "limits.") { // the core's body cap: resource consumption
		guard, category = "gateway", "API4"
	}
	rq.x.Decisions = append(rq.x.Decisions, pipeline.Decision{Guard: guard, Mode: pipeline.Enforce,
		Verdict: pipeline.Verdict{Action: pipeline.Block, Status: rej.Status, Rule: rej.Rule, Category: category, Title: rej.Title}})
	g.block(w, rq, &rq.x.Decisions[len(rq.x.Decisions)-1])
}

// block answers the client with the decision's problem. Decisions made
// outside the pipeline are recorded on the exchange too.
func (g *Gateway) block(w *statusWriter, rq *request, d *pipeline.Decision) {
	if !containsDecision(rq.x.Decisions, d) {
		rq.x.Decisions = append(rq.x.Decisions, *d)
		d = &rq.x.Decisions[len(rq.x.Decisions)-1]
	}
	for k, v := range rq.x.AnswerHeader {
		w.Header()[k] = v
	}
	for k, v := range d.Verdict.Header {
		w.Header()[k] = v
	}
	if d.Verdict.Action == pipeline.Answer {
		// Not a refusal: the guard answered (an allowed CORS preflight).
		// It carries the same security headers as a refusal; they leave
		// the guard's own headers (Access-Control-*) alone, and no-store
		// does not stop browsers caching a preflight (see
		// pipeline.SecurityHeaders.Set).
		status := d.Verdict.Status
		if status == 0 {
			status = http.StatusNoContent
		}
		rq.securityHeaders().Set(w.Header(), rq.x.Request)
		w.WriteHeader(status)
		return
	}
	rq.blocked = d
	pipeline.WriteProblemFor(w, rq.x.Request, rq.securityHeaders(), pipeline.ProblemFor(d, rq.x.ID))
}

func containsDecision(ds []pipeline.Decision, d *pipeline.Decision) bool {
	for i := range ds {
		if &ds[i] == d {
			return true
		}
	}
	return false
}

// finish emits the exchange's events and its access record.
func (g *Gateway) finish(rq *request, w *statusWriter) {
	x := rq.x
	now := g.opts.Now()
	latency := now.Sub(x.Start)
	principal := ""
	if x.Principal != nil {
		principal = x.Principal.Subject
	}
	op := ""
	if rq.api != nil {
		op = x.OperationName()
	}
	client := ""
	if x.ClientIP.IsValid() {
		client = x.ClientIP.String()
	}
	path := x.Path
	if path == "" { // refused before a canonical path existed
		path = rq.rawPathForLog()
	}
	for i := range x.Decisions {
		d := &x.Decisions[i]
		if d.Verdict.Action == pipeline.Answer {
			continue // an answer, not a security event
		}
		kind := events.KindGuard
		switch {
		case d.Guard == "normalize":
			kind = events.KindProtocol
		case strings.HasPrefix(d.Verdict.Rule, "upstream."):
			kind = events.KindUpstream
		}
		verdict := d.Verdict.Action.String()
		detail := d.Verdict.Detail
		if d.Failed {
			verdict = events.VerdictError
			if d.Err != nil {
				detail = d.Err.Error()
			}
		}
		g.opts.Recorder.Event(events.Event{
			Time: now, Kind: kind, RequestID: x.ID, API: x.API, Operation: op, Method: x.Request.Method, Path: path,
			ClientIP: client, Principal: principal, Guard: d.Guard, Rule: d.Verdict.Rule, Category: d.Verdict.Category,
			Verdict: verdict, Mode: string(d.Mode), Status: rq.status, Latency: latency, Detail: detail,
		})
	}
	a := &events.Access{
		Time: x.Start, RequestID: x.ID, API: x.API, Operation: op, Method: x.Request.Method, Path: path,
		Query: x.Request.URL.RawQuery, Proto: x.Request.Proto, ClientIP: client, Principal: principal,
		Status: rq.status, Latency: latency, UpstreamLatency: rq.upstreamDur, BytesIn: x.Request.ContentLength,
		BytesOut: w.written, UserAgent: x.Request.UserAgent(), Verdict: events.VerdictAllow,
	}
	if rq.target != nil {
		a.Upstream = rq.target.host
	}
	if d := rq.blocked; d != nil {
		a.Verdict, a.Guard, a.Rule = events.VerdictBlock, d.Guard, d.Verdict.Rule
	} else if len(x.Decisions) > 0 {
		d := &x.Decisions[len(x.Decisions)-1]
		a.Verdict, a.Guard, a.Rule = d.Verdict.Action.String(), d.Guard, d.Verdict.Rule
	}
	g.opts.Recorder.Access(a)
	// The gateway's own subrequests (authz require_access) are not client
	// traffic: the inventory and the detectors see the client's request.
	if g.opts.Observers.Active() && x.Request.Context().Value(subrequestKey{}) == nil {
		g.observe(rq, w, path, principal, latency)
	}
}

// observe hands a copy of the exchange to the observers (inventory,
// detectors), which run off the request path.
func (g *Gateway) observe(rq *request, w *statusWriter, path, principal string, latency time.Duration) {
	x, r := rq.x, rq.x.Request
	o := g.opts.Observers.Get()
	o.Time, o.RequestID, o.API = x.Start, x.ID, x.API
	if rq.api != nil {
		o.Spec = rq.api.spec
	}
	o.Operation, o.MethodMismatch = x.Operation, x.MethodMismatch
	o.PathParams = append(o.PathParams, x.PathParams...)
	o.Host = r.Host
	if h, _, err := net.SplitHostPort(o.Host); err == nil {
		o.Host = h
	}
	o.Method, o.Path, o.RoutePath, o.RawQuery = r.Method, path, x.RoutePath, r.URL.RawQuery
	o.RequestHeader = r.Header
	o.RequestContentType = r.Header.Get("Content-Type")
	if b := x.BufferedBody(); len(b) <= observe.MaxBody {
		o.RequestBody = b
	}
	o.Status = rq.status
	o.ResponseContentType = w.Header().Get("Content-Type")
	if b := x.BufferedResponseBody(); len(b) <= observe.MaxBody {
		o.ResponseBody = b
	}
	o.BytesIn, o.BytesOut, o.Latency = r.ContentLength, w.written, latency
	o.ClientIP, o.Principal = x.ClientIP, principal
	if p := x.Principal; p != nil {
		o.AuthMethod, o.ClientID = p.Method, p.ClientID
		if jti, ok := p.Claims["jti"].(string); ok && jti != "" {
			o.Credential = "jti:" + jti
		}
	}
	if o.Credential == "" {
		if v := r.Header.Get("Authorization"); v != "" {
			o.SetRawCredential(v)
		} else if v := r.Header.Get("X-Api-Key"); v != "" {
			o.SetRawCredential(v)
		}
	}
	o.Upstreamed = rq.target != nil && rq.blocked == nil
	o.Blocked = rq.blocked != nil
	for i := range x.Decisions {
		d := &x.Decisions[i]
		action := d.Verdict.Action.String()
		if d.Failed {
			action = events.VerdictError
		}
		o.Decisions = append(o.Decisions, observe.Decision{Guard: d.Guard, Rule: d.Verdict.Rule, Category: d.Verdict.Category, Action: action})
	}
	g.opts.Observers.Submit(o)
}

// rawPathForLog is the request path as received (still escaped, so
// control characters stay visible as %XX), truncated, for requests refused
// before a canonical path existed.
func (rq *request) rawPathForLog() string {
	p := normalize.RequestPath(rq.x.Request)
	if len(p) > 256 {
		p = p[:256]
	}
	return p
}

// route picks the API for a host and canonical path.
func (s *state) route(hostport, path string) *apiState {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	for _, a := range s.apis {
		if len(a.hosts) > 0 && !hostMatches(a.hosts, host) {
			continue
		}
		if a.prefix == "" || path == a.prefix || strings.HasPrefix(path, a.prefix) && path[len(a.prefix)] == '/' {
			return a
		}
	}
	return nil
}

// hostMatches compares a host to the API's hosts without case; a
// "*.example.com" entry matches exactly one extra label.
func hostMatches(hosts []string, host string) bool {
	for _, h := range hosts {
		if strings.EqualFold(h, host) {
			return true
		}
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && strings.EqualFold(host[i+1:], rest) {
				return true
			}
		}
	}
	return false
}
