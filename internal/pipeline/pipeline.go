package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"

	"github.com/apiguard/apiguard/internal/openapi"
)

// Build is what a guard's constructor receives for one API.
type Build struct {
	// API is the API's name.
	API string
	// Spec is the API's OpenAPI description, or nil when it has none.
	Spec *openapi.Spec
	// Decode decodes the guard's config section into v, strictly: unknown
	// fields are errors. It returns false when the section is absent.
	Decode func(v any) (present bool, err error)
	// Logger is the gateway's logger.
	Logger *slog.Logger
	// Services are the long-lived shared parts (Redis, store, shared
	// state that must survive reloads, admin routes). Never nil.
	Services *Services
	// Path is the config path of the guard's section, such as
	// "apis[0].guards.waf", for error messages.
	Path string
	// Dir is the config file's directory: relative file names in a
	// guard's section resolve against it.
	Dir string
}

// Constructor builds a step's guard for one API. It returns a nil guard
// when the guard is not configured for that API. The guard must implement
// RequestGuard for request steps and ResponseGuard for response steps.
type Constructor func(b Build) (any, error)

// Registration describes one step of the pipeline.
type Registration struct {
	// Name is the step's name in RequestOrder or ResponseOrder.
	Name string
	// Section is the key of the guard's section under apis[].guards.
	Section string
	// New builds the guard.
	New Constructor
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Registration{}
)

// Register makes a step available. It is called from a guard package's
// init function and panics on an unknown or duplicate step name, so a
// mistake shows at start-up of any test.
func Register(r Registration) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if !slices.Contains(RequestOrder, r.Name) && !slices.Contains(ResponseOrder, r.Name) {
		panic(fmt.Sprintf("pipeline: step %q is not in RequestOrder or ResponseOrder", r.Name))
	}
	if _, dup := registry[r.Name]; dup {
		panic(fmt.Sprintf("pipeline: step %q registered twice", r.Name))
	}
	if r.Section == "" || r.New == nil {
		panic(fmt.Sprintf("pipeline: step %q needs a Section and a constructor", r.Name))
	}
	registry[r.Name] = r
}

// Registered returns the registration of a step.
func Registered(name string) (Registration, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Sections returns the config section names of all registered guards,
// sorted.
func Sections() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for _, r := range registry {
		if !seen[r.Section] {
			seen[r.Section] = true
			out = append(out, r.Section)
		}
	}
	sort.Strings(out)
	return out
}

// Step is one guard in a built pipeline with its settings.
type Step struct {
	// Name is the step name.
	Name string
	// Mode is the guard's effective mode.
	Mode Mode
	// Fail is the guard's failure mode.
	Fail FailMode
	// Request is set for request steps.
	Request RequestGuard
	// Response is set for response steps.
	Response ResponseGuard
}

// Pipeline is the ordered set of guards of one API.
type Pipeline struct {
	request  []Step
	response []Step
	closers  []Closer
	security *SecurityHeaders // from a SecurityHeaderer step, or nil
}

// New returns a pipeline of the given steps. Steps are sorted into the
// order of RequestOrder and ResponseOrder; a step not in either is an error.
func New(steps []Step) (*Pipeline, error) {
	p := &Pipeline{}
	for _, s := range steps {
		if s.Mode == "" {
			s.Mode = Enforce
		}
		if s.Fail == "" {
			s.Fail = FailClosed
		}
		switch {
		case slices.Contains(RequestOrder, s.Name) && s.Request != nil:
			p.request = append(p.request, s)
		case slices.Contains(ResponseOrder, s.Name) && s.Response != nil:
			p.response = append(p.response, s)
		default:
			return nil, fmt.Errorf("pipeline: step %q is not a request or response step with a matching guard", s.Name)
		}
		if c, ok := s.Request.(Closer); ok {
			p.closers = append(p.closers, c)
		} else if c, ok := s.Response.(Closer); ok {
			p.closers = append(p.closers, c)
		}
		if p.security == nil {
			if sh, ok := s.Request.(SecurityHeaderer); ok {
				v := sh.SecurityHeaders()
				p.security = &v
			} else if sh, ok := s.Response.(SecurityHeaderer); ok {
				v := sh.SecurityHeaders()
				p.security = &v
			}
		}
	}
	sort.SliceStable(p.request, func(i, j int) bool {
		return slices.Index(RequestOrder, p.request[i].Name) < slices.Index(RequestOrder, p.request[j].Name)
	})
	sort.SliceStable(p.response, func(i, j int) bool {
		return slices.Index(ResponseOrder, p.response[i].Name) < slices.Index(ResponseOrder, p.response[j].Name)
	})
	return p, nil
}

// RequestSteps returns the names of the request steps, in order.
func (p *Pipeline) RequestSteps() []string {
	out := make([]string, len(p.request))
	for i, s := range p.request {
		out[i] = s.Name
	}
	return out
}

// SecurityHeaders returns the security headers of apiguard's own answers
// for this pipeline's API: those of its SecurityHeaderer guard (the headers
// guard), or DefaultSecurityHeaders when it has none. p may be nil (a
// request no API matched).
func (p *Pipeline) SecurityHeaders() SecurityHeaders {
	if p == nil || p.security == nil {
		return DefaultSecurityHeaders
	}
	return *p.security
}

// HasResponseSteps reports whether any response guard is configured.
func (p *Pipeline) HasResponseSteps() bool { return len(p.response) > 0 }

// Request runs the request guards in order. It records every non-Continue
// verdict and every failure on x.Decisions and returns the enforced block,
// or nil when the request may go upstream. apiMode Monitor turns every
// block of this API into an observation.
func (p *Pipeline) Request(ctx context.Context, x *Exchange, apiMode Mode) *Decision {
	for i := range p.request {
		s := &p.request[i]
		x.Mode = effectiveMode(s.Mode, apiMode)
		v, err := safeRequest(ctx, s.Request, x)
		if d := record(x, s, apiMode, v, err); d != nil {
			return d
		}
	}
	return nil
}

// Response runs the response guards in order, with the same rules as
// Request.
func (p *Pipeline) Response(ctx context.Context, x *Exchange, resp *http.Response, apiMode Mode) *Decision {
	for i := range p.response {
		s := &p.response[i]
		x.Mode = effectiveMode(s.Mode, apiMode)
		v, err := safeResponse(ctx, s.Response, x, resp)
		if d := record(x, s, apiMode, v, err); d != nil {
			return d
		}
	}
	return nil
}

// Close releases every guard's resources.
func (p *Pipeline) Close() error {
	var errs []error
	for _, c := range p.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// record applies mode and failure mode to one guard result. It returns the
// decision when it blocks the exchange.
// effectiveMode is Monitor when the step or its API is in monitor mode.
func effectiveMode(step, api Mode) Mode {
	if api == Monitor || step == Monitor {
		return Monitor
	}
	return Enforce
}

func record(x *Exchange, s *Step, apiMode Mode, v Verdict, err error) *Decision {
	mode := effectiveMode(s.Mode, apiMode)
	if err != nil {
		v = Verdict{Action: Block, Status: http.StatusServiceUnavailable, Rule: s.Name + ".failure", Title: "A security check is temporarily unavailable."}
		if s.Fail == FailOpen {
			v.Action = Observe
		}
	}
	if v.Action == Continue {
		return nil
	}
	if v.Action == Answer {
		x.Decisions = append(x.Decisions, Decision{Guard: s.Name, Verdict: v, Mode: mode})
		return &x.Decisions[len(x.Decisions)-1]
	}
	if v.Action == Block && mode == Monitor {
		v.Action = Observe
	}
	x.Decisions = append(x.Decisions, Decision{Guard: s.Name, Verdict: v, Mode: mode, Failed: err != nil, Err: err})
	if v.Action == Block {
		return &x.Decisions[len(x.Decisions)-1]
	}
	return nil
}

// errGuardPanic is a guard's panic turned into a guard failure.
var errGuardPanic = errors.New("guard panicked")

func safeRequest(ctx context.Context, g RequestGuard, x *Exchange) (v Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = Verdict{}, fmt.Errorf("%w: %v", errGuardPanic, r)
		}
	}()
	return g.Request(ctx, x)
}

func safeResponse(ctx context.Context, g ResponseGuard, x *Exchange, resp *http.Response) (v Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = Verdict{}, fmt.Errorf("%w: %v", errGuardPanic, r)
		}
	}()
	return g.Response(ctx, x, resp)
}
