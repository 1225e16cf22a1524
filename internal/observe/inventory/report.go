package inventory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Classes of endpoints. An endpoint has one or more: documented or
// shadow (when its API has a spec), and any of the others.
const (
	// ClassDocumented: the spec describes this method and path.
	ClassDocumented = "documented"
	// ClassShadow: served by the upstream, not in the spec.
	ClassShadow = "shadow"
	// ClassZombie: deprecated in the spec and still answered 2xx, or an
	// undocumented path under an older version prefix than a documented
	// one (/api/v0/... while the spec has /api/v1/...).
	ClassZombie = "zombie"
	// ClassUnused: in the spec, never called.
	ClassUnused = "unused"
	// ClassUnauthenticated: answered 2xx to a caller that sent no
	// credentials, and the spec does not declare it public.
	ClassUnauthenticated = "unauthenticated"
	// ClassSensitive: its answers hold PII or secrets (dlp findings,
	// field names such as ssn or password_hash, values such as JWTs).
	ClassSensitive = "sensitive"
)

// Classes lists every class, in report order.
var Classes = []string{ClassDocumented, ClassShadow, ClassZombie, ClassUnused, ClassUnauthenticated, ClassSensitive}

// Report is the inventory at one moment, as served by GET
// /api/v1/inventory and read by apiguard discover.
type Report struct {
	// Generated is when the report was made.
	Generated time.Time `json:"generated"`
	// Observed counts the exchanges the inventory saw.
	Observed uint64 `json:"observed"`
	// Dropped counts the exchanges the observers never saw because their
	// queue was full (live gateway only).
	Dropped uint64 `json:"dropped,omitempty"`
	// APIs are the inventories of the APIs, by name.
	APIs []APIReport `json:"apis"`
}

// APIReport is the inventory of one API.
type APIReport struct {
	// Name is the API's name ("" for traffic no API matched).
	Name string `json:"name"`
	// Spec is the title of the API's spec; empty when it has none (no
	// documented, shadow, zombie or unused class then).
	Spec string `json:"spec,omitempty"`
	// Classes counts the endpoints per class.
	Classes map[string]int `json:"classes"`
	// Endpoints are sorted by path, then method.
	Endpoints []Endpoint `json:"endpoints"`
	// Other counts the exchanges of new endpoints past max_endpoints.
	Other OtherReport `json:"other"`
	// Unanswered counts undocumented exchanges the upstream did not serve
	// (404, 405, 501, blocked by apiguard), which make no endpoint.
	Unanswered uint64 `json:"unanswered"`
}

// OtherReport is the "other" bucket of an API.
type OtherReport struct {
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// Endpoint is one method and path template of an API.
type Endpoint struct {
	// Method and Path (the template, with the spec's base path) identify it.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Operation is the spec's operationId when documented.
	Operation string `json:"operation,omitempty"`
	// Deprecated is the spec's deprecated flag.
	Deprecated bool `json:"deprecated,omitempty"`
	// Classes are the endpoint's classes; Reasons explain them, one line
	// per class beyond documented.
	Classes []string `json:"classes"`
	Reasons []string `json:"reasons,omitempty"`
	// Hosts are the Host headers seen (at most 8).
	Hosts []string `json:"hosts,omitempty"`
	// Count counts the exchanges; Blocked those apiguard refused;
	// Anonymous those without any credential, Anonymous2xx those of them
	// answered 2xx.
	Count        uint64 `json:"count"`
	Blocked      uint64 `json:"blocked,omitempty"`
	Anonymous    uint64 `json:"anonymous,omitempty"`
	Anonymous2xx uint64 `json:"anonymous_2xx,omitempty"`
	// Clients and Principals estimate the distinct client addresses and
	// authenticated principals (exact up to 128, then within about 2 %).
	Clients    uint64 `json:"clients"`
	Principals uint64 `json:"principals"`
	// FirstSeen and LastSeen bound the exchanges' times.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Latency summarizes the upstream-answered exchanges' latency.
	Latency *Latency `json:"latency,omitempty"`
	// Auth lists the authentication methods seen (jwt, apikey, bearer,
	// basic, cookie, query, ...).
	Auth []string `json:"auth,omitempty"`
	// RequestTypes are the request media types seen.
	RequestTypes []string `json:"request_types,omitempty"`
	// Parameters are the path, query and header parameters seen.
	Parameters []Param `json:"parameters,omitempty"`
	// RequestBody is the inferred request body schema.
	RequestBody *Schema `json:"request_body,omitempty"`
	// Responses are the upstream's answers by status code.
	Responses []Response `json:"responses,omitempty"`
	// Sensitive lists the kinds of sensitive data seen in answers.
	Sensitive []string `json:"sensitive,omitempty"`
	// Sampled counts the exchanges whose bodies were examined.
	Sampled uint64 `json:"sampled,omitempty"`
}

// Has reports whether e has class c.
func (e *Endpoint) Has(c string) bool {
	for _, x := range e.Classes {
		if x == c {
			return true
		}
	}
	return false
}

// Latency is a latency summary in milliseconds; percentiles are bucket
// upper bounds (within 25 %).
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Param is a parameter seen in requests.
type Param struct {
	// In is path, query or header.
	In   string `json:"in"`
	Name string `json:"name"`
	// Type is the set of types its values had.
	Type   TypeSet `json:"type"`
	Format string  `json:"format,omitempty"`
	// Kind is the shape of a path parameter's values (integer, uuid,
	// ulid, hex, date, token, email, slug, string).
	Kind string `json:"kind,omitempty"`
	// Required is set when every exchange had it.
	Required bool `json:"required"`
	// Count counts the exchanges that had it.
	Count uint64 `json:"count"`
}

// Response is the upstream's answers of one status code (0: codes past
// the per-endpoint bound).
type Response struct {
	Status     int      `json:"status"`
	Count      uint64   `json:"count"`
	MediaTypes []string `json:"media_types,omitempty"`
	Body       *Schema  `json:"body,omitempty"`
}

// Filter selects what a report holds. Zero fields do not filter.
type Filter struct {
	// API keeps one API.
	API string
	// Class keeps the endpoints of one class.
	Class string
}

// ValidClass reports whether c is a class name.
func ValidClass(c string) bool {
	for _, x := range Classes {
		if x == c {
			return true
		}
	}
	return false
}

// Report returns the inventory, classified against each API's spec.
func (inv *Inventory) Report(f Filter) *Report {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	r := &Report{Generated: inv.opts.Now().UTC(), Observed: inv.seen, APIs: []APIReport{}}
	names := make([]string, 0, len(inv.apis))
	for name := range inv.apis {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if f.API != "" && name != f.API {
			continue
		}
		r.APIs = append(r.APIs, inv.apis[name].report(f.Class))
	}
	return r
}

func (a *apiState) report(class string) APIReport {
	ar := APIReport{Name: a.name, Classes: map[string]int{}, Endpoints: []Endpoint{}, Unanswered: a.unanswered,
		Other: OtherReport{Count: a.other.Count, FirstSeen: a.other.First, LastSeen: a.other.Last}}
	idx := newSpecIndex(a.spec)
	if a.spec != nil {
		ar.Spec = a.spec.Title
		if ar.Spec == "" {
			ar.Spec = "untitled"
		}
	}
	used := map[*openapi.Operation]bool{}
	var all []Endpoint
	for _, ep := range a.endpoints {
		e := ep.report()
		op := idx.classify(ep, &e)
		if op != nil {
			used[op] = true
		}
		all = append(all, e)
	}
	if a.spec != nil {
		for _, op := range a.spec.Operations {
			if used[op] {
				continue
			}
			all = append(all, Endpoint{Method: op.Method, Path: op.Path, Operation: op.ID, Deprecated: op.Deprecated,
				Classes: []string{ClassDocumented, ClassUnused}, Reasons: []string{"unused: in the spec, never called"}})
		}
	}
	for i := range all {
		for _, c := range all[i].Classes {
			ar.Classes[c]++
		}
		if class == "" || all[i].Has(class) {
			ar.Endpoints = append(ar.Endpoints, all[i])
		}
	}
	sort.Slice(ar.Endpoints, func(i, j int) bool {
		x, y := &ar.Endpoints[i], &ar.Endpoints[j]
		if x.Path != y.Path {
			return x.Path < y.Path
		}
		return x.Method < y.Method
	})
	return ar
}

// report is the endpoint's statistics, unclassified.
func (ep *endpoint) report() Endpoint {
	e := Endpoint{Method: ep.Method, Path: ep.Template, Operation: ep.OperationID,
		Hosts: clone(ep.Hosts), Count: ep.Count, Blocked: ep.Blocked, Anonymous: ep.Anonymous, Anonymous2xx: ep.Anonymous2xx,
		Clients: ep.Clients.count(), Principals: ep.Principals.count(), FirstSeen: ep.First.UTC(), LastSeen: ep.Last.UTC(),
		Auth: sorted(ep.Auth), RequestTypes: sorted(ep.RequestTypes), RequestBody: ep.RequestBody.report(),
		Sensitive: sorted(ep.Sensitive), Sampled: ep.Sampled}
	if ep.Latency.N > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		e.Latency = &Latency{P50: ms(ep.Latency.quantile(0.5)), P95: ms(ep.Latency.quantile(0.95)), P99: ms(ep.Latency.quantile(0.99)),
			Max: ms(ep.Latency.Max), Mean: ms(ep.Latency.Sum / time.Duration(ep.Latency.N))}
	}
	for i, seg := range strings.Split(strings.TrimPrefix(ep.Template, "/"), "/") {
		name := paramNameOf(seg)
		if name == "" {
			continue
		}
		p := Param{In: "path", Name: name, Type: TypeSet(tString), Required: true}
		if pp := ep.PathParams[i]; pp != nil {
			p.Type, p.Format, p.Kind, p.Count = pp.Type, pp.Format, pp.Kind, pp.Seen
		}
		e.Parameters = append(e.Parameters, p)
	}
	for _, in := range []struct {
		name string
		m    map[string]*param
	}{{"query", ep.Query}, {"header", ep.Header}} {
		names := make([]string, 0, len(in.m))
		for n := range in.m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			pp := in.m[n]
			e.Parameters = append(e.Parameters, Param{In: in.name, Name: n, Type: pp.Type, Format: pp.Format,
				Required: pp.Seen >= ep.Count, Count: pp.Seen})
		}
	}
	codes := make([]int, 0, len(ep.Statuses))
	for c := range ep.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		st := ep.Statuses[c]
		e.Responses = append(e.Responses, Response{Status: c, Count: st.Count, MediaTypes: sorted(st.MediaTypes), Body: st.Body.report()})
	}
	return e
}

// paramNameOf is the name of the first parameter of a template segment,
// or "".
func paramNameOf(seg string) string {
	i := strings.IndexByte(seg, '{')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(seg[i:], '}')
	if j <= 1 {
		return ""
	}
	return seg[i+1 : i+j]
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func sorted(s []string) []string {
	out := clone(s)
	sort.Strings(out)
	return out
}

// specIndex answers the classification questions about one spec.
type specIndex struct {
	spec *openapi.Spec
	// ops by method and normalized path ({} for every parameter).
	ops map[epKey]*openapi.Operation
	// paths are the spec paths' segments, normalized.
	paths [][]string
	byIdx []*openapi.Operation
}

func newSpecIndex(spec *openapi.Spec) *specIndex {
	x := &specIndex{spec: spec, ops: map[epKey]*openapi.Operation{}}
	if spec == nil {
		return x
	}
	for _, op := range spec.Operations {
		x.ops[epKey{op.Method, normalizePath(op.Path)}] = op
		x.paths = append(x.paths, strings.Split(strings.TrimPrefix(normalizePath(op.Path), "/"), "/"))
		x.byIdx = append(x.byIdx, op)
	}
	return x
}

// normalizePath erases parameter names: /users/{userId} is /users/{}.
func normalizePath(p string) string {
	if strings.IndexByte(p, '{') < 0 {
		return p
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			b.WriteString(p)
			return b.String()
		}
		b.WriteString(p[:i])
		b.WriteString("{}")
		p = p[i+j+1:]
	}
}

// lookup finds the spec operation of a method and template.
func (x *specIndex) lookup(method, tmpl string) *openapi.Operation {
	if x.spec == nil {
		return nil
	}
	if op := x.ops[epKey{method, normalizePath(tmpl)}]; op != nil {
		return op
	}
	if strings.IndexByte(tmpl, '{') < 0 {
		if op, _, _ := x.spec.Match(method, tmpl, nil); op != nil {
			return op
		}
	}
	return nil
}

// classify sets e's classes and reasons; it returns the spec operation
// e is, if documented.
func (x *specIndex) classify(ep *endpoint, e *Endpoint) *openapi.Operation {
	var ok2xx uint64
	for code, st := range ep.Statuses {
		if code >= 200 && code < 300 {
			ok2xx += st.Count
		}
	}
	op := x.lookup(ep.Method, ep.Template)
	add := func(class, reason string) {
		e.Classes = append(e.Classes, class)
		if reason != "" {
			e.Reasons = append(e.Reasons, class+": "+reason)
		}
	}
	switch {
	case x.spec == nil:
	case op != nil:
		e.Operation, e.Deprecated = op.ID, op.Deprecated
		e.Path = op.Path // the spec's names for learned templates
		add(ClassDocumented, "")
		if op.Deprecated && ok2xx > 0 {
			add(ClassZombie, fmt.Sprintf("deprecated in the spec, still answered 2xx (%s)", times(ok2xx)))
		}
	default:
		reason := "served, not in the spec"
		if len(x.spec.AllowedMethods(concretePath(ep.Template))) > 0 {
			reason = "served, the spec does not document " + ep.Method + " on this path"
		}
		add(ClassShadow, reason)
		if z := x.olderVersion(ep.Template); z != "" {
			add(ClassZombie, z)
		}
	}
	if ep.Anonymous2xx > 0 && (op == nil || !x.public(op)) {
		add(ClassUnauthenticated, fmt.Sprintf("answered 2xx %s to callers without credentials", times(ep.Anonymous2xx)))
	}
	if len(ep.Sensitive) > 0 {
		add(ClassSensitive, "answers hold "+strings.Join(sorted(ep.Sensitive), ", "))
	}
	if e.Classes == nil {
		e.Classes = []string{}
	}
	return op
}

func times(n uint64) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// concretePath replaces a template's parameters by a placeholder value,
// for the spec's router.
func concretePath(tmpl string) string {
	if strings.IndexByte(tmpl, '{') < 0 {
		return tmpl
	}
	segs := strings.Split(tmpl, "/")
	for i, s := range segs {
		if strings.IndexByte(s, '{') >= 0 {
			segs[i] = "1"
		}
	}
	return strings.Join(segs, "/")
}

// olderVersion explains why an undocumented template is a zombie: its
// version segment is older than the spec's at the same place under the
// same prefix. "" when it is not.
func (x *specIndex) olderVersion(tmpl string) string {
	segs := strings.Split(strings.TrimPrefix(normalizePath(tmpl), "/"), "/")
	for i, seg := range segs {
		v, ok := versionOf(seg)
		if !ok {
			continue
		}
		best, bestOp, bestSame := -1, (*openapi.Operation)(nil), false
		for k, ps := range x.paths {
			if len(ps) <= i || !equalSegs(ps[:i], segs[:i]) {
				continue
			}
			pv, ok := versionOf(ps[i])
			if !ok || pv <= v {
				continue
			}
			same := equalSegs(ps[i+1:], segs[i+1:])
			if pv > best || (pv == best && same && !bestSame) {
				best, bestOp, bestSame = pv, x.byIdx[k], same
			}
		}
		if bestOp == nil {
			return ""
		}
		newer := strings.Split(strings.TrimPrefix(bestOp.Path, "/"), "/")[i]
		if bestSame {
			return fmt.Sprintf("version %s is older than the documented %s (%s %s)", seg, newer, bestOp.Method, bestOp.Path)
		}
		return fmt.Sprintf("version %s is older than the documented %s", seg, newer)
	}
	return ""
}

func equalSegs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// public reports whether the spec lets op be called without
// credentials: security: [] (or an empty requirement {}) on the
// operation, or no security at the top level when the operation sets
// none.
func (x *specIndex) public(op *openapi.Operation) bool {
	sec := openapi.MapGet(op.Node, "security")
	if sec == nil {
		sec = openapi.MapGet(x.spec.Root, "security")
	}
	if sec == nil || len(sec.Content) == 0 {
		return true
	}
	for _, req := range sec.Content {
		if len(req.Content) == 0 {
			return true
		}
	}
	return false
}

// statusKey is a response's key in OpenAPI.
func statusKey(code int) string {
	if code == 0 {
		return "default"
	}
	return strconv.Itoa(code)
}
