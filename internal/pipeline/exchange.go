package pipeline

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/jsonwalk"
	"github.com/apiguard/apiguard/internal/openapi"
)

// Principal is the authenticated caller, set by the authentication guard.
type Principal struct {
	// Subject is the stable id of the caller (JWT sub, API key id, ...).
	Subject string
	// Tenant is the caller's tenant or organisation, when known.
	Tenant string
	// Roles are the caller's roles.
	Roles []string
	// Scopes are the OAuth scopes granted to the caller.
	Scopes []string
	// Claims are the raw claims of a token, when the caller used one.
	Claims map[string]any
	// Method is how the caller authenticated: jwt, apikey, mtls, hmac, introspection.
	Method string
	// ClientID is the OAuth client or API key name, when known.
	ClientID string
}

// Decision is one recorded guard verdict on an exchange.
type Decision struct {
	// Guard is the step name, such as "waf" or "ratelimit.ip".
	Guard string
	// Verdict is what the guard returned (Action rewritten to Observe in
	// monitor mode).
	Verdict Verdict
	// Mode is the mode the guard ran in.
	Mode Mode
	// Failed is true when the guard returned an error; Err holds it.
	Failed bool
	// Err is the guard's own failure, never shown to the client.
	Err error
}

// ErrBodyTooLarge is returned by Exchange.Body when the request body is
// larger than the exchange's body limit.
var ErrBodyTooLarge = errors.New("request body too large")

// Exchange is one request and its response as they pass through apiguard.
// Guards share what they learn through it, so nothing is parsed twice.
type Exchange struct {
	// ID is the request id, returned to the client and sent upstream.
	ID string
	// Start is when apiguard received the request.
	Start time.Time
	// Request is the client's request, with its path in canonical form.
	Request *http.Request
	// Path is the canonical, percent-decoded path.
	Path string
	// ClientIP is the client's address: the socket peer, or the address a
	// trusted proxy vouched for.
	ClientIP netip.Addr
	// API is the name of the API the request was routed to.
	API string
	// RoutePath is the path matched against the API's spec and sent
	// upstream: Path without the API's prefix when it strips one.
	RoutePath string
	// Operation is the spec operation matched, or nil when none matched.
	Operation *openapi.Operation
	// PathParams are the values of the matched template's parameters.
	PathParams []openapi.Param
	// MethodMismatch is true when the path matched a spec path whose
	// methods do not include the request's method.
	MethodMismatch bool
	// ClientCert is the verified client certificate (mTLS), or nil.
	ClientCert *x509.Certificate
	// Principal is the authenticated caller, or nil.
	Principal *Principal
	// BodyLimit is the largest request body accepted, in bytes.
	BodyLimit int64
	// Decisions are the verdicts recorded so far, in order.
	Decisions []Decision
	// AnswerHeader holds headers a guard wants on whatever answer the
	// client gets, refusals included (for example the CORS headers of an
	// allowed origin, so a browser can read a 401).
	AnswerHeader http.Header
	// Mode is the effective mode of the guard now running: Monitor when
	// the guard or its API is in monitor mode. A guard that rewrites the
	// request or the answer (masking, filtering, scrubbing) must only
	// report in monitor mode; the runner sets it before each guard.
	Mode Mode

	body       []byte
	bodyRead   bool
	bodyErr    error
	json       any
	jsonDone   bool
	jsonErr    error
	jsonWalked bool // json came from parseJSON, under jsonLimits
	jsonLimits jsonwalk.Limits
	values     map[any]any

	respBody     []byte
	respBodyRead bool
	respBodyErr  error
	respJSON     any
	respJSONSet  bool

	respHooks []func(*http.Response)
}

var exchangePool = sync.Pool{New: func() any { return &Exchange{Decisions: make([]Decision, 0, 4)} }}

// NewExchange returns an empty exchange from a pool. Release it with
// Release once the exchange and its events are done.
func NewExchange() *Exchange {
	return exchangePool.Get().(*Exchange)
}

// Release resets x and returns it to the pool. x must not be used after.
func (x *Exchange) Release() {
	d := x.Decisions[:0]
	clear(x.Decisions[:cap(x.Decisions)])
	p := x.PathParams[:0]
	*x = Exchange{Decisions: d, PathParams: p}
	exchangePool.Put(x)
}

// Body reads the request body once, at most BodyLimit bytes, and returns
// it; later calls return the same bytes. The request's Body is replaced by
// a reader over those bytes so the upstream still receives them.
func (x *Exchange) Body() ([]byte, error) {
	if x.bodyRead {
		return x.body, x.bodyErr
	}
	x.bodyRead = true
	r := x.Request
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	limit := x.BodyLimit
	if limit <= 0 {
		limit = 1 << 20
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength))
	}
	n, err := io.Copy(&buf, io.LimitReader(r.Body, limit+1))
	_ = r.Body.Close()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		x.bodyErr = ErrBodyTooLarge
	case err != nil:
		x.bodyErr = err
	case n > limit:
		x.bodyErr = ErrBodyTooLarge
	}
	x.body = buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(x.body))
	r.ContentLength = int64(len(x.body))
	return x.body, x.bodyErr
}

// JSON returns the request body decoded as JSON (objects as
// map[string]any, arrays as []any, numbers as json.Number), decoding it
// once with the strict walker (jsonwalk: duplicate keys, invalid UTF-8 and
// trailing data refused) under its default limits. A guard with other
// limits calls StrictJSON; one that parses the body its own way stores
// its result with SetJSON first, so later guards see the same value.
func (x *Exchange) JSON() (any, error) {
	if x.jsonDone {
		return x.json, x.jsonErr
	}
	v, err := x.parseJSON(jsonwalk.DefaultLimits)
	var we *jsonwalk.WalkError
	if errors.As(err, &we) && we.Rule != "syntax" && we.Rule != "duplicate_key" {
		// Over a default size limit but well-formed: guards without
		// limits of their own (authz, ssrf, flows) still get the value;
		// the schema guard applies its limits with StrictJSON.
		return x.parseJSON(jsonwalk.Limits{MaxDepth: laxDepth, MaxKeys: 1 << 30, MaxArray: 1 << 30, MaxString: 1 << 30})
	}
	return v, err
}

// laxDepth bounds the nesting JSON accepts past the default limits (the
// walker's stack is on the heap; this only stops absurd inputs).
const laxDepth = 512

// StrictJSON returns the request body decoded by the strict walker under
// lim, reusing an earlier decode under the same limits (the common case:
// a guard before it called JSON and lim are the defaults). A *WalkError
// (wrapped) says why a body is refused.
func (x *Exchange) StrictJSON(lim jsonwalk.Limits) (any, error) {
	lim = lim.WithDefaults()
	if x.jsonDone && x.jsonWalked && x.jsonLimits == lim {
		return x.json, x.jsonErr
	}
	return x.parseJSON(lim)
}

func (x *Exchange) parseJSON(lim jsonwalk.Limits) (any, error) {
	x.jsonDone, x.jsonWalked, x.jsonLimits = true, true, lim
	x.json, x.jsonErr = nil, nil
	b, err := x.Body()
	if err != nil {
		x.jsonErr = err
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	v, err := jsonwalk.Walk(b, lim)
	if err != nil {
		x.jsonErr = fmt.Errorf("request body is not acceptable JSON: %w", err)
		return nil, x.jsonErr
	}
	x.json = v
	return v, nil
}

// SetJSON stores the decoded request body for later guards.
func (x *Exchange) SetJSON(v any) {
	x.json, x.jsonErr, x.jsonDone, x.jsonWalked = v, nil, true, false
}

// ErrResponseTooLarge is returned by ResponseBody when the answer is larger
// than the limit given.
var ErrResponseTooLarge = errors.New("response body too large")

// ResponseBody reads the upstream answer's body once, at most limit bytes,
// and puts a reader over the same bytes back on resp. Over the limit it
// returns ErrResponseTooLarge and leaves resp able to stream the whole
// body (the bytes read so far followed by the rest).
func (x *Exchange) ResponseBody(resp *http.Response, limit int64) ([]byte, error) {
	if x.respBodyRead {
		return x.respBody, x.respBodyErr
	}
	x.respBodyRead = true
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil, nil
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		x.respBodyErr = err
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		return nil, err
	}
	if n > limit {
		x.respBodyErr = ErrResponseTooLarge
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf.Bytes()), resp.Body), resp.Body}
		return nil, ErrResponseTooLarge
	}
	_ = resp.Body.Close()
	x.respBody = buf.Bytes()
	resp.Body = io.NopCloser(bytes.NewReader(x.respBody))
	return x.respBody, nil
}

// SetResponseJSON records the answer body parsed as JSON (objects as
// map[string]any, arrays as []any, numbers as json.Number), so later
// response guards need not parse it again. The value is shared: a guard
// that changes it must replace the body too (ReplaceResponseBody forgets
// the value; set it again after).
func (x *Exchange) SetResponseJSON(v any) { x.respJSON, x.respJSONSet = v, true }

// ForgetResponseJSON drops the value recorded by SetResponseJSON, for a
// guard that changed it without replacing the body.
func (x *Exchange) ForgetResponseJSON() { x.respJSON, x.respJSONSet = nil, false }

// ResponseJSON returns the value recorded by SetResponseJSON for the
// current answer body, and whether there is one.
func (x *Exchange) ResponseJSON() (any, bool) { return x.respJSON, x.respJSONSet }

// ReplaceResponseBody sets a new answer body (after filtering or masking)
// and fixes the length headers.
func (x *Exchange) ReplaceResponseBody(resp *http.Response, b []byte) {
	x.respJSON, x.respJSONSet = nil, false
	x.respBody, x.respBodyRead, x.respBodyErr = b, true, nil
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Transfer-Encoding")
	resp.TransferEncoding = nil
}

// ReplaceBody sets a new request body for the guards after this one and
// for the upstream (a guard that unwraps a JOSE body passes the payload
// on): Body returns b, JSON decodes b again, and the request's Body,
// ContentLength and framing headers match b.
func (x *Exchange) ReplaceBody(b []byte) {
	x.body, x.bodyRead, x.bodyErr = b, true, nil
	x.json, x.jsonErr, x.jsonDone = nil, nil, false
	r := x.Request
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

// OnResponse registers f to be called with the upstream's answer when it
// arrives, before the response guards run (for example to learn whether a
// login succeeded). f must not read or replace the body. The functions are
// dropped with the exchange; none is called when the upstream does not
// answer.
func (x *Exchange) OnResponse(f func(*http.Response)) {
	x.respHooks = append(x.respHooks, f)
}

// RunResponseHooks calls the functions registered with OnResponse, in
// order. The gateway calls it once per upstream answer. A panicking
// function is recovered and stops the remaining ones.
func (x *Exchange) RunResponseHooks(resp *http.Response) {
	defer func() { _ = recover() }()
	for _, f := range x.respHooks {
		f(resp)
	}
}

// BufferedBody returns the request body if a guard has read it (nil
// otherwise) without reading it: for observers after the exchange.
func (x *Exchange) BufferedBody() []byte {
	if !x.bodyRead || x.bodyErr != nil {
		return nil
	}
	return x.body
}

// BufferedResponseBody returns the answer body if a response guard has
// read it (nil otherwise), after any masking or filtering.
func (x *Exchange) BufferedResponseBody() []byte {
	if !x.respBodyRead || x.respBodyErr != nil {
		return nil
	}
	return x.respBody
}

// BodyErr returns the error of an earlier Body call, without reading.
func (x *Exchange) BodyErr() error { return x.bodyErr }

// SetValue stores a value under key for later guards, like context values
// but without allocation per lookup.
func (x *Exchange) SetValue(key, value any) {
	if x.values == nil {
		x.values = make(map[any]any, 4)
	}
	x.values[key] = value
}

// Value returns the value stored under key, or nil.
func (x *Exchange) Value(key any) any {
	return x.values[key]
}

// Blocked returns the enforced blocking decision, if any.
func (x *Exchange) Blocked() *Decision {
	for i := range x.Decisions {
		if x.Decisions[i].Verdict.Action == Block {
			return &x.Decisions[i]
		}
	}
	return nil
}

// SpecPath is the path to match against the API's spec: RoutePath when
// the gateway set it, else Path.
func (x *Exchange) SpecPath() string {
	if x.RoutePath != "" {
		return x.RoutePath
	}
	return x.Path
}

// OperationName is the operation's id, or "unmatched".
func (x *Exchange) OperationName() string {
	if x.Operation == nil {
		return "unmatched"
	}
	return x.Operation.ID
}
