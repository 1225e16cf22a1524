package waf

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// DefaultResponseContentTypes are the answer media types whose body the
// waf inspects by default: text, JSON, XML, JavaScript, YAML and forms.
// Images, audio, video, fonts, archives and application/octet-stream
// are not inspected (their status still is).
var DefaultResponseContentTypes = []string{
	"text/*", "application/json", "application/*+json", "application/x-ndjson",
	"application/xml", "application/*+xml", "application/javascript", "application/x-javascript",
	"application/yaml", "application/x-yaml", "application/x-www-form-urlencoded",
}

// Defaults and bounds of the answer inspection.
const (
	defaultMaxAnswer = 256 << 10
	maxMaxAnswer     = 64 << 20
)

// Rule ids of the answer step besides "waf.<crs id>".
const (
	// RuleOutboundAnomaly is several outbound rules reaching the
	// threshold together.
	RuleOutboundAnomaly = "waf.outbound_anomaly"
	// RuleAnswerUninspected is an answer in a content coding the waf
	// cannot decode, passed uninspected.
	RuleAnswerUninspected = "waf.response_uninspected"
)

// answerConfig is the normalized answer part of a Config.
type answerConfig struct {
	on    bool
	max   int64
	types []string
}

// answerSettings validates and normalizes the answer settings.
func answerSettings(cfg Config) (answerConfig, error) {
	a := answerConfig{on: cfg.InspectResponses == nil || *cfg.InspectResponses, max: int64(cfg.MaxResponseInspectBytes), types: cfg.ResponseContentTypes}
	if a.max == 0 {
		a.max = defaultMaxAnswer
	}
	if a.max < 1 || a.max > maxMaxAnswer {
		return a, fmt.Errorf("max_response_inspect_bytes: must be between 1 and 64MiB, not %d", cfg.MaxResponseInspectBytes)
	}
	if cfg.ResponseContentTypes == nil {
		a.types = DefaultResponseContentTypes
	}
	for i, t := range a.types {
		main, sub, ok := strings.Cut(t, "/")
		if !ok || main == "" || sub == "" || strings.ContainsAny(t, " ;,") || t != strings.ToLower(t) ||
			(main == "*" && sub != "*") || (strings.Contains(sub, "*") && sub != "*" && !strings.HasPrefix(sub, "*+")) {
			return a, fmt.Errorf("response_content_types[%d]: %q is not a lower-case media type (type/subtype, type/*, application/*+json)", i, t)
		}
	}
	return a, nil
}

// answerGuard is the "waf.response" step: CRS's outbound rules on the
// upstream's answer, behind an exact prefilter.
type answerGuard struct {
	waf       coraza.WAF
	filter    *answerFilter
	pl        int
	threshold int
	observe   bool
	excl      []exclusion
	max       int64
	types     []string
}

// NewResponse builds the waf.response step: nil when the API has no waf
// section or inspect_responses is false.
func NewResponse(b pipeline.Build) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	g, err := newAnswerGuard(cfg)
	if g == nil || err != nil {
		return nil, err
	}
	return g, nil
}

func newAnswerGuard(cfg Config) (*answerGuard, error) {
	a, err := answerSettings(cfg)
	if err != nil || !a.on {
		return nil, err
	}
	if err := cfg.settle(); err != nil {
		return nil, err
	}
	excl, err := compileExclusions(cfg.Exclusions)
	if err != nil {
		return nil, err
	}
	g := &answerGuard{pl: cfg.ParanoiaLevel, threshold: cfg.OutboundThreshold, observe: cfg.DetectionOnly, max: a.max, types: a.types, excl: excl}
	extra := ""
	if cfg.RulesFile != "" {
		data, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("rules_file: %w", err)
		}
		extra = string(data)
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(answerDirectives(cfg, a.max, extra)))
	if err != nil {
		return nil, fmt.Errorf("loading the outbound rule set: %w", err)
	}
	g.waf = w
	all, err := parseAnswerRules(extra)
	if err != nil {
		return nil, err
	}
	g.filter = newAnswerFilter(all, g.pl, g.excludedEverywhere)
	return g, nil
}

// answerDirectives is the SecLang of the answer WAF: CRS's
// initialization (paranoia level, scores, thresholds), the outbound
// rules and their blocking evaluation, the extra rules; engine in
// detection mode (apiguard scores and decides), the body given to
// Coraza whatever its media type (apiguard chose to inspect it), at most
// max bytes of it.
func answerDirectives(cfg Config, max int64, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `SecRuleEngine DetectionOnly
SecRxPreFilter On
SecRequestBodyAccess Off
SecResponseBodyAccess On
SecResponseBodyLimit %d
SecResponseBodyLimitAction ProcessPartial
SecAuditEngine Off
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecDefaultAction "phase:3,log,auditlog,pass"
SecDefaultAction "phase:4,log,auditlog,pass"
SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"
SecAction "id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4250"
Include @owasp_crs/REQUEST-901-INITIALIZATION.conf
SecAction "id:100190,phase:3,pass,nolog,ctl:forceResponseBodyVariable=on"
`, max, cfg.ParanoiaLevel, cfg.InboundThreshold, cfg.OutboundThreshold)
	for _, f := range answerRuleFiles {
		b.WriteString("Include @owasp_crs/" + f + "\n")
	}
	b.WriteString("Include @owasp_crs/RESPONSE-959-BLOCKING-EVALUATION.conf\n")
	b.WriteString(extra)
	b.WriteString("\n")
	return b.String()
}

// excludedEverywhere reports whether an exclusion switches r off for
// every operation and target: the prefilter then ignores it.
func (g *answerGuard) excludedEverywhere(r *crsRule) bool {
	for _, e := range g.excl {
		if len(e.ops) == 0 && len(e.targets) == 0 && excludedBy([]exclusion{e}, "", r, "") {
			return true
		}
	}
	return false
}

// Response inspects the answer.
func (g *answerGuard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	body, truncated, v, err := g.answerText(x, resp)
	if err != nil || v.Action != pipeline.Continue {
		return v, err
	}
	status := statusString(resp.StatusCode)
	if !g.filter.mayMatch(status, unsafeString(body)) {
		return pipeline.Verdict{}, nil
	}
	ids, where, _ := g.run(x, resp, status, body)
	return g.decide(ids, where, truncated), nil
}

// answerText returns the part of the answer body to inspect (decoded,
// at most max bytes; empty for media types not inspected), whether the
// body was longer, and a verdict for an answer that cannot be decoded.
func (g *answerGuard) answerText(x *pipeline.Exchange, resp *http.Response) ([]byte, bool, pipeline.Verdict, error) {
	if x.Request != nil && x.Request.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || !g.inspects(resp.Header.Get("Content-Type")) {
		return nil, false, pipeline.Verdict{}, nil
	}
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity", "gzip", "x-gzip", "deflate":
	default:
		return nil, false, g.uninspected("content coding " + events.RedactText(enc, 40)), nil
	}
	raw, truncated, err := answerBody(x, resp, g.max)
	if err != nil {
		return nil, false, pipeline.Verdict{}, fmt.Errorf("reading the answer: %w", err)
	}
	if enc == "" || enc == "identity" || len(raw) == 0 {
		return raw, truncated, pipeline.Verdict{}, nil
	}
	var zr io.Reader
	if enc == "deflate" {
		zr, err = zlib.NewReader(bytes.NewReader(raw))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, false, g.uninspected("invalid " + enc + " body"), nil
	}
	out, err := io.ReadAll(io.LimitReader(zr, g.max+1))
	if err != nil && !(truncated && errors.Is(err, io.ErrUnexpectedEOF)) {
		return nil, false, g.uninspected("invalid " + enc + " body"), nil
	}
	if int64(len(out)) > g.max {
		out, truncated = out[:g.max], true
	}
	return out, truncated, pipeline.Verdict{}, nil
}

// uninspected is the verdict for an answer the waf cannot read: it
// passes, with an event.
func (g *answerGuard) uninspected(why string) pipeline.Verdict {
	return pipeline.Verdict{Action: pipeline.Observe, Rule: RuleAnswerUninspected, Category: "API8", Detail: "answer not inspected: " + why}
}

// inspects reports whether answers of this Content-Type are inspected.
func (g *answerGuard) inspects(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if mt == "" {
		return true
	}
	mt = asciiLowerIfNeeded(mt)
	for _, t := range g.types {
		switch {
		case t == mt, t == "*/*":
			return true
		case strings.HasSuffix(t, "/*"):
			if strings.HasPrefix(mt, t[:len(t)-1]) {
				return true
			}
		case strings.Contains(t, "/*+"):
			main, suffix, _ := strings.Cut(t, "/*")
			if strings.HasPrefix(mt, main+"/") && strings.HasSuffix(mt, suffix) && len(mt) > len(main)+1+len(suffix) {
				return true
			}
		}
	}
	return false
}

func asciiLowerIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return asciiLower(s)
		}
	}
	return s
}

// answerBody returns the first max bytes of the answer body and whether
// the body is longer, leaving resp able to deliver the whole body. A
// body an earlier guard buffered is reused; a body that fits is buffered
// through the exchange for the guards after this one. A larger body is
// not given to the exchange (its limit would then apply to every later
// guard): its first bytes are read here and put back in front of the
// rest.
func answerBody(x *pipeline.Exchange, resp *http.Response, max int64) ([]byte, bool, error) {
	if b := x.BufferedResponseBody(); b != nil {
		if int64(len(b)) > max {
			return b[:max], true, nil
		}
		return b, false, nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil, false, nil
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= max {
		b, err := x.ResponseBody(resp, max)
		if !errors.Is(err, pipeline.ErrResponseTooLarge) {
			return b, false, err
		}
		// An earlier guard's smaller limit was exceeded: read below.
	}
	orig := resp.Body
	b, err := io.ReadAll(io.LimitReader(orig, max+1))
	if err != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), errReader{err}), orig}
		return nil, false, err
	}
	if int64(len(b)) <= max {
		_ = orig.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if rb, err := x.ResponseBody(resp, max); err == nil && len(rb) == len(b) {
			return rb, false, nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return b, false, nil
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), orig), orig}
	return b[:max], true, nil
}

// errReader returns its error.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// statusStrings are the status codes 100..599 as text.
var statusStrings = func() (t [600]string) {
	for i := 100; i < 600; i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusString(code int) string {
	if code >= 100 && code < 600 {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// unsafeString views b as a string, for the prefilter, which neither
// keeps it nor runs while b changes.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// run gives the answer to Coraza and returns the scoring outbound rules
// matched (at or below the paranoia level, not excluded for the
// operation), where they matched, and whether CRS's own outbound
// evaluation (959100) reached the threshold.
func (g *answerGuard) run(x *pipeline.Exchange, resp *http.Response, status string, body []byte) ([]int, []string, bool) {
	tx := g.waf.NewTransaction()
	defer tx.Close()
	r := x.Request
	host, port := "192.0.2.1", 0
	method, uri, proto := http.MethodGet, "/", "HTTP/1.1"
	if r != nil {
		host, port = splitHostPort(r.RemoteAddr)
		method, uri, proto = r.Method, r.URL.RequestURI(), r.Proto
	}
	tx.ProcessConnection(host, port, "192.0.2.2", 80)
	tx.ProcessURI(uri, method, proto)
	if r != nil {
		tx.AddRequestHeader("Host", r.Host)
	}
	tx.ProcessRequestHeaders()
	_, _ = tx.ProcessRequestBody()
	for k, vs := range resp.Header {
		if k == "Content-Encoding" || k == "Content-Length" {
			continue // the body given is decoded
		}
		for _, v := range vs {
			tx.AddResponseHeader(k, v)
		}
	}
	respProto := resp.Proto
	if respProto == "" {
		respProto = "HTTP/1.1"
	}
	tx.ProcessResponseHeaders(resp.StatusCode, respProto)
	if len(body) > 0 {
		_, _, _ = tx.WriteResponseBody(body)
	}
	_, _ = tx.ProcessResponseBody()
	return g.matches(x, tx.MatchedRules(), status, unsafeString(body))
}

// matches turns Coraza's matches into the scoring rules kept.
func (g *answerGuard) matches(x *pipeline.Exchange, ms []types.MatchedRule, status, body string) ([]int, []string, bool) {
	var ids []int
	var where []string
	crs := false
	op := x.OperationName()
	for _, m := range ms {
		id := m.Rule().ID()
		if id == 959100 {
			crs = true
		}
		r := g.filter.byID[id]
		if r == nil || r.severity == "" || r.paranoia > g.pl {
			continue
		}
		kept := false
		for _, d := range m.MatchedDatas() {
			target := d.Variable().Name() + ":" + strings.ToLower(d.Key())
			if !excludedBy(g.excl, op, r, target) {
				kept = true
			}
		}
		if !kept && (len(m.MatchedDatas()) > 0 || excludedBy(g.excl, op, r, "")) {
			continue
		}
		if !containsInt(ids, id) {
			ids = append(ids, id)
			where = append(where, fmt.Sprintf("%d@%s", id, g.excerpt(r, status, body)))
		}
	}
	return ids, where, crs
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// excerpt is where r matched the answer: a short redacted window of the
// body around the match (at most 80 bytes: 16 before, 48 of the match,
// 16 after), or the status.
func (g *answerGuard) excerpt(r *crsRule, status, body string) string {
	out := ""
	for _, l := range r.links {
		p := partsOf(l)
		if p&partStatus != 0 && p&partBody == 0 {
			out = "RESPONSE_STATUS=" + status
			continue
		}
		if p&partBody == 0 {
			continue
		}
		v := body
		for _, t := range l.transforms {
			if exactAnswerTransforms[t] {
				v, _ = transform(t, v)
			}
		}
		lo, hi := matchSpan(l, v)
		if lo < 0 {
			continue
		}
		lo, hi = max(0, lo-16), min(len(v), min(hi, lo+48)+16)
		return fmt.Sprintf("RESPONSE_BODY=%q", events.RedactText(v[lo:hi], 80))
	}
	if out == "" {
		out = "RESPONSE_BODY"
	}
	return out
}

// matchSpan is where the link's operator matches v ((-1, -1) if not
// found here).
func matchSpan(l *crsLink, v string) (int, int) {
	switch l.op {
	case "rx":
		var loc []int
		if l.bre != nil {
			loc = l.bre.FindStringIndex(v)
		} else if l.re != nil {
			loc = l.re.FindStringIndex(v)
		}
		if loc != nil && !l.negate {
			return loc[0], loc[1]
		}
	case "pm", "pmFromFile":
		if l.pmOK {
			if m := l.pm.Iter(v).Next(); m != nil && !l.negate {
				return m.Start(), m.End()
			}
		}
	case "contains", "streq", "beginsWith", "endsWith":
		if i := strings.Index(v, l.arg); i >= 0 && !l.negate {
			return i, i + len(l.arg)
		}
	}
	return -1, -1
}

// decide turns the matched outbound rules into a verdict: a 502 that
// withholds the answer at the outbound threshold.
func (g *answerGuard) decide(ids []int, where []string, truncated bool) pipeline.Verdict {
	if len(ids) == 0 {
		return pipeline.Verdict{}
	}
	score, top, topScore := 0, 0, 0
	for _, id := range ids {
		s := severityScore[g.filter.byID[id].severity]
		score += s
		if s > topScore || s == topScore && id < top {
			top, topScore = id, s
		}
	}
	if score < g.threshold {
		return pipeline.Verdict{}
	}
	rule := RuleOutboundAnomaly
	if topScore >= g.threshold {
		rule = "waf." + strconv.Itoa(top)
	}
	sorted := append([]int(nil), ids...)
	sort.Ints(sorted)
	strs := make([]string, len(sorted))
	for i, id := range sorted {
		strs[i] = strconv.Itoa(id)
	}
	detail := fmt.Sprintf("answer: outbound score %d (threshold %d, paranoia %d); rules %s", score, g.threshold, g.pl, strings.Join(strs, ","))
	if truncated {
		detail += fmt.Sprintf("; first %d bytes inspected", g.max)
	}
	if len(where) > 0 {
		detail += "; " + strings.Join(where, "; ")
	}
	v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: rule, Category: "API8",
		Title: "The answer was withheld by the web application firewall.", Detail: events.RedactText(detail, 600)}
	if g.observe {
		v.Action = pipeline.Observe
	}
	return v
}

// narrowAcceptEncoding keeps, in the request's Accept-Encoding, only the
// content codings the answer step decodes (gzip, x-gzip, deflate,
// identity; "*" becomes "gzip, deflate"), with their weights. A header
// left with none asks for identity. Nothing is allocated when the header
// already qualifies.
func narrowAcceptEncoding(h http.Header) {
	vs := h["Accept-Encoding"]
	if len(vs) == 0 {
		return
	}
	ok := true
	for _, v := range vs {
		for rest := v; ok; {
			part, more, found := strings.Cut(rest, ",")
			ok = decodableCoding(part)
			if !found {
				break
			}
			rest = more
		}
	}
	if ok {
		return
	}
	var kept []string
	for _, v := range vs {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			name, params, _ := strings.Cut(part, ";")
			switch {
			case decodableCoding(part):
				if part != "" {
					kept = append(kept, part)
				}
			case strings.TrimSpace(name) == "*":
				w := ""
				if params != "" {
					w = ";" + params
				}
				kept = append(kept, "gzip"+w, "deflate"+w)
			}
		}
	}
	if len(kept) == 0 {
		h.Set("Accept-Encoding", "identity")
		return
	}
	h.Set("Accept-Encoding", strings.Join(kept, ", "))
}

// decodableCoding reports whether one Accept-Encoding element names a
// coding the answer step decodes (an empty element is harmless).
func decodableCoding(part string) bool {
	name, _, _ := strings.Cut(part, ";")
	name = strings.TrimSpace(name)
	for _, c := range [...]string{"", "gzip", "x-gzip", "deflate", "identity"} {
		if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}
