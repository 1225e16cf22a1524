// Package errors is the guard that keeps upstream internals out of answers
// (OWASP API8): upstream 5xx bodies — stack traces, SQL errors, file
// paths — are replaced by an RFC 9457 problem with the request id, and 4xx
// bodies can be scrubbed when they carry a stack-trace or SQL-error
// signature. The operator sees the original body, redacted and
// truncated, in the event.
//
// The guard is on for every API, even without an errors section.
package errors

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Scrub policies for a class of statuses.
const (
	// Always replaces every body of the class.
	Always = "always"
	// Signatures replaces bodies that match a leak signature.
	Signatures = "signatures"
	// Off leaves bodies alone.
	Off = "off"
)

// Rule ids.
const (
	RuleServerError = "errors.upstream_5xx"
	RuleClientLeak  = "errors.upstream_4xx_leak"
)

// Config is the errors section of an API.
type Config struct {
	pipeline.Common `yaml:",inline"`
	// Enabled turns the guard on. Default true (also without a section).
	Enabled *bool `yaml:"enabled"`
	// ServerErrors is what happens to upstream 5xx bodies: always
	// (default), signatures or off.
	ServerErrors string `yaml:"server_errors" jsonschema:"enum=always,enum=signatures,enum=off"`
	// ClientErrors is what happens to upstream 4xx bodies: signatures,
	// always or off (default).
	ClientErrors string `yaml:"client_errors" jsonschema:"enum=always,enum=signatures,enum=off"`
	// Status replaces the status of scrubbed 5xx answers (500-599); 0
	// (default) keeps the upstream's.
	Status int `yaml:"status"`
	// Patterns are extra leak signatures (Go regular expressions).
	Patterns []string `yaml:"patterns"`
	// DefaultPatterns keeps the built-in signatures. Default true.
	DefaultPatterns *bool `yaml:"default_patterns"`
	// MaxDetail caps the original body kept in the event. Default 2KiB.
	MaxDetail config.ByteSize `yaml:"max_detail"`
	// MaxBody caps how much of an error body is read to check it.
	// Default 256KiB; a larger 4xx body is passed on unchecked.
	MaxBody config.ByteSize `yaml:"max_body"`
}

// guard is the "errors" response step.
type guard struct {
	server, client string
	status         int
	patterns       []signature
	maxDetail      int
	maxBody        int64
	monitor        bool
}

type signature struct {
	name string
	re   *regexp.Regexp
}

func init() {
	pipeline.Register(pipeline.Registration{Name: "errors", Section: "errors", New: New})
}

// New builds the guard from the API's errors section.
func New(b pipeline.Build) (any, error) {
	var c Config
	if _, err := b.Decode(&c); err != nil {
		return nil, err
	}
	g, err := compile(c)
	if g == nil || err != nil {
		return nil, err
	}
	return g, nil
}

func compile(c Config) (*guard, error) {
	if err := c.Common.Validate(); err != nil {
		return nil, err
	}
	if c.Enabled != nil && !*c.Enabled {
		return nil, nil
	}
	g := &guard{server: c.ServerErrors, client: c.ClientErrors, status: c.Status,
		maxDetail: int(c.MaxDetail), maxBody: int64(c.MaxBody), monitor: c.Mode == pipeline.Monitor}
	if g.server == "" {
		g.server = Always
	}
	if g.client == "" {
		g.client = Off
	}
	for name, v := range map[string]string{"server_errors": g.server, "client_errors": g.client} {
		if v != Always && v != Signatures && v != Off {
			return nil, fmt.Errorf("%s: must be always, signatures or off, not %q", name, v)
		}
	}
	if g.status != 0 && (g.status < 500 || g.status > 599) {
		return nil, fmt.Errorf("status: must be 0 (keep) or 500-599, not %d", g.status)
	}
	if g.maxDetail == 0 {
		g.maxDetail = 2 << 10
	}
	if g.maxBody == 0 {
		g.maxBody = 256 << 10
	}
	if g.maxDetail < 0 || g.maxDetail > 64<<10 {
		return nil, fmt.Errorf("max_detail: must be at most 64KiB")
	}
	if c.DefaultPatterns == nil || *c.DefaultPatterns {
		g.patterns = append(g.patterns, defaultSignatures...)
	}
	for i, p := range c.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("patterns[%d]: %w", i, err)
		}
		g.patterns = append(g.patterns, signature{name: "custom", re: re})
	}
	return g, nil
}

// Response scrubs error answers.
func (g *guard) Response(_ context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	var policy, rule string
	switch {
	case resp.StatusCode >= 500 && resp.StatusCode <= 599:
		policy, rule = g.server, RuleServerError
	case resp.StatusCode >= 400 && resp.StatusCode <= 499:
		policy, rule = g.client, RuleClientLeak
	default:
		return pipeline.Verdict{}, nil
	}
	if policy == Off {
		return pipeline.Verdict{}, nil
	}
	body, err := x.ResponseBody(resp, g.maxBody)
	tooLarge := stderrors.Is(err, pipeline.ErrResponseTooLarge)
	if err != nil && !tooLarge {
		return pipeline.Verdict{}, fmt.Errorf("reading upstream error body: %w", err)
	}
	text := decoded(resp.Header.Get("Content-Encoding"), body, g.maxBody)
	sig := ""
	if !tooLarge {
		sig = g.match(text)
	}
	if policy == Signatures && sig == "" {
		return pipeline.Verdict{}, nil
	}
	detail := "upstream " + strconv.Itoa(resp.StatusCode)
	if sig != "" {
		detail += " (" + sig + ")"
	}
	if tooLarge {
		detail += ", body over " + strconv.FormatInt(g.maxBody, 10) + " bytes"
	}
	detail += ": " + events.RedactText(string(text[:min(len(text), 2*g.maxDetail)]), g.maxDetail)
	v := pipeline.Verdict{Action: pipeline.Observe, Status: resp.StatusCode, Rule: rule, Category: "API8", Detail: detail}
	if g.monitor || x.Mode == pipeline.Monitor {
		return v, nil
	}
	status := resp.StatusCode
	if g.status != 0 && rule == RuleServerError {
		status = g.status
	}
	g.replace(x, resp, status, rule)
	v.Status = status
	return v, nil
}

// replace turns resp into a problem answer with the request id.
func (g *guard) replace(x *pipeline.Exchange, resp *http.Response, status int, rule string) {
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	p := pipeline.Problem{Type: pipeline.ProblemTypeBase + rule, Title: http.StatusText(status), Status: status, RequestID: x.ID}
	if p.Title == "" {
		p.Title = "Error"
	}
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"title":"Error"}`)
	}
	h := resp.Header
	for _, k := range []string{"Content-Encoding", "Content-Language", "Content-Disposition", "Content-Range",
		"Etag", "Last-Modified", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest", "Link"} {
		delete(h, k)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	resp.StatusCode = status
	resp.Status = strconv.Itoa(status) + " " + http.StatusText(status)
	x.ReplaceResponseBody(resp, b)
}

// match returns the name of the first leak signature found in body.
func (g *guard) match(body []byte) string {
	if len(body) == 0 || len(g.patterns) == 0 {
		return ""
	}
	// JSON bodies carry traces with escaped line breaks: match on the
	// text a person would read.
	if bytes.IndexByte(body, '\\') >= 0 {
		r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\"`, `"`, `\\`, `\`, `\/`, `/`)
		body = []byte(r.Replace(string(body)))
	}
	for _, s := range g.patterns {
		if s.re.Match(body) {
			return s.name
		}
	}
	return ""
}

// decoded returns body without its gzip or deflate content coding when it
// has one, else body itself. The decoded text is bounded by limit, the
// same bound for every coding, so a decompression bomb costs at most limit
// bytes. A stream that breaks off yields what was decoded before the break
// (still worth checking for signatures).
func decoded(encoding string, body []byte, limit int64) []byte {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return body
		}
		return readBounded(zr, limit)
	case "deflate":
		// HTTP "deflate" is the zlib format (RFC 9110, 8.4.1.2); some
		// servers send a raw deflate stream instead. Try zlib, fall back
		// to raw deflate when the zlib header or stream is not valid.
		var partial []byte
		if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
			out, err := io.ReadAll(io.LimitReader(zr, limit))
			if err == nil {
				return out
			}
			partial = out
		}
		out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(body)), limit))
		switch {
		case err == nil || len(out) > len(partial):
			return out
		case len(partial) > 0:
			return partial
		}
	}
	return body
}

// readBounded reads at most limit bytes of r, keeping what was read
// before an error.
func readBounded(r io.Reader, limit int64) []byte {
	out, _ := io.ReadAll(io.LimitReader(r, limit))
	return out
}
