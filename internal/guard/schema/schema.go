// Package schema is the positive security model: every request must match
// its operation in the OpenAPI description (parameters, content type,
// body), JSON bodies are hardened before validation (duplicate keys,
// depth, sizes), and answers are checked against the documented responses.
// Schemas are compiled once at load with a JSON Schema 2020-12 validator
// (see docs/decisions/0003-openapi-validation-library.md).
package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Config is the schema section of an API's guards.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Strict treats a missing additionalProperties as false (unknown
	// properties are refused) and refuses undocumented query parameters.
	// Default false.
	Strict bool `yaml:"strict,omitempty" json:"strict,omitempty"`
	// JSON bounds JSON bodies before validation. Defaults: max_depth 32,
	// max_keys 10000, max_array 10000, max_string 65536; the spec's
	// maxItems and maxLength take precedence when larger.
	JSON Limits `yaml:"json,omitempty" json:"json,omitempty"`
	// Response configures the check of upstream answers.
	Response ResponseConfig `yaml:"response,omitempty" json:"response,omitempty"`
}

// ResponseConfig configures response validation.
type ResponseConfig struct {
	// Mode is monitor (default: an event per drift), enforce (the answer
	// is replaced by a 502 problem) or off.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"enum=monitor,enum=enforce,enum=off"`
	// MaxBodyBytes is the largest answer body validated; larger answers
	// pass unchecked. Default 1MiB.
	MaxBodyBytes config.ByteSize `yaml:"max_body_bytes,omitempty" json:"max_body_bytes,omitempty"`
	// SampleRate is the share of answer bodies validated in monitor mode,
	// between 0 (exclusive) and 1: the first 100 answers of each
	// operation are all validated, then one in round(1/SampleRate).
	// Status codes and media types are always checked. Drift is a
	// property of the upstream's code, not of one request, so a sample
	// finds it at a fraction of the cost. Default 1 (every answer);
	// enforce mode always validates every answer.
	SampleRate float64 `yaml:"sample_rate,omitempty" json:"sample_rate,omitempty"`
}

// sampleWarmup is how many answers of each operation are validated before
// sampling starts.
const sampleWarmup = 100

// maxProblemErrors bounds the errors listed in one problem answer.
const maxProblemErrors = 20

// Validator holds the compiled validators of one API's operations.
type Validator struct {
	ops      map[*openapi.Operation]*operation
	strict   bool
	response ResponseConfig
}

// New compiles every operation of spec. strict and lim are as in Config.
func New(spec *openapi.Spec, strict bool, lim Limits) (*Validator, error) {
	const resource = "apiguard:///spec.json"
	doc, err := prepare(spec, strict)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(resource, doc); err != nil {
		return nil, fmt.Errorf("loading spec schemas: %w", err)
	}
	cp := &compiler{doc: doc, strict: strict, c: c, resource: resource, base: lim.WithDefaults()}
	v := &Validator{ops: make(map[*openapi.Operation]*operation, len(spec.Operations)), strict: strict}
	for _, op := range spec.Operations {
		o, err := cp.operation(op)
		if err != nil {
			return nil, err
		}
		v.ops[op] = o
	}
	return v, nil
}

// requestGuard is the schema.request step.
type requestGuard struct{ v *Validator }

// responseGuard is the schema.response step.
type responseGuard struct {
	v     *Validator
	every uint64                                // validate one answer body in every (after the warm-up); 1: all
	seen  map[*openapi.Operation]*atomic.Uint64 // answers per operation, when sampling
}

// sampled reports whether the answer body of op is to be validated.
func (g *responseGuard) sampled(op *openapi.Operation) bool {
	if g.every <= 1 {
		return true
	}
	c := g.seen[op]
	if c == nil {
		return true
	}
	n := c.Add(1)
	return n <= sampleWarmup || (n-sampleWarmup)%g.every == 0
}

func newGuard(b pipeline.Build, response bool) (any, error) {
	var cfg Config
	present, err := b.Decode(&cfg)
	if err != nil || !present {
		return nil, err
	}
	if err := cfg.Common.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Response.Mode {
	case "":
		cfg.Response.Mode = "monitor"
	case "monitor", "enforce", "off":
	default:
		return nil, fmt.Errorf("response.mode: must be monitor, enforce or off, not %q", cfg.Response.Mode)
	}
	if cfg.Response.MaxBodyBytes <= 0 {
		cfg.Response.MaxBodyBytes = 1 << 20
	}
	switch r := cfg.Response.SampleRate; {
	case r == 0:
		cfg.Response.SampleRate = 1
	case r < 0 || r > 1:
		return nil, fmt.Errorf("response.sample_rate: must be above 0 and at most 1, not %v", r)
	case r < 1 && cfg.Response.Mode == "enforce":
		return nil, errors.New("response.sample_rate: enforce mode validates every answer; sampling is for monitor mode")
	}
	if cfg.JSON.MaxDepth < 0 || cfg.JSON.MaxKeys < 0 || cfg.JSON.MaxArray < 0 || cfg.JSON.MaxString < 0 {
		return nil, errors.New("json: limits must not be negative")
	}
	if b.Spec == nil {
		return nil, errors.New("the schema guard needs the API's spec")
	}
	if response && cfg.Response.Mode == "off" {
		return nil, nil
	}
	// Both steps share one compiled validator per spec and settings.
	key := fmt.Sprintf("schema/%s/%p/%v/%v", b.API, b.Spec, cfg.Strict, cfg.JSON)
	vv, err := b.Services.Shared(key, func() (any, error) { return New(b.Spec, cfg.Strict, cfg.JSON) })
	if err != nil {
		return nil, err
	}
	v := *vv.(*Validator)
	v.response = cfg.Response
	if response {
		g := &responseGuard{v: &v, every: uint64(math.Round(1 / cfg.Response.SampleRate))}
		if g.every > 1 {
			g.seen = make(map[*openapi.Operation]*atomic.Uint64, len(b.Spec.Operations))
			for _, op := range b.Spec.Operations {
				g.seen[op] = new(atomic.Uint64)
			}
		}
		return g, nil
	}
	return &requestGuard{v: &v}, nil
}

func block(rule, title, detail string, errs []pipeline.ProblemError) pipeline.Verdict {
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Rule: rule, Category: "API8",
		Title: title, Detail: events.RedactText(detail, 512), Errors: errs}
}

// Request validates the request against its operation.
func (g *requestGuard) Request(_ context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if x.Operation == nil {
		return pipeline.Verdict{}, nil
	}
	op := g.v.ops[x.Operation]
	if op == nil {
		return pipeline.Verdict{}, nil
	}
	var errs []pipeline.ProblemError
	errs = g.v.checkParams(op, x, errs)
	if len(errs) > 0 {
		return block("schema.parameter", "A request parameter does not match the API description.", problemDetail(errs), errs), nil
	}
	return g.v.checkBody(op, x)
}

func problemDetail(errs []pipeline.ProblemError) string {
	var sb strings.Builder
	for i, e := range errs {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(e.Pointer + " " + e.Detail)
	}
	return sb.String()
}

// checkParams validates path, query, header and cookie parameters.
func (v *Validator) checkParams(op *operation, x *pipeline.Exchange, errs []pipeline.ProblemError) []pipeline.ProblemError {
	var q url.Values
	if len(op.queryNames) > 0 || v.strict {
		var err error
		q, err = url.ParseQuery(x.Request.URL.RawQuery)
		if err != nil {
			return append(errs, pipeline.ProblemError{Detail: "query: not a valid query string"})
		}
	}
	for _, p := range op.params {
		var val any
		var present bool
		var err error
		switch p.in {
		case "path":
			for _, pp := range x.PathParams {
				if pp.Name == p.name {
					val, err = parsePath(p, pp.Value)
					present = true
					break
				}
			}
		case "query":
			val, present, err = parseQuery(p, q)
		case "header":
			if hv := x.Request.Header.Values(p.name); len(hv) > 0 {
				present = true
				val, err = parseHeader(p, strings.Join(hv, ","))
			}
		case "cookie":
			if c, cerr := x.Request.Cookie(p.name); cerr == nil {
				present = true
				val, err = shape(p, splitNonEmpty(c.Value, ","), false)
			}
		}
		where := p.in + " parameter " + safeName(p.name)
		switch {
		case err != nil:
			errs = append(errs, pipeline.ProblemError{Detail: where + ": " + err.Error()})
		case !present && p.required:
			errs = append(errs, pipeline.ProblemError{Detail: where + ": required"})
		case present && p.schema != nil:
			if verr := p.schema.Validate(val); verr != nil {
				for _, e := range schemaErrors(verr, nil) {
					d := where + ": " + e.Detail
					if e.Pointer != "" {
						d = where + " " + e.Pointer + ": " + e.Detail
					}
					errs = append(errs, pipeline.ProblemError{Detail: d})
				}
			}
		}
		if len(errs) >= maxProblemErrors {
			return errs[:maxProblemErrors]
		}
	}
	if v.strict {
		for name := range q {
			if !op.queryNames[name] && !deepObjectKey(op, name) {
				errs = append(errs, pipeline.ProblemError{Detail: "query parameter " + safeName(name) + ": not documented"})
				if len(errs) >= maxProblemErrors {
					break
				}
			}
		}
	}
	return errs
}

func deepObjectKey(op *operation, name string) bool {
	for _, p := range op.params {
		if p.in == "query" && p.typ == "object" {
			if p.style == "deepObject" && strings.HasPrefix(name, p.name+"[") {
				return true
			}
			if p.explode && p.style == "form" {
				if _, ok := p.props[name]; ok {
					return true
				}
			}
		}
	}
	return false
}

// safeName quotes a client-controlled name, truncated.
func safeName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}

// checkBody enforces the content type, hardens and validates the body.
func (v *Validator) checkBody(op *operation, x *pipeline.Exchange) (pipeline.Verdict, error) {
	r := x.Request
	hasBody := r.ContentLength > 0 || r.ContentLength == -1 || len(r.TransferEncoding) > 0
	var body []byte
	if hasBody {
		b, err := x.Body()
		if errors.Is(err, pipeline.ErrBodyTooLarge) {
			return pipeline.Verdict{}, nil // the gateway answers 413
		}
		if err != nil {
			return pipeline.Verdict{}, fmt.Errorf("reading request body: %w", err)
		}
		body = b
	}
	if len(body) == 0 {
		if op.bodyRequired {
			return block("schema.body_required", "This operation needs a request body.", "empty body", nil), nil
		}
		return pipeline.Verdict{}, nil
	}
	if !op.bodyDeclared {
		return block("schema.body_not_allowed", "This operation does not accept a request body.", "", nil), nil
	}
	ct := r.Header.Get("Content-Type")
	typ, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupported("unparsable Content-Type"), nil
	}
	m := op.matchMedia(typ)
	if m == nil {
		return unsupported("undeclared media type " + safeName(typ)), nil
	}
	kind := m.kind
	if kind == kindOther && (typ == "application/json" || strings.HasSuffix(typ, "+json")) {
		kind = kindJSON // a */* operation still gets JSON hardening
	}
	if cs, ok := params["charset"]; ok && (kind == kindJSON || kind == kindForm) && !strings.EqualFold(cs, "utf-8") {
		return unsupported("charset " + safeName(cs)), nil
	}
	var val any
	switch kind {
	case kindJSON:
		// The exchange's strict decode: shared with the guards before
		// (the waf) when the limits are the same, else done again here.
		val, err = x.StrictJSON(op.limits)
		if err != nil {
			var we *WalkError
			if errors.As(err, &we) {
				return block("schema.json_"+we.Rule, "The JSON body is malformed or exceeds a limit.", we.Error(),
					[]pipeline.ProblemError{{Pointer: we.Pointer, Detail: we.Rule}}), nil
			}
			return pipeline.Verdict{}, err
		}
	case kindForm:
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return block("schema.form_syntax", "The form body is malformed.", "", nil), nil
		}
		val = formValue(q, m.types)
	case kindMultipart:
		val, err = multipartValue(body, params["boundary"], m.types, op.limits)
		if err != nil {
			return block("schema.multipart_syntax", "The multipart body is malformed.", err.Error(), nil), nil
		}
	}
	if m.schema == nil || kind == kindOther {
		return pipeline.Verdict{}, nil
	}
	if verr := m.schema.Validate(val); verr != nil {
		errs := schemaErrors(verr, nil)
		return block("schema.body", "The request body does not match the API description.", problemDetail(errs), errs), nil
	}
	return pipeline.Verdict{}, nil
}

func unsupported(detail string) pipeline.Verdict {
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusUnsupportedMediaType, Rule: "schema.content_type",
		Category: "API8", Title: "The request body's media type is not one this operation accepts.", Detail: detail}
}

// matchMedia finds the declared media type for a request's type: exact
// first, then type/*, then */*.
func (op *operation) matchMedia(typ string) *media {
	var wild, any *media
	major, _, _ := strings.Cut(typ, "/")
	for i := range op.media {
		m := &op.media[i]
		switch m.typ {
		case typ:
			return m
		case major + "/*":
			wild = m
		case "*/*":
			any = m
		}
	}
	if wild != nil {
		return wild
	}
	return any
}

// formValue turns a form into an object, typed by the schema's properties.
func formValue(q url.Values, types map[string]string) map[string]any {
	out := make(map[string]any, len(q))
	for k, vals := range q {
		t := types[k]
		if item, ok := strings.CutPrefix(t, "array:"); ok {
			a := make([]any, len(vals))
			for i, s := range vals {
				a[i] = coerce(item, s)
			}
			out[k] = a
			continue
		}
		if len(vals) == 1 {
			out[k] = coerce(t, vals[0])
		} else {
			a := make([]any, len(vals)) // a repeated scalar fails validation
			for i, s := range vals {
				a[i] = s
			}
			out[k] = a
		}
	}
	return out
}

// multipartValue turns a multipart/form-data body into an object: text
// parts typed by the schema, file parts as strings of their bytes.
func multipartValue(body []byte, boundary string, types map[string]string, lim Limits) (map[string]any, error) {
	if boundary == "" {
		return nil, errors.New("no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	out := map[string]any{}
	for n := 0; ; n++ {
		if n >= lim.MaxKeys {
			return nil, errors.New("too many parts")
		}
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		name := p.FormName()
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		val := coerce(types[name], string(data))
		if item, ok := strings.CutPrefix(types[name], "array:"); ok {
			a, _ := out[name].([]any)
			out[name] = append(a, coerce(item, string(data)))
			continue
		}
		if _, dup := out[name]; dup {
			return nil, errors.New("part " + safeName(name) + " repeated")
		}
		out[name] = val
	}
}

// schemaErrors flattens a validation error into client-safe entries: the
// JSON pointer and the rule broken, never the offending value.
func schemaErrors(err error, out []pipeline.ProblemError) []pipeline.ProblemError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return append(out, pipeline.ProblemError{Detail: "invalid"})
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) >= maxProblemErrors {
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, pipeline.ProblemError{Pointer: pointer(e.InstanceLocation), Detail: ruleText(e.ErrorKind)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func pointer(loc []string) string {
	var sb strings.Builder
	for _, t := range loc {
		if len(t) > 64 {
			t = t[:64]
		}
		sb.WriteByte('/')
		sb.WriteString(escapeToken(t))
	}
	return sb.String()
}

// ruleText names the rule broken without the offending value.
func ruleText(k jsonschema.ErrorKind) string {
	switch e := k.(type) {
	case *kind.Type:
		return "type: want " + strings.Join(e.Want, " or ")
	case *kind.Required:
		return "required: missing " + strings.Join(e.Missing, ", ")
	case *kind.AdditionalProperties:
		names := make([]string, 0, 3)
		for i, p := range e.Properties {
			if i == 3 {
				break
			}
			names = append(names, safeName(p))
		}
		return "additionalProperties: not allowed: " + strings.Join(names, ", ")
	case *kind.Maximum:
		return "maximum: " + e.Want.FloatString(0)
	case *kind.Minimum:
		return "minimum: " + e.Want.FloatString(2)
	case *kind.MaxLength:
		return "maxLength: " + strconv.Itoa(e.Want)
	case *kind.MinLength:
		return "minLength: " + strconv.Itoa(e.Want)
	case *kind.MaxItems:
		return "maxItems: " + strconv.Itoa(e.Want)
	case *kind.Pattern:
		return "pattern: " + e.Want
	case *kind.FalseSchema:
		return "not allowed"
	}
	kp := k.KeywordPath()
	if len(kp) == 0 {
		return "invalid"
	}
	return strings.Join(kp, "/")
}
