// Package inventory is the API inventory learned from traffic: an
// observe.Observer that keeps, per API and per endpoint (method and path
// template), what was seen — hosts, status codes, media types,
// authentication methods, distinct clients and principals, first and
// last seen, counts, latency, parameters with inferred types and formats,
// body schemas, sensitive data — and classifies endpoints against the
// API's spec: documented, shadow, zombie, unused, unauthenticated,
// sensitive (docs/inventory.md).
//
// Everything is bounded: endpoints per API (then an "other" bucket),
// the path templating tree, parameters, statuses, schema nodes; distinct
// clients and principals are counted with HyperLogLog sketches. Values
// are never kept: names, types, formats and redacted examples only.
//
// Bodies are seen only when a guard buffered them (schema, dlp, waf,
// authz on the answer): without such a guard the inventory knows the
// endpoints, parameters and statuses but not the body schemas.
package inventory

import (
	"log/slog"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
)

// Defaults of Options.
const (
	DefaultMaxEndpoints = 2000
	DefaultMaxLiterals  = 64
	DefaultSampleFirst  = 20
	DefaultSampleEvery  = 100
)

// Bounds that are not configurable.
const (
	// maxAPIs bounds the APIs tracked (names come from the config, or
	// from the command line offline).
	maxAPIs = 256
	// maxStatuses bounds the status codes kept per endpoint; others
	// count under status 0.
	maxStatuses = 32
	// maxParams bounds the query and the header parameters kept per
	// endpoint, each.
	maxParams = 64
	// maxSet bounds the small sets of strings (hosts, media types,
	// authentication methods) per endpoint; maxSensitive the kinds.
	maxSet       = 8
	maxSensitive = 16
	// maxLabel is the longest host or media type kept.
	maxLabel = 128
)

// Options configure an Inventory. Zero fields take their defaults.
type Options struct {
	// MaxEndpoints bounds the endpoints kept per API; exchanges of new
	// endpoints beyond it are counted in the API's "other" bucket.
	// Default 2000.
	MaxEndpoints int
	// MaxLiterals is how many distinct literal segments one path prefix
	// may have before they are templated as a parameter. Default 64.
	MaxLiterals int
	// SampleFirst and SampleEvery: bodies of the first SampleFirst
	// exchanges of an endpoint are examined, then one in SampleEvery.
	// Defaults 20 and 100.
	SampleFirst int
	SampleEvery int
	// Now is the clock for exchanges without a time; nil is time.Now.
	Now func() time.Time
	// Logger receives snapshot errors; nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	if o.MaxLiterals <= 0 {
		o.MaxLiterals = DefaultMaxLiterals
	}
	if o.SampleFirst < 0 {
		o.SampleFirst = 0
	} else if o.SampleFirst == 0 {
		o.SampleFirst = DefaultSampleFirst
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Inventory is the API inventory. Observe is called by the observe.Hub;
// Report, Snapshot and the admin handler may run concurrently with it.
type Inventory struct {
	mu      sync.Mutex
	opts    Options
	apis    map[string]*apiState
	ignored uint64 // exchanges of APIs beyond maxAPIs
	seen    uint64
}

// New returns an empty inventory.
func New(o Options) *Inventory {
	return &Inventory{opts: o.withDefaults(), apis: map[string]*apiState{}}
}

// SetOptions changes the limits (on a config reload). Endpoints already
// kept stay.
func (inv *Inventory) SetOptions(o Options) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.opts = o.withDefaults()
	for _, a := range inv.apis {
		a.tree.maxLiterals = inv.opts.MaxLiterals
		a.tree.maxNodes = treeNodes(inv.opts.MaxEndpoints)
	}
}

// SetSpec sets the spec an API is classified against, before traffic
// brings it (at start, after a restore, offline). A nil spec forgets it.
func (inv *Inventory) SetSpec(api string, spec *openapi.Spec) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if a := inv.api(api); a != nil {
		a.spec = spec
	}
}

// treeNodes is the templating tree's node budget for maxEndpoints.
func treeNodes(maxEndpoints int) int { return 8 * maxEndpoints }

// epKey identifies an endpoint of an API.
type epKey struct{ method, path string }

// apiState is the inventory of one API.
type apiState struct {
	name      string
	spec      *openapi.Spec
	endpoints map[epKey]*endpoint
	tree      *templater
	// other counts exchanges of new endpoints refused because the API
	// had MaxEndpoints already.
	other otherStats
	// unanswered counts undocumented exchanges that the upstream did
	// not serve (404, 405, 501, blocked by apiguard, no answer): they
	// make no endpoint, so that scans of random paths do not fill the
	// inventory.
	unanswered uint64
	// dirty is set when the state changed since the last snapshot.
	dirty bool
}

type otherStats struct {
	Count uint64    `json:"count"`
	First time.Time `json:"first_seen,omitzero"`
	Last  time.Time `json:"last_seen,omitzero"`
}

func (s *otherStats) add(t time.Time) {
	s.Count++
	if s.First.IsZero() || t.Before(s.First) {
		s.First = t
	}
	if t.After(s.Last) {
		s.Last = t
	}
}

// api returns the state of an API, creating it within maxAPIs.
func (inv *Inventory) api(name string) *apiState {
	if a := inv.apis[name]; a != nil {
		return a
	}
	if len(inv.apis) >= maxAPIs {
		return nil
	}
	a := &apiState{name: strings.Clone(name), endpoints: map[epKey]*endpoint{},
		tree: newTemplater(inv.opts.MaxLiterals, treeNodes(inv.opts.MaxEndpoints))}
	inv.apis[a.name] = a
	return a
}

// Observe adds one exchange to the inventory.
func (inv *Inventory) Observe(o *observe.Observation) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.seen++
	a := inv.api(o.API)
	if a == nil {
		inv.ignored++
		return
	}
	if o.Spec != nil {
		a.spec = o.Spec
	}
	a.dirty = true
	route := o.RoutePath
	if route == "" {
		route = o.Path
	}
	if route == "" || route[0] != '/' {
		a.unanswered++
		return
	}
	t := o.Time
	if t.IsZero() {
		t = inv.opts.Now()
	}
	method := canonicalMethod(o.Method)
	var tmpl, opID string
	learned := false
	if o.Operation != nil {
		tmpl, opID = o.Operation.Path, o.Operation.ID
	} else {
		if !served(o) {
			a.unanswered++
			return
		}
		if o.MethodMismatch && o.Spec != nil {
			tmpl = documentedPath(o.Spec, route)
		}
		if tmpl == "" {
			var collapsed bool
			tmpl, collapsed = a.tree.template(route)
			learned = true
			if collapsed {
				a.rekey()
			}
		}
	}
	key := epKey{method, tmpl}
	ep := a.endpoints[key]
	if ep == nil {
		if len(a.endpoints) >= inv.opts.MaxEndpoints {
			a.other.add(t)
			return
		}
		ep = &endpoint{Method: method, Template: tmpl, Learned: learned, OperationID: opID}
		a.endpoints[key] = ep
	}
	ep.observe(o, t, route, &inv.opts)
}

// served reports whether the upstream served an undocumented exchange:
// it answered, with something else than not found / not allowed / not
// implemented.
func served(o *observe.Observation) bool {
	switch {
	case !o.Upstreamed || o.Blocked || o.Status == 0:
		return false
	case o.Status == 404 || o.Status == 405 || o.Status == 501:
		return false
	}
	return true
}

// documentedPath is the spec path of a request whose path is documented
// for other methods.
func documentedPath(spec *openapi.Spec, route string) string {
	for _, m := range spec.AllowedMethods(route) {
		if op, _, _ := spec.Match(m, route, nil); op != nil {
			return op.Path
		}
	}
	return ""
}

var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// canonicalMethod returns the method in upper case for the standard
// methods, the method itself for other short tokens, OTHER otherwise.
func canonicalMethod(m string) string {
	for _, s := range methods {
		if strings.EqualFold(m, s) {
			return s
		}
	}
	if m == "" || len(m) > 16 {
		return "OTHER"
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "OTHER"
		}
	}
	return strings.Clone(m)
}

// rekey moves the learned endpoints whose template changed (a prefix
// collapsed) to their new template, merging them when it is taken.
func (a *apiState) rekey() {
	for key, ep := range a.endpoints {
		if !ep.Learned {
			continue
		}
		nt := a.tree.retemplate(ep.Template)
		if nt == ep.Template {
			continue
		}
		delete(a.endpoints, key)
		nk := epKey{ep.Method, nt}
		if dst := a.endpoints[nk]; dst != nil {
			dst.merge(ep)
			continue
		}
		ep.retarget(nt)
		a.endpoints[nk] = ep
	}
}

// endpoint is what the inventory knows of one method and path template.
// It is its own snapshot format (JSON).
type endpoint struct {
	Method   string `json:"method"`
	Template string `json:"template"`
	// Learned is set for templates learned from traffic (not the spec's).
	Learned     bool   `json:"learned,omitempty"`
	OperationID string `json:"operation_id,omitempty"`

	Hosts        []string `json:"hosts,omitempty"`
	Count        uint64   `json:"count"`
	Blocked      uint64   `json:"blocked,omitempty"`
	Anonymous    uint64   `json:"anonymous,omitempty"`
	Anonymous2xx uint64   `json:"anonymous_2xx,omitempty"`
	// Statuses are the upstream's answers by status code.
	Statuses     map[int]*statusStats `json:"statuses,omitempty"`
	RequestTypes []string             `json:"request_types,omitempty"`
	Auth         []string             `json:"auth,omitempty"`
	Clients      distinct             `json:"clients"`
	Principals   distinct             `json:"principals"`
	First        time.Time            `json:"first_seen"`
	Last         time.Time            `json:"last_seen"`
	Latency      latencyHist          `json:"latency"`
	// PathParams are keyed by segment index.
	PathParams  map[int]*param    `json:"path_params,omitempty"`
	Query       map[string]*param `json:"query,omitempty"`
	Header      map[string]*param `json:"header,omitempty"`
	RequestBody *Schema           `json:"request_body,omitempty"`
	Sensitive   []string          `json:"sensitive,omitempty"`
	Sampled     uint64            `json:"sampled,omitempty"`

	nodes int // schema nodes, bounded by maxSchemaNodes
}

// statusStats are the answers of one status code.
type statusStats struct {
	Count      uint64   `json:"count"`
	MediaTypes []string `json:"media_types,omitempty"`
	Body       *Schema  `json:"body,omitempty"`
}

// param is what is known of one parameter.
type param struct {
	Type        TypeSet `json:"type"`
	Format      string  `json:"format,omitempty"`
	FormatMixed bool    `json:"format_mixed,omitempty"`
	// Kind is a path parameter's segment kind (integer, uuid, slug, ...).
	Kind string `json:"kind,omitempty"`
	// Seen counts the exchanges that had it.
	Seen uint64 `json:"seen"`
}

// value records one value's type and format (the value is not kept).
func (p *param) value(v string) {
	typ, format := scalarType(v)
	mergeTypeFormat(&p.Type, &p.Format, &p.FormatMixed, TypeSet(typ), format, false)
}

// addSet adds s to a bounded set of strings.
func addSet(set []string, s string, limit int) []string {
	for _, x := range set {
		if x == s {
			return set
		}
	}
	if len(set) >= limit {
		return set
	}
	return append(set, strings.Clone(s))
}

// mediaType returns the lower-case type/subtype of a Content-Type.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	if len(ct) > maxLabel {
		return ""
	}
	return ct
}

// isJSONType reports whether a media type is JSON.
func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func (ep *endpoint) observe(o *observe.Observation, t time.Time, route string, opts *Options) {
	ep.Count++
	if ep.First.IsZero() || t.Before(ep.First) {
		ep.First = t
	}
	if t.After(ep.Last) {
		ep.Last = t
	}
	if o.Host != "" && len(o.Host) <= maxLabel {
		ep.Hosts = addSet(ep.Hosts, strings.ToLower(o.Host), maxSet)
	}
	if o.Blocked {
		ep.Blocked++
	}
	if o.ClientIP.IsValid() {
		ep.Clients.add(hashAddr(o.ClientIP))
	}
	if o.Principal != "" {
		ep.Principals.add(hashString(o.Principal))
	}
	queryCred := ep.query(o.RawQuery)
	anonymous, known := ep.auth(o, queryCred)
	if anonymous && known {
		ep.Anonymous++
	}
	if ct := mediaType(o.RequestContentType); ct != "" {
		ep.RequestTypes = addSet(ep.RequestTypes, ct, maxSet)
	}
	ep.headers(o)
	ep.pathParams(route)
	for i := range o.Decisions {
		d := &o.Decisions[i]
		if d.Guard == "dlp" && strings.HasPrefix(d.Rule, "dlp.") && d.Rule != "dlp.unscanned" && d.Rule != "dlp.too_large" {
			ep.addSensitive(d.Rule[len("dlp."):])
		}
	}
	answered := o.Upstreamed && !o.Blocked && o.Status > 0
	var st *statusStats
	if answered {
		st = ep.status(o.Status)
		st.Count++
		if ct := mediaType(o.ResponseContentType); ct != "" {
			st.MediaTypes = addSet(st.MediaTypes, ct, maxSet)
		}
		if anonymous && known && o.Status >= 200 && o.Status < 300 {
			ep.Anonymous2xx++
		}
		ep.Latency.add(o.Latency)
	}
	if ep.Count > uint64(opts.SampleFirst) && ep.Count%uint64(opts.SampleEvery) != 0 {
		return
	}
	sampled := false
	if len(o.RequestBody) > 0 {
		ct := mediaType(o.RequestContentType)
		if ep.RequestBody == nil {
			ep.RequestBody = &Schema{}
		}
		in := inferrer{nodes: &ep.nodes}
		switch {
		case isJSONType(ct):
			sampled = in.body(ep.RequestBody, o.RequestBody) || sampled
		case ct == "application/x-www-form-urlencoded":
			sampled = in.form(ep.RequestBody, o.RequestBody) || sampled
		}
		if ep.RequestBody.Seen == 0 {
			ep.RequestBody = nil
		}
	}
	if st != nil && len(o.ResponseBody) > 0 && isJSONType(mediaType(o.ResponseContentType)) {
		if st.Body == nil {
			st.Body = &Schema{}
		}
		in := inferrer{nodes: &ep.nodes, sensitive: ep.addSensitive}
		sampled = in.body(st.Body, o.ResponseBody) || sampled
		if st.Body.Seen == 0 {
			st.Body = nil
		}
	}
	if sampled {
		ep.Sampled++
	}
}

func (ep *endpoint) addSensitive(kind string) {
	ep.Sensitive = addSet(ep.Sensitive, kind, maxSensitive)
}

// status returns the stats of a status code (0 collects the codes past
// maxStatuses).
func (ep *endpoint) status(code int) *statusStats {
	if ep.Statuses == nil {
		ep.Statuses = map[int]*statusStats{}
	}
	if code < 100 || code > 599 {
		code = 0
	}
	if st := ep.Statuses[code]; st != nil {
		return st
	}
	if len(ep.Statuses) >= maxStatuses {
		code = 0
		if st := ep.Statuses[0]; st != nil {
			return st
		}
	}
	st := &statusStats{}
	ep.Statuses[code] = st
	return st
}

// query records the query's parameter names and value types, and
// reports whether a parameter looked like a credential.
func (ep *endpoint) query(raw string) (credential bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, val, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(name, "%+") {
			n, err := unescapeQuery(name)
			if err != nil {
				continue
			}
			name = n
		}
		if name == "" {
			continue
		}
		if isCredentialParam(name) {
			credential = true
		}
		p := ep.Query[name]
		if p == nil {
			if len(ep.Query) >= maxParams || len(name) > maxName {
				continue
			}
			if ep.Query == nil {
				ep.Query = map[string]*param{}
			}
			p = &param{}
			ep.Query[strings.Clone(name)] = p
		}
		p.Seen++
		if strings.ContainsAny(val, "%+") {
			if v, err := unescapeQuery(val); err == nil {
				val = v
			}
		}
		p.value(val)
	}
	return credential
}

// auth records how the caller authenticated and reports whether it sent
// no credential at all (anonymous), and whether that is known (it is
// not for access-log lines without a principal).
func (ep *endpoint) auth(o *observe.Observation, queryCred bool) (anonymous, known bool) {
	known = o.RequestHeader != nil || o.Principal != "" || o.AuthMethod != ""
	found := o.Principal != "" || o.Credential != ""
	if o.AuthMethod != "" {
		ep.Auth = addSet(ep.Auth, o.AuthMethod, maxSet)
		found = true
	}
	// Header keys are canonical (the server and http.Header.Add make
	// them so): index the map without canonicalizing again.
	if h := o.RequestHeader; h != nil {
		if v := firstValue(h["Authorization"]); v != "" {
			ep.Auth = addSet(ep.Auth, authScheme(v), maxSet)
			found = true
		}
		if firstValue(h["X-Api-Key"]) != "" {
			ep.Auth = addSet(ep.Auth, "apikey", maxSet)
			found = true
		}
		if firstValue(h["Cookie"]) != "" {
			ep.Auth = addSet(ep.Auth, "cookie", maxSet)
			found = true
		}
	}
	if queryCred {
		ep.Auth = addSet(ep.Auth, "query", maxSet)
		found = true
	}
	return !found, known
}

func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// authScheme names the scheme of an Authorization header.
func authScheme(v string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	for _, s := range [...]string{"bearer", "basic", "digest", "negotiate", "hoba", "mutual", "aws4-hmac-sha256", "hmac", "signature", "dpop"} {
		if strings.EqualFold(scheme, s) {
			return s
		}
	}
	return "authorization"
}

// headers records the request's non-standard headers (names and value
// types).
func (ep *endpoint) headers(o *observe.Observation) {
	for name, vals := range o.RequestHeader {
		if len(vals) == 0 || standardHeader(name) {
			continue
		}
		p := ep.Header[name]
		if p == nil {
			if len(ep.Header) >= maxParams || len(name) > maxName {
				continue
			}
			if ep.Header == nil {
				ep.Header = map[string]*param{}
			}
			p = &param{}
			ep.Header[strings.Clone(name)] = p
		}
		p.Seen++
		p.value(vals[0])
	}
}

// pathParams records the kinds of the values of the template's
// parameters, by segment index.
func (ep *endpoint) pathParams(route string) {
	tmpl := strings.TrimPrefix(ep.Template, "/")
	path := strings.TrimPrefix(route, "/")
	for i := 0; tmpl != "" || path != ""; i++ {
		tseg, trest, tmore := strings.Cut(tmpl, "/")
		pseg, prest, pmore := strings.Cut(path, "/")
		if strings.IndexByte(tseg, '{') >= 0 {
			if !tmore {
				pseg = path // a last parameter takes the rest
			}
			p := ep.PathParams[i]
			if p == nil {
				if len(ep.PathParams) >= maxDepth {
					return
				}
				if ep.PathParams == nil {
					ep.PathParams = map[int]*param{}
				}
				p = &param{}
				ep.PathParams[i] = p
			}
			p.Seen++
			p.value(pseg)
			switch kind := segmentKind(pseg); {
			case p.Kind == "":
				p.Kind = kindOrSlug(kind)
			case p.Kind != kindOrSlug(kind):
				p.Kind = "string"
			}
		}
		if !tmore || !pmore {
			return
		}
		tmpl, path = trest, prest
	}
}

func kindOrSlug(kind string) string {
	if kind == segLiteral {
		return segSlug
	}
	return kind
}

// retarget gives ep a new template: segments that became parameters get
// a parameter entry (their values were literal: slugs).
func (ep *endpoint) retarget(tmpl string) {
	ep.Template = tmpl
	for i, seg := range strings.Split(strings.TrimPrefix(tmpl, "/"), "/") {
		if !isParamSeg(seg) || ep.PathParams[i] != nil {
			continue
		}
		if ep.PathParams == nil {
			ep.PathParams = map[int]*param{}
		}
		ep.PathParams[i] = &param{Type: TypeSet(tString), Kind: segSlug, Seen: ep.Count}
	}
}

// merge adds src (an endpoint whose template now equals ep's) to ep.
func (ep *endpoint) merge(src *endpoint) {
	for _, h := range src.Hosts {
		ep.Hosts = addSet(ep.Hosts, h, maxSet)
	}
	ep.Count += src.Count
	ep.Blocked += src.Blocked
	ep.Anonymous += src.Anonymous
	ep.Anonymous2xx += src.Anonymous2xx
	for code, s := range src.Statuses {
		d := ep.status(code)
		d.Count += s.Count
		for _, mt := range s.MediaTypes {
			d.MediaTypes = addSet(d.MediaTypes, mt, maxSet)
		}
		if s.Body != nil {
			if d.Body == nil {
				d.Body = &Schema{}
			}
			d.Body.merge(s.Body, &ep.nodes)
		}
	}
	for _, mt := range src.RequestTypes {
		ep.RequestTypes = addSet(ep.RequestTypes, mt, maxSet)
	}
	for _, a := range src.Auth {
		ep.Auth = addSet(ep.Auth, a, maxSet)
	}
	ep.Clients.merge(&src.Clients)
	ep.Principals.merge(&src.Principals)
	if !src.First.IsZero() && (ep.First.IsZero() || src.First.Before(ep.First)) {
		ep.First = src.First
	}
	if src.Last.After(ep.Last) {
		ep.Last = src.Last
	}
	ep.Latency.merge(&src.Latency)
	for i, p := range src.PathParams {
		mergeParam(&ep.PathParams, i, p, maxDepth)
	}
	// Positions that are parameters now but were literal in src: its
	// exchanges had a slug there.
	for i, seg := range strings.Split(strings.TrimPrefix(ep.Template, "/"), "/") {
		if isParamSeg(seg) && src.PathParams[i] == nil {
			mergeParam(&ep.PathParams, i, &param{Type: TypeSet(tString), Kind: segSlug, Seen: src.Count}, maxDepth)
		}
	}
	for name, p := range src.Query {
		mergeParam(&ep.Query, name, p, maxParams)
	}
	for name, p := range src.Header {
		mergeParam(&ep.Header, name, p, maxParams)
	}
	if src.RequestBody != nil {
		if ep.RequestBody == nil {
			ep.RequestBody = &Schema{}
		}
		ep.RequestBody.merge(src.RequestBody, &ep.nodes)
	}
	for _, k := range src.Sensitive {
		ep.addSensitive(k)
	}
	ep.Sampled += src.Sampled
}

func mergeParam[K comparable](m *map[K]*param, k K, p *param, limit int) {
	d := (*m)[k]
	if d == nil {
		if len(*m) >= limit {
			return
		}
		if *m == nil {
			*m = map[K]*param{}
		}
		cp := *p
		(*m)[k] = &cp
		return
	}
	mergeTypeFormat(&d.Type, &d.Format, &d.FormatMixed, p.Type, p.Format, p.FormatMixed)
	if d.Kind != p.Kind {
		if d.Kind == "" {
			d.Kind = p.Kind
		} else if p.Kind != "" {
			d.Kind = "string"
		}
	}
	d.Seen += p.Seen
}

// Latency histogram: 4 buckets per power of two of microseconds, so a
// percentile is known within 25 %.
const latBuckets = 160

type latencyHist struct {
	Buckets [latBuckets]uint32 `json:"buckets"`
	Sum     time.Duration      `json:"sum"`
	Max     time.Duration      `json:"max"`
	N       uint64             `json:"n"`
}

func latBucket(d time.Duration) int {
	us := uint64(max(d/time.Microsecond, 0))
	if us < 4 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= 2
	sub := int(us>>(e-2)) & 3
	return min(4+(e-2)*4+sub, latBuckets-1)
}

// latUpper is the upper bound of bucket i.
func latUpper(i int) time.Duration {
	if i < 4 {
		return time.Duration(i+1) * time.Microsecond
	}
	e := (i-4)/4 + 2
	sub := (i - 4) % 4
	return time.Duration(uint64(5+sub)<<(e-2)) * time.Microsecond
}

func (h *latencyHist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.Buckets[latBucket(d)]++
	h.Sum += d
	h.N++
	if d > h.Max {
		h.Max = d
	}
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.Buckets {
		h.Buckets[i] += c
	}
	h.Sum += o.Sum
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// quantile returns the q-quantile's bucket upper bound, at most Max.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	target := uint64(q*float64(h.N) + 0.999999)
	target = max(target, 1)
	var cum uint64
	for i, c := range h.Buckets {
		cum += uint64(c)
		if cum >= target {
			return min(latUpper(i), h.Max)
		}
	}
	return h.Max
}
