package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Errors of Session.Do.
var (
	// ErrBudget is returned once the request budget or the time bound of
	// the run is spent; checks should stop.
	ErrBudget = errors.New("scan budget spent")
	// ErrScope is returned for a request outside the target's scheme,
	// host and port.
	ErrScope = errors.New("request outside the scan's scope")
	// ErrDestructive is returned for an unsafe method without
	// AllowDestructive (the login operation is always allowed).
	ErrDestructive = errors.New("unsafe method needs --allow-destructive")

	errNotJSON = errors.New("not json")
)

// MaxBodyBytes caps the answer bodies the scan reads and keeps.
const MaxBodyBytes = 1 << 20

// MaxBurst caps the requests of one Session.Burst.
const MaxBurst = 250

// bucket is a token bucket: rate tokens per second, up to burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(rate float64, now func() time.Time) *bucket {
	burst := rate / 5
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// reserve takes one token and returns how long to wait before using it.
func (b *bucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// take is reserve for a request sent outside the rate (a burst): the
// token is spent but nobody waits, so the requests after a burst pay for
// it.
func (b *bucket) take() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens--
	if b.tokens < -b.burst {
		b.tokens = -b.burst
	}
}

// Do sends req as id (nil means anonymous) and records the exchange. It
// waits for the rate limiter, counts against the budget, refuses requests
// outside the target and unsafe methods without AllowDestructive, and
// never follows redirects. A non-nil error means no answer (budget,
// scope, network); any HTTP status is an answer.
func (s *Session) Do(ctx context.Context, id *Identity, req *Request) (*Response, error) {
	return s.do(ctx, id, req, false)
}

// Burst sends up to n requests (at most MaxBurst, and within the budget)
// as fast as the target answers, ignoring the rate limit, for checks that
// must show a missing rate limit or quota. next builds the i-th request;
// stop, when it returns true for an answer, ends the burst (for example at
// the first 429). It returns the answers received.
func (s *Session) Burst(ctx context.Context, id *Identity, n int, next func(i int) *Request, stop func(*Response) bool) ([]*Response, error) {
	if n > MaxBurst {
		n = MaxBurst
	}
	var out []*Response
	for i := 0; i < n; i++ {
		resp, err := s.do(ctx, id, next(i), true)
		if err != nil {
			return out, err
		}
		out = append(out, resp)
		if stop != nil && stop(resp) {
			break
		}
	}
	return out, nil
}

func (s *Session) do(ctx context.Context, id *Identity, req *Request, burst bool) (*Response, error) {
	if id == nil {
		id = s.anon
	}
	method := strings.ToUpper(req.Method)
	if method == "" && req.Op != nil {
		method = req.Op.Method
	}
	if method == "" {
		method = http.MethodGet
	}
	if UnsafeMethod(method) && !s.AllowDestructive && !s.isLogin(req) {
		return nil, fmt.Errorf("%s %s: %w", method, req.path(), ErrDestructive)
	}
	u, err := s.resolveURL(req)
	if err != nil {
		return nil, err
	}
	body, ctype, err := req.encodeBody()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.sent >= s.opts.Budget || !s.opts.Now().Before(s.deadline) {
		s.mu.Unlock()
		return nil, ErrBudget
	}
	s.sent++
	s.seq++
	seq := s.seq
	s.mu.Unlock()

	if burst {
		s.limiter.take()
	} else if wait := s.limiter.reserve(); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}

	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	if body == nil {
		hreq.Body = nil
		hreq.ContentLength = 0
	}
	hreq.Header.Set("User-Agent", "apiguard-scan/"+s.opts.Version)
	hreq.Header.Set("Accept", "application/json")
	if ctype != "" {
		hreq.Header.Set("Content-Type", ctype)
	}
	if !req.NoAuth && id != nil {
		for k, vs := range id.Header {
			if _, own := req.Header[http.CanonicalHeaderKey(k)]; own {
				continue
			}
			for _, v := range vs {
				hreq.Header.Add(k, v)
			}
		}
	}
	for k, vs := range req.Header {
		hreq.Header.Del(k)
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	if hreq.Header.Get("Host") != "" {
		hreq.Host = hreq.Header.Get("Host")
		hreq.Header.Del("Host")
	}
	sentHeader := hreq.Header.Clone()

	start := s.opts.Now()
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	hresp, err := s.client.Do(hreq.WithContext(rctx))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	data, rerr := io.ReadAll(io.LimitReader(hresp.Body, MaxBodyBytes+1))
	_ = hresp.Body.Close()
	resp := &Response{Seq: seq, Request: req, Identity: id, Method: method, URL: u.String(),
		SentHeader: sentHeader, SentBody: body, Status: hresp.StatusCode, Header: hresp.Header,
		Duration: s.opts.Now().Sub(start)}
	if len(data) > MaxBodyBytes {
		data, resp.Truncated = data[:MaxBodyBytes], true
	}
	if rerr != nil {
		resp.Truncated = true
	}
	resp.Body = data
	s.mu.Lock()
	if len(s.exchanges) < maxRecorded {
		s.exchanges = append(s.exchanges, resp)
	}
	s.mu.Unlock()
	if s.state != nil && id != nil {
		s.state.learn(s, id, resp)
	}
	return resp, nil
}

// maxRecorded bounds the exchanges kept in memory.
const maxRecorded = 20000

func (s *Session) isLogin(req *Request) bool {
	return s.LoginOp != nil && req.Op == s.LoginOp
}

// path is the request's path: Path, else Op.Path with PathParams.
func (r *Request) path() string {
	if r.Path != "" {
		return r.Path
	}
	if r.Op == nil {
		return "/"
	}
	return FillPath(r.Op.Path, r.PathParams)
}

// FillPath replaces {name} segments of a path template with the escaped
// values of params (unknown parameters stay as written).
func FillPath(tmpl string, params map[string]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		name := tmpl[i+1 : i+j]
		if v, ok := params[name]; ok {
			b.WriteString(url.PathEscape(v))
		} else {
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
}

// resolveURL joins the request path and query with the target and checks
// the scope.
func (s *Session) resolveURL(req *Request) (*url.URL, error) {
	p := req.path()
	ref, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("request path %q: %w", p, err)
	}
	var u *url.URL
	if ref.IsAbs() || ref.Host != "" {
		u = ref
	} else {
		u = &url.URL{Scheme: s.Target.Scheme, Host: s.Target.Host}
		base := strings.TrimRight(s.Target.Path, "/")
		if ref.Path != "" && !strings.HasPrefix(ref.Path, "/") {
			ref.Path = "/" + ref.Path
		}
		u.Path = base + ref.Path
		if ref.RawPath != "" {
			u.RawPath = strings.TrimRight(s.Target.EscapedPath(), "/") + ref.RawPath
		}
		u.RawQuery = ref.RawQuery
	}
	if !s.inScope(u) {
		return nil, fmt.Errorf("%s: %w", u.Redacted(), ErrScope)
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// inScope reports whether u has the target's scheme, host and port.
func (s *Session) inScope(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, s.Target.Scheme) && strings.EqualFold(hostPort(u), hostPort(s.Target))
}

func hostPort(u *url.URL) string {
	h, p := u.Hostname(), u.Port()
	if p == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			p = "443"
		default:
			p = "80"
		}
	}
	return strings.ToLower(h) + ":" + p
}

func (r *Request) encodeBody() ([]byte, string, error) {
	if r.Body != nil {
		return r.Body, r.ContentType, nil
	}
	if r.JSON == nil {
		return nil, r.ContentType, nil
	}
	b, err := json.Marshal(r.JSON)
	if err != nil {
		return nil, "", fmt.Errorf("encoding body: %w", err)
	}
	ct := r.ContentType
	if ct == "" {
		ct = "application/json"
	}
	return b, ct, nil
}

// newClient is the scan's HTTP client: no redirects followed, no cookie
// jar, pooled connections.
func newClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.Proxy = nil
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
