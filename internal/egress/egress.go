// Package egress is apiguard's proxy for the protected application's own
// calls to third-party APIs (OWASP API10, unsafe consumption of APIs).
//
// It is a reverse proxy per named destination, not a CONNECT proxy: the
// application calls http://<egress listen>/<destination>/<path> and
// apiguard calls https://<destination base URL>/<path> with certificate
// verification, through internal/safehttp (public addresses only, no
// redirects, timeouts, size caps). Because apiguard terminates TLS to the
// third party itself, the answer can be checked before the application
// sees it: status, content type, JSON well-formedness, the destination's
// OpenAPI description when configured, and injection patterns. A CONNECT
// tunnel would carry opaque TLS and allow none of that (docs/egress.md).
package egress

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/safehttp"
)

// Category is the OWASP API Security Top 10 (2023) id of egress events.
const Category = "API10"

// Rule ids of egress events.
const (
	RuleForwardProxy         = "egress.forward_proxy_refused"
	RuleProxyAuth            = "egress.proxy_auth_required"
	RuleBadPath              = "egress.bad_path"
	RuleHostNotAllowed       = "egress.host_not_allowed"
	RuleUnknownDestination   = "egress.unknown_destination"
	RuleMethodNotAllowed     = "egress.method_not_allowed"
	RuleUndocumentedOp       = "egress.undocumented_operation"
	RuleRequestTooLarge      = "egress.request_too_large"
	RuleForbiddenAddress     = "egress.forbidden_address"
	RuleTLS                  = "egress.tls_verification_failed"
	RuleTimeout              = "egress.timeout"
	RuleUnreachable          = "egress.unreachable"
	RuleRedirect             = "egress.redirect_refused"
	RuleResponseTooLarge     = "egress.response_too_large"
	RuleContentType          = "egress.content_type_not_allowed"
	RuleInvalidJSON          = "egress.invalid_json"
	RuleUndocumentedResponse = "egress.undocumented_response"
	RuleSchema               = "egress.schema_violation"
	RuleInjection            = "egress.injection"
)

// Validator validates a destination's answer against its OpenAPI
// description (the schema guard's engine plugs in here). body is the
// decoded JSON answer, or nil when the answer is not JSON. A non-nil error
// refuses the answer with egress.schema_violation; its text goes to the
// event, never to the application.
type Validator interface {
	ValidateResponse(spec *openapi.Spec, op *openapi.Operation, status int, contentType string, body any) error
}

// Proxy is the egress proxy. It is an http.Handler.
type Proxy struct {
	services  *pipeline.Services
	state     atomic.Pointer[state]
	validator atomic.Pointer[validatorBox]

	mu     sync.Mutex
	srv    *http.Server
	closed bool
}

type validatorBox struct{ v Validator }

type state struct {
	dests map[string]*destination
	// tokenSum is the SHA-256 of egress.token; nil: no authentication.
	tokenSum []byte
}

// minTokenBytes is the shortest egress.token accepted.
const minTokenBytes = 16

type destination struct {
	name      string
	base      *url.URL
	rt        http.RoundTripper
	methods   []string
	timeout   time.Duration
	maxReq    int64
	maxResp   int64
	ctypes    []string
	spec      *openapi.Spec
	injection string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// New builds the proxy from cfg.Egress. Relative files (ca_file, spec)
// resolve against cfg.Dir. services receives the events; nil means none.
func New(cfg *config.Loaded, services *pipeline.Services) (*Proxy, error) {
	if services == nil {
		services = pipeline.NewServices(pipeline.Services{})
	}
	p := &Proxy{services: services}
	if err := p.Reload(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload replaces the destinations with those of cfg; calls in flight
// finish with the old ones. An invalid cfg changes nothing.
func (p *Proxy) Reload(cfg *config.Loaded) error {
	st, err := build(cfg)
	if err != nil {
		return err
	}
	p.state.Store(st)
	return nil
}

// SetValidator installs the answer validator used for destinations with a
// spec. Without one, answers are checked for a documented status and
// content type only.
func (p *Proxy) SetValidator(v Validator) { p.validator.Store(&validatorBox{v}) }

func build(cfg *config.Loaded) (*state, error) {
	var errs config.Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, config.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	eg := cfg.Egress
	if eg.Listen != "" {
		if _, _, err := net.SplitHostPort(eg.Listen); err != nil {
			add("egress.listen", "must be host:port, not %q", eg.Listen)
		}
	}
	st := &state{dests: map[string]*destination{}}
	if tok := eg.Token.Value(); tok != "" {
		if len(tok) < minTokenBytes {
			add("egress.token", "must be at least %d bytes, not %d", minTokenBytes, len(tok))
		}
		sum := sha256.Sum256([]byte(tok))
		st.tokenSum = sum[:]
	}
	for i, d := range eg.Destinations {
		path := fmt.Sprintf("egress.destinations[%d]", i)
		if !nameRE.MatchString(d.Name) {
			add(path+".name", "must be 1-64 of A-Z a-z 0-9 _ . -, not %q", d.Name)
			continue
		}
		if _, dup := st.dests[d.Name]; dup {
			add(path+".name", "%q is used twice", d.Name)
			continue
		}
		dest, err := newDestination(d, cfg.Dir)
		if err != nil {
			var fe config.FieldError
			if errors.As(err, &fe) {
				fe.Path = path + "." + fe.Path
				errs = append(errs, fe)
			} else {
				add(path, "%v", err)
			}
			continue
		}
		st.dests[d.Name] = dest
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return st, nil
}

func fieldErr(field, format string, args ...any) error {
	return config.FieldError{Path: field, Msg: fmt.Sprintf(format, args...)}
}

func newDestination(d config.EgressDestination, dir string) (*destination, error) {
	base, err := url.Parse(d.URL)
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fieldErr("url", "must be an https URL without credentials, query or fragment, not %q", d.URL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	dest := &destination{
		name: d.Name, base: base, timeout: d.Timeout.D(), maxReq: int64(d.MaxRequestBytes), maxResp: int64(d.MaxResponseBytes),
		ctypes: d.ContentTypes, injection: d.Injection,
	}
	if dest.timeout == 0 {
		dest.timeout = 10 * time.Second
	}
	if dest.timeout < 0 {
		return nil, fieldErr("timeout", "must be positive")
	}
	if dest.maxReq == 0 {
		dest.maxReq = 1 << 20
	}
	if dest.maxResp == 0 {
		dest.maxResp = 1 << 20
	}
	if dest.maxReq < 0 || dest.maxResp < 0 {
		return nil, fieldErr("max_response_bytes", "sizes must be positive")
	}
	if len(dest.ctypes) == 0 {
		dest.ctypes = []string{"application/json"}
	}
	for i, ct := range dest.ctypes {
		dest.ctypes[i] = strings.ToLower(strings.TrimSpace(ct))
	}
	switch dest.injection {
	case "":
		dest.injection = "observe"
	case "observe", "block":
	default:
		return nil, fieldErr("injection", "must be observe or block, not %q", d.Injection)
	}
	dest.methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	if len(d.Methods) > 0 {
		dest.methods = nil
		for _, m := range d.Methods {
			m = strings.ToUpper(m)
			if m == "CONNECT" || m == "TRACE" || !nameRE.MatchString(m) {
				return nil, fieldErr("methods", "%q is not allowed", m)
			}
			dest.methods = append(dest.methods, m)
		}
	}
	var cidrs []netip.Prefix
	for i, c := range d.AllowCIDRs {
		pf, err := config.ParsePrefix(c)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("allow_cidrs[%d]", i), "%v", err)
		}
		cidrs = append(cidrs, pf)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.CAFile != "" {
		pem, err := os.ReadFile(resolve(dir, d.CAFile))
		if err != nil {
			return nil, fieldErr("ca_file", "%v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr("ca_file", "no PEM certificate in %s", d.CAFile)
		}
		tc.RootCAs = pool
	}
	if d.Spec != "" {
		spec, err := openapi.Load(resolve(dir, d.Spec))
		if err != nil {
			return nil, fieldErr("spec", "%v", err)
		}
		dest.spec = spec
	}
	dial := min(5*time.Second, dest.timeout)
	dest.rt = safehttp.NewTransport(safehttp.Options{
		AllowCIDRs: cidrs, TLSConfig: tc, DialTimeout: dial, TLSHandshakeTimeout: dial,
		ResponseHeaderTimeout: dest.timeout, Timeout: dest.timeout, MaxResponseBytes: dest.maxResp,
	})
	return dest, nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// Serve accepts the application's calls on ln until Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	p.srv = srv
	p.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for calls in flight, until ctx ends.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	srv := p.srv
	p.closed = true
	p.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Destinations returns the configured destination names, sorted.
func (p *Proxy) Destinations() []string {
	st := p.state.Load()
	out := make([]string, 0, len(st.dests))
	for n := range st.dests {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
