package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

// Defaults of Options.
const (
	DefaultRate           = 50
	DefaultBudget         = 5000
	DefaultTimeout        = 120 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// Options configure a scan.
type Options struct {
	// Spec is the API's description; Target the base URL to scan.
	Spec   *openapi.Spec
	Target string
	// Users are the ordinary identities (at least two for the
	// cross-identity checks); Admin is optional.
	Users []Credential
	Admin *Credential
	// LoginOp names the login operation (found in the spec when empty);
	// TokenPath where the token is in its answer (found when empty).
	LoginOp, TokenPath string
	// Rate caps requests per second (DefaultRate when 0); Budget the
	// requests of the run (DefaultBudget); Timeout its duration
	// (DefaultTimeout); RequestTimeout one request (DefaultRequestTimeout).
	Rate           float64
	Budget         int
	Timeout        time.Duration
	RequestTimeout time.Duration
	// AllowDestructive allows POST, PUT, PATCH and DELETE (the login
	// operation is always allowed).
	AllowDestructive bool
	// Checks run in this order (the CLI passes checks.All()).
	Checks []Check
	// Canary, when set, is the listener checks tell the target to call;
	// otherwise the registered canary (RegisterCanary) is started on
	// CanaryListen ("127.0.0.1:0" when empty) unless NoCanary.
	Canary       Canary
	CanaryListen string
	NoCanary     bool
	// Progress receives the progress display; TTY redraws one line
	// instead of printing one line per check.
	Progress io.Writer
	TTY      bool
	// Logf receives informational lines (nil: the progress writer).
	Logf func(format string, args ...any)
	// Version is apiguard's version, for the report and User-Agent.
	Version string
	// Now is the clock (time.Now when nil); Client the HTTP client (one
	// that follows no redirects when nil).
	Now    func() time.Time
	Client *http.Client
}

// Result is the outcome of a run.
type Result struct {
	// Report holds the findings, most severe first, and the checks run.
	Report *report.Report
	// Requests is the number of requests sent; Duration the run's length.
	Requests int
	Duration time.Duration
	// Errors are the checks that failed to run, by rule.
	Errors map[string]error
	// Incomplete is true when the budget or time bound ended the run
	// before every check finished.
	Incomplete bool
}

func (o *Options) defaults() {
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logf == nil && o.Progress != nil {
		w := o.Progress
		tty := o.TTY
		var mu sync.Mutex
		o.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if tty {
				fmt.Fprint(w, "\r\x1b[K")
			}
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// NewSession validates opts, builds the operation model and logs every
// identity in. Nothing else is sent until Run.
func NewSession(ctx context.Context, opts Options) (*Session, error) {
	opts.defaults()
	if opts.Spec == nil {
		return nil, errors.New("scan: no spec")
	}
	target, err := url.Parse(strings.TrimRight(opts.Target, "/"))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("scan: target %q: want an http(s) base URL", opts.Target)
	}
	if target.User != nil || target.RawQuery != "" || target.Fragment != "" {
		return nil, fmt.Errorf("scan: target %q: no credentials, query or fragment in the base URL", opts.Target)
	}
	ops, schemes := buildModel(opts.Spec)
	s := &Session{Spec: opts.Spec, Ops: ops, Schemes: schemes, Target: target, AllowDestructive: opts.AllowDestructive,
		Canary: opts.Canary, TokenPath: opts.TokenPath, opts: opts, seen: map[string]int{}, state: newState()}
	s.client = opts.Client
	if s.client == nil {
		s.client = newClient(opts.RequestTimeout)
	}
	s.limiter = newBucket(opts.Rate, opts.Now)
	s.deadline = opts.Now().Add(opts.Timeout)
	s.anon = &Identity{Name: "anonymous", Role: RoleAnonymous, Header: http.Header{}}

	needLogin := false
	for _, c := range append(append([]Credential(nil), opts.Users...), derefCred(opts.Admin)...) {
		if len(c.Header) == 0 {
			needLogin = true
		}
	}
	if needLogin || opts.LoginOp != "" {
		s.LoginOp, s.LoginUserField, s.LoginPassField, err = FindLoginOp(ops, opts.LoginOp)
		if err != nil && needLogin {
			return nil, fmt.Errorf("scan: %w", err)
		}
	}
	names := map[string]bool{"anonymous": true}
	for _, c := range opts.Users {
		id, err := s.login(ctx, c, RoleUser)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		if names[id.Name] {
			return nil, fmt.Errorf("scan: two identities are named %q", id.Name)
		}
		names[id.Name] = true
		s.users = append(s.users, id)
	}
	if opts.Admin != nil {
		id, err := s.login(ctx, *opts.Admin, RoleAdmin)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		if names[id.Name] {
			return nil, fmt.Errorf("scan: two identities are named %q", id.Name)
		}
		s.admin = id
	}
	for _, id := range s.Identities() {
		if id.Subject == "" {
			if err := s.lookupSubject(ctx, id); err != nil {
				return nil, fmt.Errorf("scan: %w", err)
			}
		}
		for _, r := range subjectResources {
			if id.Subject != "" {
				s.state.add(id.Name, r, id.Subject)
			}
		}
	}
	return s, nil
}

// lookupSubject asks a "me" operation (a secured GET without path
// parameters whose path ends in me, self, whoami, profile or current) who
// id is, for identities whose token says nothing (opaque tokens, API keys).
func (s *Session) lookupSubject(ctx context.Context, id *Identity) error {
	for _, op := range s.Ops {
		if op.Method != http.MethodGet || len(op.PathParams()) > 0 || !op.Secured() {
			continue
		}
		segs := strings.Split(strings.Trim(op.Path, "/"), "/")
		switch strings.ToLower(segs[len(segs)-1]) {
		case "me", "self", "whoami", "profile", "current", "current-user", "userinfo":
		default:
			continue
		}
		req, err := s.Build(op, id)
		if err != nil {
			continue
		}
		r, err := s.Do(ctx, id, req)
		if err != nil {
			return err
		}
		if obj := r.Object(); r.OK() && obj != nil {
			if v := idValue(obj); v != "" {
				id.Subject = v
			} else if v := ScalarString(obj["sub"]); v != "" {
				id.Subject = v
			}
			return nil
		}
	}
	return nil
}

func derefCred(c *Credential) []Credential {
	if c == nil {
		return nil
	}
	return []Credential{*c}
}

// Run scans opts.Target: NewSession, then Session.Run.
func Run(ctx context.Context, opts Options) (*Result, error) {
	s, err := NewSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	return s.Run(ctx)
}

// Run learns the identities' objects (crawl), then runs the checks in
// order, within the budget and time bound.
func (s *Session) Run(ctx context.Context) (*Result, error) {
	start := s.opts.Now()
	// the time bound counts from here: with --compare-gateway the second
	// session logged in long before it runs
	s.mu.Lock()
	s.deadline = start.Add(s.opts.Timeout)
	s.mu.Unlock()
	res := &Result{Errors: map[string]error{}}
	rep := &report.Report{Tool: "apiguard scan", Version: s.opts.Version, Target: s.Target.String(), Started: start}

	if s.Canary == nil && !s.opts.NoCanary {
		if startCanary := registeredCanary(); startCanary != nil {
			listen := s.opts.CanaryListen
			if listen == "" {
				listen = "127.0.0.1:0"
			}
			c, stop, err := startCanary(ctx, CanaryConfig{Listen: listen, Target: s.Target.String()})
			if err != nil {
				s.Logf("scan: canary not started (%v); the checks that need it are skipped", err)
			} else {
				s.Canary = c
				defer func() { _ = stop() }()
			}
		}
	}

	prog := newProgress(s, len(s.opts.Checks)+1)
	defer prog.done()
	prog.step("discovery")
	if err := s.crawl(ctx); err != nil {
		if errors.Is(err, ErrBudget) {
			res.Incomplete = true
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		} else {
			res.Errors["discovery"] = err
		}
	}
	for _, c := range s.opts.Checks {
		rc := report.Check{Rule: c.Name(), Category: c.Category(), Title: c.Name()}
		if d, ok := c.(Describer); ok {
			rc.Title, rc.Severity, rc.Description, rc.Remediation = d.Title(), d.Severity(), d.Description(), d.Remediation()
		}
		rep.Checks = append(rep.Checks, rc)
		if res.Incomplete {
			continue
		}
		prog.step(c.Name())
		s.mu.Lock()
		s.check = c
		s.mu.Unlock()
		err := runCheck(ctx, s, c)
		s.mu.Lock()
		s.check = nil
		s.mu.Unlock()
		switch {
		case err == nil:
		case errors.Is(err, ErrBudget):
			res.Incomplete = true
			s.Logf("scan: budget or time bound reached during %s; the remaining checks are skipped", c.Name())
		case errors.Is(err, ErrDestructive):
			s.Logf("scan: %s stopped where it needed --allow-destructive", c.Name())
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			res.Errors[c.Name()] = err
			s.Logf("scan: %s: %v", c.Name(), s.Redact(err.Error()))
		}
	}
	rep.Findings = s.Findings()
	report.SortFindings(rep.Findings)
	rep.Finished = s.opts.Now()
	res.Report = rep
	res.Requests = s.Sent()
	res.Duration = rep.Finished.Sub(start)
	return res, nil
}

// runCheck runs one check, turning a panic into an error so one broken
// check does not end the scan.
func runCheck(ctx context.Context, s *Session, c Check) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return c.Run(ctx, s)
}

// crawl calls, as every identity, the operations that list or create
// objects, so that later checks know which objects each identity owns:
// first safe operations without path parameters (lists), then safe ones
// whose parameters can be filled from what was learned, then (with
// AllowDestructive) create operations of resources some path needs and
// nobody owns yet, and the lists again.
func (s *Session) crawl(ctx context.Context) error {
	ids := s.Identities()
	listed := map[string]bool{}
	lists := func() error {
		// twice: the first pass's lists fill the second pass's parameters
		for pass := 0; pass < 2; pass++ {
			for _, op := range s.Ops {
				if op.Unsafe() || op.Deprecated || op == s.LoginOp {
					continue
				}
				for _, id := range ids {
					if listed[op.ID+"\x00"+id.Name] || AdminLooking(op) && id.Role != RoleAdmin {
						continue
					}
					req, err := s.Build(op, id)
					if err != nil {
						continue
					}
					listed[op.ID+"\x00"+id.Name] = true
					if _, err := s.Do(ctx, id, req); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := lists(); err != nil {
		return err
	}
	if !s.AllowDestructive {
		return nil
	}
	// resources named by path parameters that some identity lacks
	needed := map[string]bool{}
	for _, op := range s.Ops {
		for _, p := range op.PathParams() {
			if res := ParamResource(p.Name, op.Path); res != "" {
				needed[res] = true
			}
		}
	}
	created := false
	for _, op := range s.Ops {
		if op.Method != "POST" || op == s.LoginOp || op.Deprecated || AdminLooking(op) || len(op.PathParams()) > 0 {
			continue
		}
		res := CollectionResource(op.Path)
		// only the id and path: summaries say "register" of harmless things
		if res == "" || !needed[res] || BusinessFlow(&Operation{Operation: &openapi.Operation{ID: op.ID, Path: op.Path}}) {
			continue
		}
		for _, id := range s.Users() {
			if len(s.Owned(id, res)) > 0 {
				continue
			}
			req, err := s.Build(op, id)
			if err != nil {
				continue
			}
			if _, err := s.Do(ctx, id, req); err != nil {
				return err
			}
			created = true
		}
	}
	if created {
		listed = map[string]bool{}
		return lists()
	}
	return nil
}

// BusinessFlow reports whether an operation looks like a sensitive
// business flow (money movements, orders, sign-ups), which the scan never
// calls just to create objects.
func BusinessFlow(op *Operation) bool {
	for _, w := range words(op.ID + " " + op.Path + " " + op.Summary) {
		switch w {
		case "transfer", "transfers", "payment", "payments", "pay", "order", "orders", "checkout", "purchase",
			"signup", "register", "registration", "withdraw", "withdrawal", "deposit", "refund", "redeem", "coupon", "vote":
			return true
		}
	}
	return false
}

// progress shows which check runs: a redrawn line on a terminal, one
// line per check otherwise.
type progress struct {
	s     *Session
	w     io.Writer
	tty   bool
	total int
	mu    sync.Mutex
	n     int
	name  string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(s *Session, total int) *progress {
	p := &progress{s: s, w: s.opts.Progress, tty: s.opts.TTY, total: total, start: s.opts.Now(), stop: make(chan struct{})}
	if p.w != nil && p.tty {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.draw()
				}
			}
		}()
	}
	return p
}

func (p *progress) step(name string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	p.n++
	p.name = name
	p.mu.Unlock()
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "scan: [%d/%d] %s (%d requests, %.1fs)\n", p.n, p.total, name, p.s.Sent(), p.s.opts.Now().Sub(p.start).Seconds())
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	const width = 24
	fill := 0
	if p.total > 0 {
		fill = (p.n - 1) * width / p.total
	}
	bar := strings.Repeat("=", fill) + ">" + strings.Repeat(" ", width-fill)
	fmt.Fprintf(p.w, "\r\x1b[Kscan [%s] %d/%d %s · %d requests · %.1fs", bar, p.n, p.total, p.name, p.s.Sent(), p.s.opts.Now().Sub(p.start).Seconds())
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, "scan: done, %d requests in %.1fs\n", p.s.Sent(), p.s.opts.Now().Sub(p.start).Seconds())
}
