// Package scan is `apiguard scan`: an active scanner that attacks a running
// API described by an OpenAPI document, with several test identities, and
// reports OWASP API Security Top 10 (2023) findings.
//
// The engine (this package) loads the spec into an operation model, logs
// the identities in, learns which objects each identity owns by calling
// the API's list and create operations (producer→consumer inference), and
// runs the checks of package scan/checks in a fixed order. Every request
// goes through Session.Do, which keeps the scan inside the target's
// scheme, host and port, under a token-bucket rate, a request budget and a
// time bound, caps answer bodies, and records the exchange so that a
// finding can be reproduced with a curl command whose secrets are shell
// variables ($TOKEN_ALICE), never the real values.
//
// A check implements Check and reports through Session.Report. Checks that
// need a listener the target can call (SSRF, webhooks) use Session.Canary,
// which package scan/canary provides (it registers itself with
// RegisterCanary; the runner starts it when a check needs it).
package scan

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

// Check is one scanner check.
type Check interface {
	// Name is the check's stable rule id, e.g. "scan.bola"; findings carry
	// it unless they set their own Rule.
	Name() string
	// Category is the OWASP API Security Top 10 (2023) id, e.g. "API1".
	Category() string
	// Run attacks the target through s and reports what it finds with
	// s.Report. It returns an error only when the check itself could not
	// run (budget spent, context done); a protective answer of the target
	// (401, 403, 429, …) is never an error.
	Run(ctx context.Context, s *Session) error
}

// Describer is implemented by checks that describe themselves for reports
// (the JUnit test cases and SARIF rules list every check that ran).
type Describer interface {
	// Title is a one-line summary of what the check looks for.
	Title() string
	// Severity is the check's usual severity.
	Severity() report.Severity
	// Description explains the risk; Remediation how to fix it.
	Description() string
	Remediation() string
}

// Roles of identities.
const (
	RoleUser      = "user"
	RoleAdmin     = "admin"
	RoleAnonymous = "anonymous"
)

// Identity is one caller the scan acts as.
type Identity struct {
	// Name is the identity's short name ("alice", "admin", "anonymous"),
	// used in reports and in the shell variables of curl reproductions
	// ($TOKEN_ALICE).
	Name string
	// Role is RoleUser, RoleAdmin or RoleAnonymous.
	Role string
	// Header holds the identity's credentials (Authorization, API key
	// headers, cookies); empty for anonymous. Do adds them to requests.
	Header http.Header
	// Token is the bearer token when the identity has one ("" otherwise).
	Token string
	// Claims is the decoded payload of Token when it is a JWT.
	Claims map[string]any
	// Subject identifies the identity in the API: the JWT sub claim, or
	// the id returned by a "me" lookup; "" when unknown.
	Subject string
	// Username and Password are the login recipe's credentials ("" for
	// header identities).
	Username, Password string
	// Login is the answer of the identity's login, nil for header
	// identities.
	Login *Response
}

// IsAnonymous reports whether the identity sends no credentials.
func (id *Identity) IsAnonymous() bool { return id == nil || id.Role == RoleAnonymous }

// TokenVar is the shell variable that stands for the identity's token in
// reproductions, e.g. "TOKEN_ALICE".
func (id *Identity) TokenVar() string { return "TOKEN_" + shellName(id.Name) }

// Request is one request a check sends.
type Request struct {
	// Op is the spec operation it exercises, when any (for the finding's
	// location).
	Op *Operation
	// Method is the HTTP method (Op.Method when empty).
	Method string
	// Path is the request path with path parameters filled in (Op.Path
	// filled from PathParams when empty). It is resolved against the
	// target's base URL and must not leave the target.
	Path string
	// PathParams are the values of Op.Path's template parameters.
	PathParams map[string]string
	// Query is the query string.
	Query url.Values
	// Header holds extra headers; a header set here wins over the
	// identity's header of the same name.
	Header http.Header
	// JSON, when Body is nil, is marshalled as the body with Content-Type
	// application/json.
	JSON any
	// Body is the raw body; ContentType its media type.
	Body        []byte
	ContentType string
	// NoAuth sends the request without the identity's credentials (for
	// crafted tokens: set Header's Authorization yourself).
	NoAuth bool
}

// Clone returns a deep enough copy to change Query, Header, PathParams
// and a JSON object body without touching r.
func (r *Request) Clone() *Request {
	c := *r
	c.Query = url.Values{}
	for k, v := range r.Query {
		c.Query[k] = append([]string(nil), v...)
	}
	c.Header = r.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.PathParams = map[string]string{}
	for k, v := range r.PathParams {
		c.PathParams[k] = v
	}
	c.JSON = cloneJSON(r.JSON)
	c.Body = append([]byte(nil), r.Body...)
	if r.Body == nil {
		c.Body = nil
	}
	return &c
}

// BodyObject returns the JSON body as an object, creating an empty one
// when there is none; nil when the body is not an object.
func (r *Request) BodyObject() map[string]any {
	if r.JSON == nil && r.Body == nil {
		r.JSON = map[string]any{}
	}
	m, _ := r.JSON.(map[string]any)
	return m
}

// Response is one recorded exchange.
type Response struct {
	// Seq numbers exchanges in the order they were sent.
	Seq int
	// Request is the request as the check built it; Identity who sent it.
	Request  *Request
	Identity *Identity
	// Method and URL are what was sent (URL with the query).
	Method, URL string
	// SentHeader and SentBody are what went on the wire (the body as
	// sent, for reproduction).
	SentHeader http.Header
	SentBody   []byte
	// Status, Header and Body are the answer; Body is capped at
	// MaxBodyBytes and Truncated says so.
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool
	// Duration is the time to the end of the body.
	Duration time.Duration

	once sync.Once
	json any
	err  error
}

// OK reports a 2xx answer.
func (r *Response) OK() bool { return r != nil && r.Status >= 200 && r.Status < 300 }

// JSON returns the decoded body (nil when it is not JSON).
func (r *Response) JSON() any {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		if len(r.Body) == 0 || r.Truncated {
			r.err = errNotJSON
			return
		}
		r.err = json.Unmarshal(r.Body, &r.json)
	})
	if r.err != nil {
		return nil
	}
	return r.json
}

// Object returns the decoded body when it is a JSON object.
func (r *Response) Object() map[string]any {
	m, _ := r.JSON().(map[string]any)
	return m
}

// Finding is what a check reports. Session.Report fills the rest: the
// rule and category from the check when empty, the location from the
// exchange, the curl reproduction, and redaction of every secret.
type Finding struct {
	// Rule defaults to the check's Name; Category to its Category.
	Rule, Category string
	// Title, Severity, Description, Evidence and Remediation are as in
	// report.Finding. Evidence is redacted (secrets become $VARIABLES).
	Title       string
	Severity    report.Severity
	Description string
	Evidence    string
	Remediation string
	// Op is the operation concerned (defaults to Exchange.Request.Op).
	Op *Operation
	// Exchange is the exchange that proves the finding; Steps are earlier
	// exchanges needed to reproduce it (for example the login that
	// minted a token). Both become curl lines in the report.
	Exchange *Response
	Steps    []*Response
	// Key distinguishes findings of one rule on one operation that are
	// not duplicates (for example two properties); empty normally.
	Key string
}

// Canary is a listener the target can be told to call (SSRF, webhook
// callbacks): each token gets its own URL, and Hits returns the requests
// that reached it. Package scan/canary implements it.
type Canary interface {
	// URL returns the URL that records hits for token.
	URL(token string) string
	// Hits returns the requests received for token so far.
	Hits(token string) []Hit
}

// Hit is one request the canary received.
type Hit struct {
	// Token is the token of the URL that was called.
	Token string
	// Method, Path and Query are the request line; Header and Body (capped)
	// what came with it; Remote the caller's address.
	Method, Path, Query string
	Header              http.Header
	Body                []byte
	Remote              string
	// At is when it arrived.
	At time.Time
}

// CanaryStarter starts a canary for one run; stop releases it.
type CanaryStarter func(ctx context.Context, cfg CanaryConfig) (c Canary, stop func() error, err error)

// CanaryConfig configures a canary started by the runner.
type CanaryConfig struct {
	// Listen is the address to listen on ("127.0.0.1:0" by default).
	Listen string
	// Target is the scanned base URL, for canaries that want to answer
	// with payloads pointing back at it.
	Target string
}

var (
	canaryMu      sync.Mutex
	canaryStarter CanaryStarter
)

// RegisterCanary installs the function the runner uses to start a canary
// (package scan/canary calls it from init).
func RegisterCanary(start CanaryStarter) {
	canaryMu.Lock()
	defer canaryMu.Unlock()
	canaryStarter = start
}

func registeredCanary() CanaryStarter {
	canaryMu.Lock()
	defer canaryMu.Unlock()
	return canaryStarter
}

// Session is the state of one scan run that checks use.
type Session struct {
	// Spec is the loaded spec; Ops its operation model, in spec order.
	Spec *openapi.Spec
	Ops  []*Operation
	// Schemes are the security schemes by name.
	Schemes map[string]*SecurityScheme
	// Target is the base URL scanned.
	Target *url.URL
	// AllowDestructive allows unsafe methods (POST, PUT, PATCH, DELETE)
	// other than the login operation.
	AllowDestructive bool
	// Canary is the listener the target may be told to call; nil when
	// none runs.
	Canary Canary
	// LoginOp is the operation identities log in with (nil without a
	// login recipe); LoginUserField, LoginPassField the body fields of the
	// credentials and TokenPath where the token is in the answer (a
	// dotted path such as "access_token" or "data.token").
	LoginOp                        *Operation
	LoginUserField, LoginPassField string
	TokenPath                      string

	opts     Options
	client   *http.Client
	limiter  *bucket
	deadline time.Time

	mu        sync.Mutex
	users     []*Identity
	admin     *Identity
	anon      *Identity
	seq       int
	sent      int
	exchanges []*Response
	findings  []report.Finding
	seen      map[string]int
	secrets   []secret
	state     *state
	check     Check
	memo      map[string]any
}

// Users returns the ordinary user identities (at least two for the
// cross-identity checks).
func (s *Session) Users() []*Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Identity(nil), s.users...)
}

// Admin returns the admin identity, or nil when none was given.
func (s *Session) Admin() *Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admin
}

// Anonymous returns the identity without credentials.
func (s *Session) Anonymous() *Identity { return s.anon }

// Identities returns the users then the admin (not anonymous).
func (s *Session) Identities() []*Identity {
	out := s.Users()
	if a := s.Admin(); a != nil {
		out = append(out, a)
	}
	return out
}

// Op returns the operation with operationId id, or nil.
func (s *Session) Op(id string) *Operation {
	for _, o := range s.Ops {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// OpFor returns the operation matching method and path, or nil.
func (s *Session) OpFor(method, path string) *Operation {
	op, _, _ := s.Spec.Match(strings.ToUpper(method), path, nil)
	if op == nil {
		return nil
	}
	for _, o := range s.Ops {
		if o.Operation == op {
			return o
		}
	}
	return nil
}

// Exchanges returns every exchange recorded so far, oldest first.
func (s *Session) Exchanges() []*Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Response(nil), s.exchanges...)
}

// Sent returns the number of requests sent so far.
func (s *Session) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Remaining returns the requests left in the budget.
func (s *Session) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Budget - s.sent
}

// Deadline is when the run's time bound ends.
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Logf writes an informational line to the progress output.
func (s *Session) Logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
