package egress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/safehttp"
)

// hopHeaders are never forwarded in either direction; neither are the
// headers that would tell the third party about the inside (X-Forwarded-*,
// Forwarded, Via).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Forwarded", "Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
}

func copyHeaders(dst, src http.Header) {
	drop := map[string]bool{}
	for _, v := range src.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			drop[http.CanonicalHeaderKey(strings.TrimSpace(f))] = true
		}
	}
	for k, vs := range src {
		if drop[k] || slices.Contains(hopHeaders, k) {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// call is one application call through the proxy.
type call struct {
	p     *Proxy
	w     http.ResponseWriter
	r     *http.Request
	id    string
	start time.Time
	dest  *destination
	op    *openapi.Operation
}

var titles = map[string]string{
	RuleForwardProxy:         "Tunnels are not supported: call http://<host>/<path> through the proxy (apiguard speaks TLS to the destination), or http://<egress>/<destination>/<path>.",
	RuleHostNotAllowed:       "The host is not an allowed destination.",
	RuleProxyAuth:            "The egress proxy needs its token in Proxy-Authorization.",
	RuleBadPath:              "The path is not allowed.",
	RuleUnknownDestination:   "No such destination.",
	RuleMethodNotAllowed:     "The method is not allowed for this destination.",
	RuleUndocumentedOp:       "The destination does not document this operation.",
	RuleRequestTooLarge:      "The request body is too large.",
	RuleForbiddenAddress:     "The destination resolves to a forbidden address.",
	RuleTLS:                  "The destination's certificate could not be verified.",
	RuleTimeout:              "The destination did not answer in time.",
	RuleUnreachable:          "The destination could not be reached.",
	RuleRedirect:             "The destination answered with a redirect, which is not followed.",
	RuleResponseTooLarge:     "The destination's answer is too large.",
	RuleContentType:          "The destination's answer has a content type that is not allowed.",
	RuleInvalidJSON:          "The destination's answer is not valid JSON.",
	RuleUndocumentedResponse: "The destination's answer is not documented by its API description.",
	RuleSchema:               "The destination's answer does not match its API description.",
	RuleInjection:            "The destination's answer carries an injection pattern.",
}

// event records a decision about the call.
func (c *call) event(rule, verdict string, status int, detail string) {
	api, op := "egress", ""
	if c.dest != nil {
		api = "egress:" + c.dest.name
	}
	if c.op != nil {
		op = c.op.ID
	}
	kind := events.KindGuard
	if rule == RuleUnreachable || rule == RuleTimeout {
		kind = events.KindUpstream
	}
	client := ""
	if ap, err := netip.ParseAddrPort(c.r.RemoteAddr); err == nil {
		client = ap.Addr().Unmap().String()
	}
	c.p.services.Emit(events.Event{
		Time: c.p.services.Now(), Kind: kind, RequestID: c.id, API: api, Operation: op,
		Method: c.r.Method, Path: c.r.URL.EscapedPath(), ClientIP: client, Guard: "egress", Rule: rule,
		Category: Category, Verdict: verdict, Mode: string(pipeline.Enforce), Status: status,
		Latency: time.Since(c.start), Detail: events.RedactText(detail, 512),
	})
}

// refuse answers the application with a problem and records the event.
func (c *call) refuse(status int, rule, detail string) {
	c.event(rule, events.VerdictBlock, status, detail)
	c.w.Header().Set("X-Request-Id", c.id)
	pipeline.WriteProblem(c.w, pipeline.Problem{
		Type: pipeline.ProblemTypeBase + rule, Title: titles[rule], Status: status, RequestID: c.id,
	})
}

// ServeHTTP proxies one application call to its destination.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{p: p, w: w, r: r, id: newRequestID(), start: time.Now()}
	st := p.state.Load()
	if st.tokenSum != nil && !st.authorized(r.Header.Values("Proxy-Authorization")) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="apiguard egress"`)
		c.refuse(http.StatusProxyAuthRequired, RuleProxyAuth, "missing or wrong egress token in Proxy-Authorization")
		return
	}
	escaped := r.URL.EscapedPath()
	if r.Method == http.MethodConnect || r.URL.IsAbs() && r.URL.Scheme != "http" {
		c.refuse(http.StatusMethodNotAllowed, RuleForwardProxy, "tunnel or https forward-proxy request ("+r.Method+" "+r.URL.Scheme+") refused")
		return
	}
	if r.URL.IsAbs() || r.URL.Host != "" {
		// The forward-proxy form (HTTP_PROXY): http://host/path, where
		// host and the start of path are a destination's https URL.
		// apiguard speaks TLS to the destination.
		d, rest := st.byHost(r.URL.Host, escaped)
		if d == nil {
			c.refuse(http.StatusForbidden, RuleHostNotAllowed, "host "+strconv.Quote(r.URL.Host)+" with path "+strconv.Quote(escaped)+" is no destination's URL")
			return
		}
		escaped = "/" + d.name + rest
	}
	name, rest, ok := splitPath(escaped)
	if !ok {
		c.refuse(http.StatusBadRequest, RuleBadPath, "path with dot segments, empty segments, encoded slashes or backslashes")
		return
	}
	c.dest = st.dests[name]
	if c.dest == nil {
		c.refuse(http.StatusNotFound, RuleUnknownDestination, "destination "+strconv.Quote(name)+" is not configured")
		return
	}
	d := c.dest
	if !slices.Contains(d.methods, r.Method) {
		c.refuse(http.StatusMethodNotAllowed, RuleMethodNotAllowed, "method "+r.Method)
		return
	}
	target := *d.base
	target.RawPath = d.base.EscapedPath() + rest
	target.Path, _ = url.PathUnescape(target.RawPath)
	target.RawQuery = r.URL.RawQuery
	if d.spec != nil {
		op, _, _ := d.spec.Match(r.Method, target.Path, nil)
		if op == nil {
			c.refuse(http.StatusForbidden, RuleUndocumentedOp, r.Method+" "+target.Path+" is not in the destination's spec")
			return
		}
		c.op = op
	}
	if r.ContentLength > d.maxReq {
		c.refuse(http.StatusRequestEntityTooLarge, RuleRequestTooLarge, "declared "+strconv.FormatInt(r.ContentLength, 10)+" bytes")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, target.String(), nil)
	if err != nil {
		c.refuse(http.StatusBadRequest, RuleBadPath, "bad target URL")
		return
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		out.Body = http.MaxBytesReader(w, r.Body, d.maxReq)
		out.ContentLength = r.ContentLength
	}
	copyHeaders(out.Header, r.Header)
	out.Header.Del("Host")
	resp, err := d.rt.RoundTrip(out)
	if err != nil {
		c.transportError(ctx, err)
		return
	}
	defer resp.Body.Close()
	c.answer(resp)
}

// authorized reports whether the Proxy-Authorization values carry the
// egress token: exactly one value, Basic with the token as password (any
// user name) or Bearer. Compared in constant time, on digests.
func (st *state) authorized(values []string) bool {
	if len(values) != 1 {
		return false
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	cred = strings.TrimSpace(cred)
	var tok string
	switch strings.ToLower(scheme) {
	case "basic":
		b, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return false
		}
		_, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return false
		}
		tok = pass
	case "bearer":
		tok = cred
	default:
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], st.tokenSum) == 1
}

// byHost finds the destination a forward-proxy request names: host (port
// 80 or none stands for the destination URL's port; another port must be
// the URL's own) and an escaped path that starts with the destination
// URL's path at a segment boundary, the longest such path winning. It
// returns the rest of the path, "" or starting with "/".
func (st *state) byHost(host, escaped string) (*destination, string) {
	h, port := host, ""
	if hh, pp, err := net.SplitHostPort(host); err == nil {
		h, port = hh, pp
	}
	var best *destination
	var rest string
	bestLen := -1
	for _, d := range st.dests {
		if !strings.EqualFold(strings.TrimSuffix(h, "."), d.base.Hostname()) {
			continue
		}
		if port != "" && port != "80" && port != d.base.Port() {
			continue
		}
		bp := strings.TrimSuffix(d.base.EscapedPath(), "/")
		if !strings.HasPrefix(escaped, bp) || len(escaped) > len(bp) && escaped[len(bp)] != '/' {
			continue
		}
		if len(bp) > bestLen {
			best, rest, bestLen = d, escaped[len(bp):], len(bp)
		}
	}
	return best, rest
}

// splitPath splits "/name/rest" (escaped) into name and "/rest", refusing
// dot segments, empty segments, encoded slashes, dots and backslashes,
// so the path the destination sees is the one the application wrote.
func splitPath(escaped string) (name, rest string, ok bool) {
	if !strings.HasPrefix(escaped, "/") {
		return "", "", false
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") ||
		strings.Contains(escaped, "\\") || strings.Contains(escaped, "//") {
		return "", "", false
	}
	segs := strings.Split(escaped[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || s == "" && i != len(segs)-1 {
			return "", "", false
		}
	}
	name = segs[0]
	if name == "" {
		return "", "", false
	}
	rest = escaped[1+len(name):]
	return name, rest, true
}

// transportError maps a failed call to its rule.
func (c *call) transportError(ctx context.Context, err error) {
	var ae *safehttp.AddressError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		c.refuse(http.StatusBadGateway, RuleForbiddenAddress, err.Error())
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		c.refuse(http.StatusBadGateway, RuleTLS, err.Error())
	case errors.As(err, &mbe):
		c.refuse(http.StatusRequestEntityTooLarge, RuleRequestTooLarge, err.Error())
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		c.refuse(http.StatusGatewayTimeout, RuleTimeout, err.Error())
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.refuse(http.StatusGatewayTimeout, RuleTimeout, err.Error())
			return
		}
		c.refuse(http.StatusBadGateway, RuleUnreachable, err.Error())
	}
}

// answer checks the destination's answer and passes it on.
func (c *call) answer(resp *http.Response) {
	d := c.dest
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		c.refuse(http.StatusBadGateway, RuleRedirect, "status "+strconv.Itoa(resp.StatusCode))
		return
	}
	body, err := io.ReadAll(resp.Body)
	if errors.Is(err, safehttp.ErrResponseTooLarge) {
		c.refuse(http.StatusBadGateway, RuleResponseTooLarge, "answer larger than "+strconv.FormatInt(d.maxResp, 10)+" bytes")
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.refuse(http.StatusGatewayTimeout, RuleTimeout, "reading the answer: "+err.Error())
			return
		}
		c.refuse(http.StatusBadGateway, RuleUnreachable, "reading the answer: "+err.Error())
		return
	}
	mt := ""
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err = mime.ParseMediaType(ct)
		if err != nil {
			c.refuse(http.StatusBadGateway, RuleContentType, "unparsable content type")
			return
		}
	}
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if len(body) > 0 && !contentTypeAllowed(d.ctypes, mt) {
		c.refuse(http.StatusBadGateway, RuleContentType, "content type "+strconv.Quote(mt))
		return
	}
	var doc any
	if isJSON && len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil || dec.More() {
			c.refuse(http.StatusBadGateway, RuleInvalidJSON, "answer is not one JSON value")
			return
		}
	}
	if c.op != nil {
		if detail, ok := documented(d.spec, c.op, resp.StatusCode, mt, len(body) > 0); !ok {
			c.refuse(http.StatusBadGateway, RuleUndocumentedResponse, detail)
			return
		}
		if vb := c.p.validator.Load(); vb != nil && vb.v != nil {
			if err := vb.v.ValidateResponse(d.spec, c.op, resp.StatusCode, mt, doc); err != nil {
				c.refuse(http.StatusBadGateway, RuleSchema, err.Error())
				return
			}
		}
	}
	if found := scanHeaders(resp.Header); found != "" {
		if c.flagInjection(found) {
			return
		}
	}
	var found string
	if doc != nil {
		found = scanJSON(doc, 0)
	} else if len(body) > 0 {
		found = scanText(string(body))
	}
	if found != "" && c.flagInjection(found) {
		return
	}
	h := c.w.Header()
	copyHeaders(h, resp.Header)
	h.Del("Set-Cookie") // the third party's cookies are not the application's business through apiguard
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Request-Id", c.id)
	c.w.WriteHeader(resp.StatusCode)
	_, _ = c.w.Write(body)
}

// flagInjection records an injection finding; it returns true when the
// answer was refused.
func (c *call) flagInjection(what string) bool {
	if c.dest.injection == "block" {
		c.refuse(http.StatusBadGateway, RuleInjection, what)
		return true
	}
	c.event(RuleInjection, events.VerdictObserve, 0, what)
	return false
}

func contentTypeAllowed(allowed []string, mt string) bool {
	for _, a := range allowed {
		if a == mt || a == "application/json" && strings.HasSuffix(mt, "+json") && strings.HasPrefix(mt, "application/") {
			return true
		}
	}
	return false
}

// documented checks that the operation documents the status and, when
// the answer has a body, its media type.
func documented(spec *openapi.Spec, op *openapi.Operation, status int, mt string, hasBody bool) (string, bool) {
	responses := openapi.MapGet(op.Node, "responses")
	if responses == nil {
		return "the operation documents no responses", false
	}
	code := strconv.Itoa(status)
	r := openapi.MapGet(responses, code)
	if r == nil {
		r = openapi.MapGet(responses, code[:1]+"XX")
	}
	if r == nil {
		r = openapi.MapGet(responses, code[:1]+"xx")
	}
	if r == nil {
		r = openapi.MapGet(responses, "default")
	}
	if r == nil {
		return fmt.Sprintf("status %d is not documented", status), false
	}
	if !hasBody {
		return "", true
	}
	if r = resolveLocal(spec.Root, r); r == nil {
		return "", true // a response in another file: left to the validator
	}
	content := openapi.MapGet(r, "content")
	if content == nil {
		return fmt.Sprintf("status %d is documented without a body", status), false
	}
	for i := 0; i+1 < len(content.Content); i += 2 {
		k := strings.ToLower(content.Content[i].Value)
		if k == mt || k == "*/*" || strings.HasSuffix(k, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(k, "*")) {
			return "", true
		}
	}
	return fmt.Sprintf("media type %q is not documented for status %d", mt, status), false
}

// resolveLocal follows local $refs ("#/components/responses/X") in root.
func resolveLocal(root, n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 32; i++ {
		ref := openapi.MapGet(n, "$ref")
		if ref == nil {
			return n
		}
		frag, ok := strings.CutPrefix(ref.Value, "#/")
		if !ok {
			return nil
		}
		n = root
		for _, tok := range strings.Split(frag, "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			if n = openapi.MapGet(n, tok); n == nil {
				return nil
			}
		}
	}
	return n
}
