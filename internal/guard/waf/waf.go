// Package waf is apiguard's injection guard: the OWASP Core Rule Set v4 on
// Coraza v3, with API-aware inspection. JSON bodies are inspected value by
// value from the exchange's parsed body, values the spec pins down
// (numbers, booleans, enums, UUIDs, dates, e-mails) are skipped, an exact
// prefilter derived from the loaded rules decides most benign strings
// without a Coraza transaction, XML with a DTD is refused, and libinjection
// gives a second opinion on every JSON string and query parameter.
package waf

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/libinjection-go"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Config is the waf section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// ParanoiaLevel is the CRS paranoia level, 1 to 4. Default 1.
	ParanoiaLevel int `yaml:"paranoia_level,omitempty" json:"paranoia_level,omitempty"`
	// InboundThreshold is the anomaly score that blocks a request. Default 5.
	InboundThreshold int `yaml:"inbound_threshold,omitempty" json:"inbound_threshold,omitempty"`
	// OutboundThreshold is the anomaly score that withholds an answer
	// (CRS's outbound threshold), see InspectResponses. Default 4.
	OutboundThreshold int `yaml:"outbound_threshold,omitempty" json:"outbound_threshold,omitempty"`
	// InspectResponses runs CRS's outbound rules (RESPONSE-950..956: SQL,
	// Java, PHP, IIS, ASP.NET and Ruby errors and source code, directory
	// listings, web shells) on the upstream's answers, in the pipeline
	// step waf.response. Default true.
	InspectResponses *bool `yaml:"inspect_responses,omitempty" json:"inspect_responses,omitempty"`
	// MaxResponseInspectBytes is how much of an answer is inspected: the
	// first MaxResponseInspectBytes bytes of a larger one (after gzip or
	// deflate decoding). Default 256KiB, at most 64MiB.
	MaxResponseInspectBytes config.ByteSize `yaml:"max_response_inspect_bytes,omitempty" json:"max_response_inspect_bytes,omitempty"`
	// ResponseContentTypes are the answer media types whose body is
	// inspected ("type/subtype", "type/*", "application/*+json"); an
	// answer without a Content-Type is inspected too. Default
	// DefaultResponseContentTypes.
	ResponseContentTypes []string `yaml:"response_content_types,omitempty" json:"response_content_types,omitempty"`
	// DetectionOnly records matches as observations and never blocks.
	// Default false.
	DetectionOnly bool `yaml:"detection_only,omitempty" json:"detection_only,omitempty"`
	// RulesFile is a file of extra SecLang rules loaded after the CRS.
	// Default none.
	RulesFile string `yaml:"rules_file,omitempty" json:"rules_file,omitempty"`
	// Libinjection turns the libinjection second opinion on. Default true.
	Libinjection *bool `yaml:"libinjection,omitempty" json:"libinjection,omitempty"`
	// Exclusions switch rules off for some operations. Default none.
	Exclusions []Exclusion `yaml:"exclusions,omitempty" json:"exclusions,omitempty"`
}

// Exclusion switches CRS rules off, for the operations listed (all when
// empty): by rule id, by tag, or for one target only.
type Exclusion struct {
	// Operations are operation ids; empty means every operation.
	Operations []string `yaml:"operations,omitempty" json:"operations,omitempty"`
	// Rules are rule ids (942100) or ranges (942100-942999).
	Rules []string `yaml:"rules,omitempty" json:"rules,omitempty"`
	// Tags are CRS tags such as attack-sqli.
	Tags []string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// Targets limit the exclusion to these targets, such as ARGS:q,
	// ARGS:json.description (or ARGS:description, which also names the
	// top-level JSON field), REQUEST_HEADERS:user-agent, a collection
	// (REQUEST_COOKIES) or a ModSecurity-style regular expression
	// (ARGS:/^json\.items\.\d+\.note$/); empty means every target. Targets
	// without rules or tags take the targets out of every rule.
	Targets []string `yaml:"targets,omitempty" json:"targets,omitempty"`
}

// Guard is the waf request guard of one API and config generation.
type Guard struct {
	waf   coraza.WAF
	rules map[int]*crsRule
	// Prefilter links by the collection they read.
	argLinks, pathLinks, nameLinks, cookieLinks, allHeaderLinks []*crsLink
	// anyArgLinks and anyNameLinks are every value link reading
	// arguments or argument names, for values outside sigma.
	anyArgLinks, anyNameLinks []*crsLink
	// gates is the literal automaton of every regexp's gate.
	gates       *gateSet
	headerLinks map[string][]*crsLink
	pl          int
	threshold   int
	observe     bool
	libinj      bool
	// answers is set when the waf.response step inspects answers.
	answers bool
	excl    []exclusion
	spec    *openapi.Spec
	pins    map[*openapi.Operation]*opPins
	// valueMemo remembers the prefilter's answer for short argument
	// values and names (they repeat: JSON keys, codes, labels); it is a
	// pure function of the rule set and the value.
	valueMemo  sync.Map
	valueMemoN atomic.Int64
	// headerMemo remembers the prefilter's answer for header values
	// (tokens, hosts repeat), bounded like the envelope cache.
	headerMemo  sync.Map
	headerMemoN atomic.Int64

	envMu     sync.Mutex
	envelopes map[string]envelopeMatch
}

type exclusion struct {
	ops     map[string]bool
	lo, hi  []int
	tags    map[string]bool
	targets []target
}

// target is one exclusion target: a collection (ARGS stands for query,
// path and body arguments) and a key: "" for the whole collection, a
// lower-case name, or a regular expression.
type target struct {
	col string
	key string
	re  *regexp.Regexp
}

// matches reports whether the match location col:key (key lower-case) is
// this target.
func (t target) matches(col, key string) bool {
	switch {
	case t.col == col:
	case t.col == "ARGS" && (col == "ARGS_GET" || col == "ARGS_POST" || col == "ARGS_PATH"):
	case t.col == "ARGS_NAMES" && (col == "ARGS_GET_NAMES" || col == "ARGS_POST_NAMES"):
	default:
		return false
	}
	switch {
	case t.re != nil:
		return t.re.MatchString(key)
	case t.key == "" || t.key == key:
		return true
	}
	// A body field named as a plain argument: ARGS:description is also
	// the JSON field json.description (Coraza's name for it).
	return (col == "ARGS" || col == "ARGS_POST" || col == "ARGS_NAMES" || col == "ARGS_POST_NAMES") &&
		strings.HasPrefix(key, "json.") && key[len("json."):] == t.key
}

const maxEnvelopes = 4096

// New builds the guard: the Coraza WAF with the CRS, the prefilter and
// the per-operation pins, all once per config generation.
func New(b pipeline.Build) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	return newGuard(cfg, b.Spec)
}

// settle applies the section's defaults and checks the settings the
// request and answer steps share.
func (cfg *Config) settle() error {
	if err := cfg.Common.Validate(); err != nil {
		return err
	}
	if cfg.ParanoiaLevel == 0 {
		cfg.ParanoiaLevel = 1
	}
	if cfg.ParanoiaLevel < 1 || cfg.ParanoiaLevel > 4 {
		return fmt.Errorf("paranoia_level: must be 1 to 4, not %d", cfg.ParanoiaLevel)
	}
	if cfg.InboundThreshold == 0 {
		cfg.InboundThreshold = 5
	}
	if cfg.OutboundThreshold == 0 {
		cfg.OutboundThreshold = 4
	}
	if cfg.InboundThreshold < 1 {
		return fmt.Errorf("inbound_threshold: must be at least 1, not %d", cfg.InboundThreshold)
	}
	if cfg.OutboundThreshold < 1 {
		return fmt.Errorf("outbound_threshold: must be at least 1, not %d", cfg.OutboundThreshold)
	}
	return nil
}

// compileExclusions compiles the section's exclusions, naming the bad one.
func compileExclusions(es []Exclusion) ([]exclusion, error) {
	var out []exclusion
	for i, e := range es {
		ex, err := compileExclusion(e)
		if err != nil {
			return nil, fmt.Errorf("exclusions[%d]: %w", i, err)
		}
		out = append(out, ex)
	}
	return out, nil
}

func newGuard(cfg Config, spec *openapi.Spec) (*Guard, error) {
	if err := cfg.settle(); err != nil {
		return nil, err
	}
	answers, err := answerSettings(cfg)
	if err != nil {
		return nil, err
	}
	excl, err := compileExclusions(cfg.Exclusions)
	if err != nil {
		return nil, err
	}
	g := &Guard{pl: cfg.ParanoiaLevel, threshold: cfg.InboundThreshold, observe: cfg.DetectionOnly,
		libinj: cfg.Libinjection == nil || *cfg.Libinjection, spec: spec, excl: excl,
		pins: map[*openapi.Operation]*opPins{}, envelopes: map[string]envelopeMatch{}, rules: map[int]*crsRule{}, answers: answers.on}
	extra := ""
	if cfg.RulesFile != "" {
		data, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("rules_file: %w", err)
		}
		extra = string(data)
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives(cfg, extra)))
	if err != nil {
		return nil, fmt.Errorf("loading the rule set: %w", err)
	}
	g.waf = w
	if err := g.loadPrefilter(extra); err != nil {
		return nil, err
	}
	if spec != nil {
		for _, op := range spec.Operations {
			g.pins[op] = pinsFor(spec, op)
		}
	}
	return g, nil
}

// directives is the SecLang apiguard loads: engine in detection mode
// (apiguard scores and decides), no body access (apiguard feeds the
// parsed values), CRS settings, the CRS request rules, extra rules.
func directives(cfg Config, extra string) string {
	return fmt.Sprintf(`SecRuleEngine DetectionOnly
SecRxPreFilter On
SecRequestBodyAccess Off
SecResponseBodyAccess Off
SecAuditEngine Off
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"
SecAction "id:900200,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
SecAction "id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4250"
Include @owasp_crs/REQUEST-*.conf
%s
%s
`, cfg.ParanoiaLevel, cfg.InboundThreshold, cfg.OutboundThreshold, apiRules, extra)
}

// loadPrefilter parses the same rules Coraza loaded and keeps, for the
// prefilter, every link of a scoring rule at or below the paranoia level
// that reads a per-value collection and that some string over sigma could
// match.
func (g *Guard) loadPrefilter(extra string) error {
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/REQUEST-*.conf")
	if err != nil {
		return fmt.Errorf("loading the rule set: %w", err)
	}
	var all []*crsRule
	for _, f := range files {
		data, err := fs.ReadFile(coreruleset.FS, f)
		if err != nil {
			return fmt.Errorf("loading the rule set: %w", err)
		}
		rs, err := parseRules(string(data), coreruleset.FS, "@owasp_crs")
		if err != nil {
			return fmt.Errorf("loading the rule set: %w", err)
		}
		all = append(all, rs...)
	}
	own, err := parseRules(apiRules, coreruleset.FS, "")
	if err != nil {
		return fmt.Errorf("loading apiguard's rules: %w", err)
	}
	all = append(all, own...)
	rs, err := parseRules(extra, os.DirFS("/"), "")
	if err != nil {
		return fmt.Errorf("rules_file: %w", err)
	}
	for _, r := range rs {
		r.paranoia = 0 // extra rules always apply
		if r.severity == "" {
			r.severity = "CRITICAL"
		}
	}
	all = append(all, rs...)
	g.headerLinks = map[string][]*crsLink{}
	var gates []*litGate
	for _, r := range all {
		for _, l := range r.links {
			for _, gt := range []*litGate{l.gate, l.onSigma.gateOf(), l.onSigma0.gateOf()} {
				if gt != nil {
					gates = append(gates, gt)
				}
			}
		}
	}
	g.gates = newGateSet(gates)
	for _, r := range all {
		if r.id != 0 {
			g.rules[r.id] = r
		}
		if r.severity == "" || r.paranoia > g.pl || optionalCheck(r) {
			continue
		}
		for _, l := range r.links {
			l.analyse()
			if !l.value {
				continue
			}
			var args, path, names, cookies bool
			for _, v := range l.vars {
				col, key, _ := strings.Cut(v, ":")
				switch strings.ToUpper(col) {
				case "ARGS", "ARGS_GET", "ARGS_POST", "ARGS_PATH", "XML", "REQUEST_BODY":
					args = true
				case "REQUEST_FILENAME", "REQUEST_BASENAME", "REQUEST_URI", "REQUEST_URI_RAW":
					path = true
				case "ARGS_NAMES", "ARGS_GET_NAMES", "ARGS_POST_NAMES":
					names = true
				case "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES":
					cookies = true
				case "REQUEST_HEADERS":
					if !l.sigmaLive {
						break
					}
					if key == "" {
						g.allHeaderLinks = appendOnce(g.allHeaderLinks, l)
					} else {
						k := http.CanonicalHeaderKey(key)
						g.headerLinks[k] = appendOnce(g.headerLinks[k], l)
					}
				}
			}
			if args {
				g.anyArgLinks = append(g.anyArgLinks, l)
			}
			if names {
				g.anyNameLinks = append(g.anyNameLinks, l)
			}
			if !l.sigmaLive {
				continue
			}
			if args {
				g.argLinks = append(g.argLinks, l)
			}
			if args || path {
				g.pathLinks = append(g.pathLinks, l)
			}
			if names {
				g.nameLinks = append(g.nameLinks, l)
			}
			if cookies {
				g.cookieLinks = append(g.cookieLinks, l)
			}
		}
	}
	return nil
}

func compileExclusion(e Exclusion) (exclusion, error) {
	ex := exclusion{ops: map[string]bool{}, tags: map[string]bool{}}
	for _, o := range e.Operations {
		ex.ops[o] = true
	}
	for _, r := range e.Rules {
		a, b, isRange := strings.Cut(r, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return ex, fmt.Errorf("rules: %q is not a rule id or range", r)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo {
				return ex, fmt.Errorf("rules: %q is not a rule id or range", r)
			}
		}
		ex.lo, ex.hi = append(ex.lo, lo), append(ex.hi, hi)
	}
	for _, t := range e.Tags {
		ex.tags[t] = true
	}
	for _, t := range e.Targets {
		col, key, _ := strings.Cut(t, ":")
		tg := target{col: strings.ToUpper(strings.TrimSpace(col)), key: strings.ToLower(key)}
		if tg.col == "" || strings.ContainsAny(tg.col, " |!&") {
			return ex, fmt.Errorf("targets: %q is not COLLECTION or COLLECTION:key", t)
		}
		if len(key) >= 2 && key[0] == '/' && key[len(key)-1] == '/' {
			re, err := regexp.Compile("(?i)" + key[1:len(key)-1])
			if err != nil {
				return ex, fmt.Errorf("targets: %q: %v", t, err)
			}
			tg.key, tg.re = "", re
		}
		ex.targets = append(ex.targets, tg)
	}
	if len(ex.lo) == 0 && len(ex.tags) == 0 && len(ex.targets) == 0 {
		return ex, fmt.Errorf("rules, tags or targets: at least one is required (an exclusion of everything would switch the waf off)")
	}
	return ex, nil
}

// input is one value the guard inspects.
type input struct {
	col   string // ARGS_GET, ARGS_POST, ARGS_PATH, REQUEST_HEADERS, REQUEST_COOKIES
	name  string
	value string
}

// shape is what the envelope key needs besides the headers.
type shape struct {
	path   string
	qnames []string
}

// Request inspects the request. When answers are inspected, the content
// codings the client accepts are narrowed to those the answer step can
// decode (gzip, deflate, identity), so that a client cannot ask for an
// answer the waf cannot read.
func (g *Guard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	v, err := g.request(ctx, x)
	if g.answers && err == nil && v.Action != pipeline.Block {
		narrowAcceptEncoding(x.Request.Header)
	}
	return v, err
}

func (g *Guard) request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	in, sh, v, done := g.collect(x)
	if done {
		return v, nil
	}
	r := x.Request
	// libinjection's second opinion on query and body values.
	if g.libinj {
		for _, i := range in {
			if i.col != "ARGS_GET" && i.col != "ARGS_POST" {
				continue
			}
			li := g.libinjection(i.value)
			if li.sqli {
				if v, hit := g.libinjectionHit(x, "sqli", i, li.fp); hit {
					return v, nil
				}
			}
			if li.xss {
				if v, hit := g.libinjectionHit(x, "xss", i, ""); hit {
					return v, nil
				}
			}
		}
	}
	hdrKey := g.headerInputs(r, &in)
	// Fast path: every value cleared by the prefilter, the envelope known.
	if g.allClean(in) {
		key := r.Method + " " + r.Proto + " " + sh.path + "?" + strings.Join(sh.qnames, "&") + "\n" + hdrKey
		m, ok := g.envelope(key)
		if !ok {
			m = g.runEnvelope(x, r, sh.path, sh.qnames)
			g.storeEnvelope(key, m)
		}
		return g.decide(x, m.ids, m.where), nil
	}
	return g.full(x, r, in), nil
}

// collect gathers the values to inspect: path and query parameters and
// the body's values, without those the spec pins down.
func (g *Guard) collect(x *pipeline.Exchange) ([]input, shape, pipeline.Verdict, bool) {
	r := x.Request
	var pins *opPins
	if x.Operation != nil {
		pins = g.pins[x.Operation]
	}
	in := make([]input, 0, 16)
	skipped := 0
	sh := shape{path: r.URL.Path}
	if x.Operation != nil {
		sh.path = x.Operation.Path
	}
	for _, p := range x.PathParams {
		if pins != nil {
			if pn, ok := pins.params["path:"+p.Name]; ok && pn.ok(p.Value) {
				skipped++
				sh.path = strings.Replace(sh.path, "{"+p.Name+"}", canonical(pn), 1)
				continue
			}
		}
		in = append(in, input{"ARGS_PATH", p.Name, p.Value})
		if d, ok := decodeAgain(p.Value); ok {
			in = append(in, input{"ARGS_PATH", p.Name + ".decoded", d})
		}
		sh.path = strings.Replace(sh.path, "{"+p.Name+"}", "v", 1)
	}
	if x.Operation == nil {
		// No template: the path itself is a value.
		sh.path = "/v"
		in = append(in, input{"REQUEST_FILENAME", "path", r.URL.Path})
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, sh, g.block("waf.bad_query", 400, "The query string is malformed.", "query: "+events.RedactText(err.Error(), 120)), true
	}
	for name, vals := range q {
		sh.qnames = append(sh.qnames, name)
		in = append(in, input{"ARGS_GET_NAMES", name, name})
		for _, v := range vals {
			if pins != nil {
				if pn, ok := pins.params["query:"+name]; ok && pn.ok(v) {
					skipped++
					continue
				}
			}
			in = append(in, input{"ARGS_GET", name, v})
			if d, ok := decodeAgain(v); ok {
				in = append(in, input{"ARGS_GET", name + ".decoded", d})
			}
		}
	}
	sort.Strings(sh.qnames)
	if v, done := g.body(x, pins, &in, &skipped); done {
		return nil, sh, v, true
	}
	return in, sh, pipeline.Verdict{}, false
}

func canonical(p pin) string {
	switch p.kind {
	case "uuid":
		return "00000000-0000-0000-0000-000000000000"
	case "date":
		return "2000-01-01"
	}
	return "1"
}

// headerInputs adds header and cookie values and returns the envelope
// key part for headers: values the prefilter clears are replaced by "v".
func (g *Guard) headerInputs(r *http.Request, in *[]input) string {
	names := make([]string, 0, len(r.Header)+1)
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Host: ")
	b.WriteString(g.keyValue("Host", r.Host))
	for _, k := range names {
		for _, v := range r.Header[k] {
			b.WriteString("\n" + k + ": ")
			if k == "Cookie" {
				for _, c := range r.Cookies() {
					*in = append(*in, input{"REQUEST_COOKIES", c.Name, c.Value}, input{"REQUEST_COOKIES_NAMES", c.Name, c.Name})
					b.WriteString(c.Name + "=v; ")
				}
				continue
			}
			b.WriteString(g.keyValue(k, v))
		}
	}
	return b.String()
}

// keyValue is a header value as it enters the envelope key: a value the
// prefilter clears for every rule reading that header becomes "v".
func (g *Guard) keyValue(name, v string) string {
	if !inSigma(v) {
		return v
	}
	k := name + "\x00" + v
	if c, ok := g.headerMemo.Load(k); ok {
		return c.(string)
	}
	out := v
	sc := g.gates.get()
	cleared := residual(sc, g.allHeaderLinks, v) == no && residual(sc, g.headerLinks[name], v) == no
	g.gates.put(sc)
	if cleared {
		out = "v"
	}
	if g.headerMemoN.Add(1) > maxEnvelopes {
		g.headerMemo.Clear()
		g.headerMemoN.Store(0)
	}
	g.headerMemo.Store(k, out)
	return out
}

func appendOnce(ls []*crsLink, l *crsLink) []*crsLink {
	for _, x := range ls {
		if x == l {
			return ls
		}
	}
	return append(ls, l)
}

// optionalCheck reports whether a rule only runs when an optional CRS
// setting (tx.max_num_args, tx.arg_length, ...) is set; apiguard sets
// none of them.
func optionalCheck(r *crsRule) bool {
	for _, l := range r.links {
		if len(l.vars) == 1 && strings.HasPrefix(strings.ToUpper(l.vars[0]), "&TX:") && l.op == "eq" && l.arg == "1" && !l.negate {
			return true
		}
	}
	return false
}

// allClean reports whether the prefilter clears every input: its value
// and the argument name Coraza would see for it.
func (g *Guard) allClean(in []input) bool {
	sc := g.gates.get()
	defer g.gates.put(sc)
	for _, i := range in {
		if !g.clean(sc, i.col, i.value) {
			return false
		}
		switch i.col {
		case "ARGS_POST", "ARGS_GET":
			if !g.clean(sc, "ARGS_POST_NAMES", i.name) {
				return false
			}
		case "ARGS_PATH":
			if !g.clean(sc, "ARGS_POST_NAMES", "path."+i.name) {
				return false
			}
		}
	}
	return true
}

// clean reports whether no rule reading col can match v. Values over
// sigma are checked against the sigma-live links; other argument values
// and names against every link reading them, with the transformations
// computed as Coraza does (any it cannot compute answers "maybe").
func (g *Guard) clean(sc *scan, col, v string) bool {
	if len(v) > maxMemoValue {
		return g.cleanNow(sc, col, v)
	}
	k := memoKey{col, v}
	if c, ok := g.valueMemo.Load(k); ok {
		return c.(bool)
	}
	c := g.cleanNow(sc, col, v)
	if g.valueMemoN.Add(1) > maxValueMemo {
		g.valueMemo.Clear()
		g.valueMemoN.Store(0)
	}
	g.valueMemo.Store(k, c)
	return c
}

// memoKey is a value and the collection it was checked for.
type memoKey struct{ col, v string }

// maxMemoValue is the longest value the memo keeps; maxValueMemo bounds
// its entries (it is cleared when full).
const (
	maxMemoValue = 128
	maxValueMemo = 16384
)

func (g *Guard) cleanNow(sc *scan, col, v string) bool {
	var links []*crsLink
	sig := inSigma(v)
	switch col {
	case "ARGS_GET_NAMES", "ARGS_POST_NAMES":
		links = g.nameLinks
		if !sig {
			links = g.anyNameLinks
		}
	case "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES":
		links = g.cookieLinks
	case "ARGS_PATH", "REQUEST_FILENAME":
		links = g.pathLinks
	default:
		links = g.argLinks
		if !sig && col == "ARGS_POST" {
			links = g.anyArgLinks
		}
	}
	if !sig && (col != "ARGS_POST" && col != "ARGS_POST_NAMES" && col != "ARGS_GET_NAMES") {
		return false
	}
	return residual(sc, links, v) == no
}

// residual runs sigma-live links on a sigma string.
func residual(sc *scan, links []*crsLink, v string) tri {
	for _, l := range links {
		if t := l.evalValue(sc, v); t != no {
			return t
		}
	}
	return no
}

// envelopeMatch is what Coraza found in a request's envelope: the scoring
// rules matched and where (for the event), remembered per envelope.
type envelopeMatch struct {
	ids   []int
	where []string
}

func (g *Guard) envelope(key string) (envelopeMatch, bool) {
	g.envMu.Lock()
	defer g.envMu.Unlock()
	m, ok := g.envelopes[key]
	return m, ok
}

func (g *Guard) storeEnvelope(key string, m envelopeMatch) {
	g.envMu.Lock()
	defer g.envMu.Unlock()
	if len(g.envelopes) >= maxEnvelopes {
		clear(g.envelopes)
	}
	g.envelopes[key] = m
}

// runEnvelope runs Coraza on the request's envelope with every cleared
// value replaced by a neutral one, and returns the scoring rules matched
// and where.
func (g *Guard) runEnvelope(x *pipeline.Exchange, r *http.Request, path string, qnames []string) envelopeMatch {
	uri := path
	if len(qnames) > 0 {
		parts := make([]string, len(qnames))
		for i, n := range qnames {
			parts[i] = n + "=v"
		}
		uri += "?" + strings.Join(parts, "&")
	}
	tx := g.waf.NewTransaction()
	defer tx.Close()
	tx.ProcessConnection("192.0.2.1", 40000, "192.0.2.2", 80)
	tx.ProcessURI(uri, r.Method, r.Proto)
	tx.AddRequestHeader("Host", g.keyValue("Host", r.Host))
	for k, vs := range r.Header {
		for _, v := range vs {
			if k == "Cookie" {
				continue
			}
			tx.AddRequestHeader(k, g.keyValue(k, v))
		}
	}
	for _, c := range r.Cookies() {
		tx.AddRequestHeader("Cookie", c.Name+"=v")
	}
	tx.ProcessRequestHeaders()
	_, _ = tx.ProcessRequestBody()
	ids, where := g.matches(x, tx.MatchedRules())
	return envelopeMatch{ids: ids, where: where}
}

// full runs Coraza on the whole request.
func (g *Guard) full(x *pipeline.Exchange, r *http.Request, in []input) pipeline.Verdict {
	tx := g.waf.NewTransaction()
	defer tx.Close()
	host, port := splitHostPort(r.RemoteAddr)
	tx.ProcessConnection(host, port, "192.0.2.2", 80)
	tx.ProcessURI(r.URL.RequestURI(), r.Method, r.Proto)
	tx.AddRequestHeader("Host", r.Host)
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	tx.ProcessRequestHeaders()
	for _, i := range in {
		switch i.col {
		case "ARGS_POST":
			tx.AddPostRequestArgument(i.name, i.value)
		case "ARGS_PATH":
			tx.AddGetRequestArgument("path."+i.name, i.value)
		case "REQUEST_FILENAME":
			tx.AddGetRequestArgument("path", i.value)
		case "ARGS_GET":
			if strings.HasSuffix(i.name, ".decoded") {
				tx.AddGetRequestArgument(i.name, i.value)
			}
		}
	}
	_, _ = tx.ProcessRequestBody()
	ids, where := g.matches(x, tx.MatchedRules())
	return g.decide(x, ids, where)
}

func splitHostPort(a string) (string, int) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "192.0.2.1", 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// matches returns the scoring rules matched (at or below the paranoia
// level, not excluded for the operation) and where they matched.
func (g *Guard) matches(x *pipeline.Exchange, ms []types.MatchedRule) ([]int, []string) {
	var ids []int
	var where []string
	for _, m := range ms {
		id := m.Rule().ID()
		r := g.rules[id]
		if r == nil || r.severity == "" || r.paranoia > g.pl {
			continue
		}
		kept := false
		for _, d := range m.MatchedDatas() {
			target := d.Variable().Name() + ":" + strings.ToLower(d.Key())
			if g.excluded(x, r, target) || valueNotFile(x, id) {
				continue
			}
			if !kept {
				where = append(where, fmt.Sprintf("%d@%s=%q", id, target, events.RedactText(d.Value(), 40)))
			}
			kept = true
		}
		if kept || (len(m.MatchedDatas()) == 0 && !g.excluded(x, r, "")) {
			ids = append(ids, id)
		}
	}
	return ids, where
}

// ruleRestrictedExtension is CRS 920440: the request's last path segment
// ends in an extension of the restricted list (.bak, .sql, .com, ...).
const ruleRestrictedExtension = 920440

// valueNotFile reports whether a match of rule id is about a file
// extension in a last path segment the spec says is a parameter value
// (/users/{email} with alice@example.com is not a .com file). Every
// argument rule still inspects the value, as path.<name>.
func valueNotFile(x *pipeline.Exchange, id int) bool {
	if id != ruleRestrictedExtension || x.Operation == nil {
		return false
	}
	p := x.Operation.Path
	return strings.Contains(p[strings.LastIndexByte(p, '/')+1:], "{")
}

func (g *Guard) excluded(x *pipeline.Exchange, r *crsRule, target string) bool {
	return excludedBy(g.excl, x.OperationName(), r, target)
}

// excludedBy reports whether an exclusion switches rule r off for the
// operation op and the target (COLLECTION:key, lower-case key; "" when
// the match has no target).
func excludedBy(excl []exclusion, op string, r *crsRule, target string) bool {
	for _, e := range excl {
		if len(e.ops) > 0 && !e.ops[op] {
			continue
		}
		// Targets alone take the targets out of every rule.
		hit := len(e.lo) == 0 && len(e.tags) == 0
		for i := range e.lo {
			if r.id >= e.lo[i] && r.id <= e.hi[i] {
				hit = true
			}
		}
		for _, t := range r.tags {
			if e.tags[t] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		if len(e.targets) == 0 {
			return true
		}
		col, key, _ := strings.Cut(target, ":")
		for _, t := range e.targets {
			if t.matches(col, key) {
				return true
			}
		}
	}
	return false
}

var severityScore = map[string]int{"CRITICAL": 5, "ERROR": 4, "WARNING": 3, "NOTICE": 2}

// decide turns the matched rules into a verdict.
func (g *Guard) decide(x *pipeline.Exchange, ids []int, where []string) pipeline.Verdict {
	if len(ids) == 0 {
		return pipeline.Verdict{}
	}
	score, top, topScore := 0, 0, 0
	for _, id := range ids {
		s := severityScore[g.rules[id].severity]
		score += s
		if s > topScore {
			top, topScore = id, s
		}
	}
	if score < g.threshold {
		return pipeline.Verdict{}
	}
	rule := "waf.anomaly"
	if topScore >= g.threshold {
		rule = "waf." + strconv.Itoa(top)
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	detail := fmt.Sprintf("score %d (threshold %d, paranoia %d); rules %s", score, g.threshold, g.pl, strings.Join(strs, ","))
	if len(where) > 0 {
		detail += "; " + strings.Join(where, "; ")
	}
	return g.block(rule, http.StatusForbidden, "The request was refused by the web application firewall.", events.RedactText(detail, 400))
}

func (g *Guard) block(rule string, status int, title, detail string) pipeline.Verdict {
	v := pipeline.Verdict{Action: pipeline.Block, Status: status, Rule: rule, Category: "API8", Title: title, Detail: detail}
	if g.observe {
		v.Action = pipeline.Observe
	}
	return v
}

// libOpinion is libinjection's answer for one value.
type libOpinion struct {
	sqli, xss bool
	fp        string
}

// libinjection asks libinjection about v; answers for short values are
// remembered in the value memo (they are pure functions of v).
func (g *Guard) libinjection(v string) libOpinion {
	if len(v) > maxMemoValue {
		return libOpinionOf(v)
	}
	k := memoKey{"libinjection", v}
	if c, ok := g.valueMemo.Load(k); ok {
		return c.(libOpinion)
	}
	o := libOpinionOf(v)
	if g.valueMemoN.Add(1) > maxValueMemo {
		g.valueMemo.Clear()
		g.valueMemoN.Store(0)
	}
	g.valueMemo.Store(k, o)
	return o
}

func libOpinionOf(v string) libOpinion {
	var o libOpinion
	o.sqli, o.fp = libinjection.IsSQLi(v)
	o.xss = libinjection.IsXSS(v)
	return o
}

// libinjectionHit blocks on libinjection's opinion unless an exclusion
// for the matching CRS rule (942100 for SQLi, 941100 for XSS) applies.
func (g *Guard) libinjectionHit(x *pipeline.Exchange, kind string, i input, fp string) (pipeline.Verdict, bool) {
	id := 942100
	if kind == "xss" {
		id = 941100
	}
	if r := g.rules[id]; r != nil && g.excluded(x, r, i.col+":"+strings.ToLower(i.name)) {
		return pipeline.Verdict{}, false
	}
	detail := fmt.Sprintf("libinjection %s %s at %s:%s=%q", kind, fp, i.col, i.name, events.RedactText(i.value, 40))
	return g.block("waf.libinjection_"+kind, http.StatusForbidden, "The request was refused by the web application firewall.", detail), true
}

// fullOnly inspects x with Coraza on every value, without the prefilter
// (tests compare the two).
func (g *Guard) fullOnly(x *pipeline.Exchange) pipeline.Verdict {
	in, _, v, done := g.collect(x)
	if done {
		return v
	}
	g.headerInputs(x.Request, &in)
	return g.full(x, x.Request, in)
}

// fastDecided reports whether the prefilter clears every value of x.
func (g *Guard) fastDecided(x *pipeline.Exchange) bool {
	in, _, _, done := g.collect(x)
	if done {
		return false
	}
	g.headerInputs(x.Request, &in)
	return g.allClean(in)
}

// decodeAgain percent-decodes a value that is still percent-encoded after
// the URL's own decoding (double encoding), so the decoded form is
// inspected too.
func decodeAgain(v string) (string, bool) {
	if !strings.Contains(v, "%") {
		return "", false
	}
	d := v
	for i := 0; i < 3 && strings.Contains(d, "%"); i++ {
		n, err := url.PathUnescape(d)
		if err != nil || n == d {
			break
		}
		d = n
	}
	return d, d != v
}
