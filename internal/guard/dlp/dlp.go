// Package dlp is the data-leak guard (OWASP API3): it scans upstream
// answers for sensitive data — card numbers (Luhn), IBANs (mod 97), US
// SSNs, e-mail addresses, phone numbers, JWTs, private keys, cloud and VCS
// tokens, password hashes — and, per detector and per field, detects,
// masks or blocks. JSON answers are walked value by value in one pass;
// other text answers are scanned as text. Answers above max_buffer are
// passed with an event, blocked, or scanned in chunks while they stream.
//
// The guard is off unless the API has a dlp section.
package dlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Over-limit policies.
const (
	OverLimitPass   = "pass"
	OverLimitBlock  = "block"
	OverLimitStream = "stream"
)

// Rule ids besides "dlp.<kind>".
const (
	RuleUnscanned = "dlp.unscanned"
	RuleTooLarge  = "dlp.too_large"
)

// DefaultDetectors are the detector actions used when the section does
// not name them.
var DefaultDetectors = map[string]string{
	"card": "mask", "ssn": "mask", "iban": "detect", "email": "off", "phone": "off", "jwt": "off",
	"private_key": "mask", "aws_access_key": "mask", "aws_secret_key": "mask", "gcp_api_key": "mask",
	"github_token": "mask", "slack_token": "mask", "password_hash": "mask",
}

// DefaultContentTypes are the answer media types scanned by default.
var DefaultContentTypes = []string{"application/json", "application/*+json", "text/plain", "text/csv"}

// Config is the dlp section of an API.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Detectors sets the action of each detector: off, detect, mask or
	// block. Unnamed detectors keep DefaultDetectors.
	Detectors map[string]string `yaml:"detectors"`
	// Fields are rules for values by property name ("ssn", anywhere in
	// the answer) or JSON pointer ("/items/*/ssn", "*" is any key or
	// index): allow (not scanned), detect, mask or block, whatever the
	// value holds. A rule on an object or array covers everything in it.
	Fields map[string]string `yaml:"fields"`
	// Operations add field rules per spec operationId, or skip scanning.
	Operations map[string]OperationConfig `yaml:"operations"`
	// ContentTypes are the media types scanned ("type/subtype",
	// "type/*", "application/*+json"). JSON types are walked value by
	// value, others scanned as text. Default DefaultContentTypes.
	ContentTypes []string `yaml:"content_types"`
	// MaxBuffer is the largest answer buffered and scanned whole.
	// Default 1MiB.
	MaxBuffer config.ByteSize `yaml:"max_buffer"`
	// OverLimit is what happens to larger answers, and to answers in a
	// content coding other than gzip: pass (default, with a dlp.unscanned
	// event), block (502) or stream (scanned as text in chunks while
	// streaming; block findings are masked instead).
	OverLimit string `yaml:"over_limit" jsonschema:"enum=pass,enum=block,enum=stream"`
}

// OperationConfig are the rules of one operation.
type OperationConfig struct {
	// Skip turns scanning off for the operation.
	Skip bool `yaml:"skip"`
	// Fields are added to (and override) the API's field rules.
	Fields map[string]string `yaml:"fields"`
}

// guard is the "dlp" response step.
type guard struct {
	acts      [numKinds]action
	enabled   uint32
	api       *ruleset
	ops       map[string]*ruleset
	types     []string
	maxBuffer int64
	overLimit string
	monitor   bool
	emit      func(events.Event)
	now       func() time.Time
}

func init() {
	pipeline.Register(pipeline.Registration{Name: "dlp", Section: "dlp", New: New})
}

// New builds the guard from the API's dlp section; nil when absent.
func New(b pipeline.Build) (any, error) {
	var c Config
	present, err := b.Decode(&c)
	if err != nil || !present {
		return nil, err
	}
	g, err := compile(c)
	if err != nil {
		return nil, err
	}
	if b.Spec != nil {
		for id := range c.Operations {
			found := false
			for _, op := range b.Spec.Operations {
				if op.ID == id {
					found = true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("operations.%s: no operation with this operationId in the spec", id)
			}
		}
	}
	g.emit, g.now = b.Services.Emit, b.Services.Now
	return g, nil
}

func compile(c Config) (*guard, error) {
	if err := c.Common.Validate(); err != nil {
		return nil, err
	}
	g := &guard{maxBuffer: int64(c.MaxBuffer), overLimit: c.OverLimit, monitor: c.Mode == pipeline.Monitor, ops: map[string]*ruleset{}}
	for name, a := range DefaultDetectors {
		k, _ := kindByName(name)
		g.acts[k], _ = parseAction(a, false)
	}
	for name, a := range c.Detectors {
		k, ok := kindByName(name)
		if !ok {
			return nil, fmt.Errorf("detectors.%s: unknown detector (one of %s)", name, strings.Join(detectorNames(), ", "))
		}
		act, ok := parseAction(a, false)
		if !ok {
			return nil, fmt.Errorf("detectors.%s: must be off, detect, mask or block, not %q", name, a)
		}
		g.acts[k] = act
	}
	for k := KindCard; k < KindField; k++ {
		if g.acts[k] != actOff {
			g.enabled |= 1 << k
		}
	}
	var err error
	if g.api, err = compileFields(c.Fields, nil, "fields"); err != nil {
		return nil, err
	}
	for id, oc := range c.Operations {
		rs, err := compileFields(oc.Fields, g.api, "operations."+id+".fields")
		if err != nil {
			return nil, err
		}
		rs.skip = oc.Skip
		g.ops[id] = rs
	}
	g.types = c.ContentTypes
	if g.types == nil {
		g.types = DefaultContentTypes
	}
	for i, t := range g.types {
		if !strings.Contains(t, "/") {
			return nil, fmt.Errorf("content_types[%d]: %q is not a media type", i, t)
		}
	}
	if g.maxBuffer == 0 {
		g.maxBuffer = 1 << 20
	}
	if g.maxBuffer < 1<<10 || g.maxBuffer > 64<<20 {
		return nil, fmt.Errorf("max_buffer: must be between 1KiB and 64MiB")
	}
	switch g.overLimit {
	case "":
		g.overLimit = OverLimitPass
	case OverLimitPass, OverLimitBlock, OverLimitStream:
	default:
		return nil, fmt.Errorf("over_limit: must be pass, block or stream, not %q", g.overLimit)
	}
	return g, nil
}

func detectorNames() []string {
	var out []string
	for k := KindCard; k < KindField; k++ {
		out = append(out, k.String())
	}
	return out
}

// compileFields compiles field rules over a base ruleset.
func compileFields(fields map[string]string, base *ruleset, path string) (*ruleset, error) {
	rs := &ruleset{names: map[string]action{}}
	if base != nil {
		for k, v := range base.names {
			rs.names[k] = v
		}
	}
	var ptrs []pointerRule
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic pointer order
	for _, f := range keys {
		a, ok := parseAction(fields[f], true)
		if !ok {
			return nil, fmt.Errorf("%s.%s: must be allow, detect, mask or block, not %q", path, f, fields[f])
		}
		if !strings.HasPrefix(f, "/") {
			if f == "" {
				return nil, fmt.Errorf("%s: a field name must not be empty", path)
			}
			rs.names[f] = a
			continue
		}
		var segs []string
		for s := range strings.SplitSeq(f[1:], "/") {
			segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
		ptrs = append(ptrs, pointerRule{segs: segs, act: a})
	}
	// operation pointers first: they are the more specific rules
	rs.pointers = ptrs
	if base != nil {
		rs.pointers = append(rs.pointers, base.pointers...)
	}
	return rs, nil
}

var walkers = sync.Pool{New: func() any { return &walker{} }}

// scanBody scans an answer: JSON value by value when json is true (text
// when it is not JSON after all), else as text.
func (g *guard) scanBody(body []byte, json bool, rs *ruleset) result {
	w := walkers.Get().(*walker)
	w.reset()
	w.body, w.rs, w.acts, w.enabled = body, rs, &g.acts, g.enabled
	if !json || w.scanJSON() != nil {
		w.frames, w.edits = w.frames[:0], w.edits[:0]
		w.res = result{findings: w.res.findings[:0]}
		w.scanText()
	}
	res := w.res
	res.findings = append([]finding(nil), res.findings...)
	if res.worst == actMask {
		res.out = w.apply()
	}
	w.reset()
	walkers.Put(w)
	return res
}

// mediaType returns whether ct is scanned, and whether as JSON.
func (g *guard) mediaType(ct string) (scan, json bool) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		return false, false
	}
	json = mt == "application/json" || strings.HasSuffix(mt, "+json")
	for _, t := range g.types {
		switch {
		case t == mt:
			return true, json
		case strings.HasPrefix(t, "application/*+") && strings.HasSuffix(mt, t[len("application/*"):]) && strings.HasPrefix(mt, "application/"):
			return true, json
		case strings.HasSuffix(t, "/*") && strings.HasPrefix(mt, t[:len(t)-1]):
			return true, json
		}
	}
	return false, false
}

// Response scans the answer and applies the actions.
func (g *guard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	rs := g.api
	if x.Operation != nil {
		if r, ok := g.ops[x.Operation.ID]; ok {
			rs = r
		}
	}
	if rs.skip || resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || x.Request.Method == http.MethodHead {
		return pipeline.Verdict{}, nil
	}
	scanIt, json := g.mediaType(resp.Header.Get("Content-Type"))
	if !scanIt {
		return pipeline.Verdict{}, nil
	}
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	gz := enc == "gzip" || enc == "x-gzip"
	if enc != "" && enc != "identity" && !gz {
		return g.unscannable(x, resp, "content coding "+enc, false)
	}
	body, err := x.ResponseBody(resp, g.maxBuffer)
	if errors.Is(err, pipeline.ErrResponseTooLarge) {
		return g.unscannable(x, resp, "answer larger than max_buffer", !gz)
	}
	if err != nil {
		return pipeline.Verdict{}, fmt.Errorf("reading the answer: %w", err)
	}
	data := body
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return g.unscannable(x, resp, "invalid gzip", false)
		}
		data, err = io.ReadAll(io.LimitReader(zr, g.maxBuffer+1))
		if err != nil || int64(len(data)) > g.maxBuffer {
			return g.unscannable(x, resp, "gzip answer larger than max_buffer or invalid", false)
		}
	}
	res := g.scanBody(data, json, rs)
	if res.total == 0 {
		return pipeline.Verdict{}, nil
	}
	v := pipeline.Verdict{Action: pipeline.Observe, Rule: "dlp." + res.worstK.String(), Category: "API3", Detail: describe(res)}
	switch {
	case res.worst == actBlock:
		v.Action, v.Status = pipeline.Block, http.StatusBadGateway
		v.Title = "The answer was withheld because it contained sensitive data."
	case res.worst == actMask && !g.monitor && x.Mode != pipeline.Monitor && res.out != nil:
		if gz {
			resp.Header.Del("Content-Encoding")
		}
		for _, k := range []string{"Etag", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest"} {
			delete(resp.Header, k)
		}
		x.ReplaceResponseBody(resp, res.out)
	}
	return v, nil
}

// describe summarizes findings for the event, without their values.
func describe(r result) string {
	var b strings.Builder
	for i, f := range r.findings {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.act.String())
		b.WriteByte(' ')
		b.WriteString(f.kind.String())
		if f.ptr != "" {
			b.WriteString(" at ")
			b.WriteString(events.RedactText(f.ptr, 200))
		}
	}
	if r.total > len(r.findings) {
		b.WriteString("; " + strconv.Itoa(r.total-len(r.findings)) + " more")
	}
	return b.String()
}

// unscannable applies the over-limit policy to an answer that cannot be
// buffered and scanned whole.
func (g *guard) unscannable(x *pipeline.Exchange, resp *http.Response, why string, canStream bool) (pipeline.Verdict, error) {
	switch {
	case g.overLimit == OverLimitBlock:
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadGateway, Rule: RuleTooLarge, Category: "API3",
			Title: "The answer could not be checked for sensitive data.", Detail: why}, nil
	case g.overLimit == OverLimitStream && canStream:
		resp.Body = g.newStream(x, resp.Body)
		return pipeline.Verdict{}, nil
	}
	return pipeline.Verdict{Action: pipeline.Observe, Rule: RuleUnscanned, Category: "API3", Detail: why + ": passed unscanned"}, nil
}
