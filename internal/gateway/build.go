package gateway

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/normalize"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// state is one configuration generation: everything a request needs,
// swapped atomically on reload. A request uses the state it started with.
type state struct {
	cfg       *config.Loaded
	apis      []*apiState // in matching order: host-specific first, longest prefix first
	trusted   trustedProxies
	limits    normalize.Limits
	ridHeader string
	tls       serverTLS
	inflight  atomic.Int64
	closeOnce sync.Once
}

// serverTLS is the TLS part of a state, used through GetConfigForClient so
// certificates and client CAs follow reloads.
type serverTLS struct {
	enabled bool
	config  *tls.Config
}

// apiState is one API of a state.
type apiState struct {
	cfg        *config.API
	name       string
	mode       pipeline.Mode
	hosts      []string
	prefix     string // without trailing slash; "" for "/"
	spec       *openapi.Spec
	pipe       *pipeline.Pipeline
	pool       *upstreamPool
	transport  *http.Transport
	proxy      *httputil.ReverseProxy
	bodyLimit  int64
	opLimits   map[*openapi.Operation]int64
	dir        string // the config file's directory
	hasRespGrd bool
}

// buildState turns a loaded config into a state. It loads specs and
// certificates and builds guards; it opens no listener. Warnings are
// events the caller should emit once the state is in use.
func (g *Gateway) buildState(cfg *config.Loaded) (*state, []events.Event, error) {
	st := &state{
		cfg:       cfg,
		ridHeader: cfg.Server.RequestIDHeader,
		limits: normalize.Limits{
			MaxHeaders:          cfg.Server.MaxHeaders,
			MaxHeaderValueBytes: int(cfg.Server.MaxHeaderValueBytes),
		},
	}
	for _, p := range cfg.Server.TrustedProxies {
		pfx, err := config.ParsePrefix(p)
		if err != nil {
			return nil, nil, err
		}
		st.trusted = append(st.trusted, pfx)
	}
	tlsCfg, err := serverTLSConfig(cfg.Server.TLS, cfg.Dir)
	if err != nil {
		return nil, nil, err
	}
	if tlsCfg != nil {
		st.tls = serverTLS{enabled: true, config: tlsCfg}
	}
	var warnings []events.Event
	for i := range cfg.APIs {
		a, warn, err := g.buildAPI(cfg, i)
		if err != nil {
			st.close()
			return nil, nil, err
		}
		warnings = append(warnings, warn...)
		st.apis = append(st.apis, a)
	}
	sort.SliceStable(st.apis, func(i, j int) bool {
		a, b := st.apis[i], st.apis[j]
		if (len(a.hosts) > 0) != (len(b.hosts) > 0) {
			return len(a.hosts) > 0
		}
		return len(a.prefix) > len(b.prefix)
	})
	return st, warnings, nil
}

func (g *Gateway) buildAPI(cfg *config.Loaded, i int) (*apiState, []events.Event, error) {
	ac := &cfg.APIs[i]
	path := fmt.Sprintf("apis[%d]", i)
	a := &apiState{
		cfg:       ac,
		name:      ac.Name,
		mode:      pipeline.Mode(ac.Mode),
		prefix:    strings.TrimSuffix(ac.Match.PathPrefix, "/"),
		bodyLimit: int64(ac.Limits.MaxBodyBytes),
		dir:       cfg.Dir,
	}
	for _, h := range ac.Match.Hosts {
		a.hosts = append(a.hosts, strings.ToLower(h))
	}
	var warnings []events.Event
	if ac.Spec != "" {
		spec, err := g.opts.SpecLoader(ac.Spec, cfg.Dir)
		if err != nil {
			return nil, nil, config.Errors{{Path: path + ".spec", Msg: err.Error()}}
		}
		a.spec = spec
	}
	if len(ac.Limits.Operations) > 0 {
		a.opLimits = map[*openapi.Operation]int64{}
		for id, l := range ac.Limits.Operations {
			var found bool
			for _, op := range a.spec.Operations {
				if op.ID == id {
					a.opLimits[op] = int64(l.MaxBodyBytes)
					found = true
				}
			}
			if !found {
				return nil, nil, config.Errors{{Path: path + ".limits.operations." + id, Msg: "no operation with this operationId in the spec"}}
			}
		}
	}
	var urls []*url.URL
	for _, raw := range ac.Upstream.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, nil, config.Errors{{Path: path + ".upstream.urls", Msg: err.Error()}}
		}
		urls = append(urls, u)
	}
	a.pool = newUpstreamPool(urls, ac.Upstream.Health.MaxFails, ac.Upstream.Health.Cooldown.D(), g.opts.Now)
	utls, err := upstreamTLSConfig(ac.Upstream.TLS, cfg.Dir)
	if err != nil {
		return nil, nil, config.Errors{{Path: path + ".upstream.tls", Msg: err.Error()}}
	}
	if ac.Upstream.TLS.InsecureSkipVerify {
		warnings = append(warnings, events.Event{
			Kind: events.KindSystem, API: ac.Name, Guard: "gateway", Rule: "config.insecure_skip_verify", Category: "API8",
			Verdict: events.VerdictObserve, Detail: path + ".upstream.tls.insecure_skip_verify is true: upstream certificates are not verified",
		})
	}
	a.transport = NewTransport(ac.Upstream, utls)
	steps, err := g.buildSteps(a, path)
	if err != nil {
		a.transport.CloseIdleConnections()
		return nil, nil, err
	}
	a.pipe, err = pipeline.New(steps)
	if err != nil {
		return nil, nil, err
	}
	a.hasRespGrd = a.pipe.HasResponseSteps()
	a.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      a.transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		BufferPool:     bufferPool{},
		ErrorLog:       g.errorLog,
	}
	return a, warnings, nil
}

// buildSteps builds every registered guard configured for the API, in
// pipeline order.
func (g *Gateway) buildSteps(a *apiState, path string) ([]pipeline.Step, error) {
	var steps []pipeline.Step
	names := append(append([]string{}, pipeline.RequestOrder...), pipeline.ResponseOrder...)
	for _, name := range names {
		reg, ok := pipeline.Registered(name)
		if !ok {
			continue
		}
		node, present := a.cfg.Guards[reg.Section]
		secPath := path + ".guards." + reg.Section
		var common pipeline.Common
		if present {
			if err := node.Decode(&common); err != nil {
				return nil, config.Errors{{Path: secPath, Msg: err.Error()}}
			}
			if err := common.Validate(); err != nil {
				return nil, config.Errors{{Path: secPath + "." + strings.SplitN(err.Error(), ":", 2)[0], Msg: strings.TrimSpace(strings.SplitN(err.Error(), ":", 2)[1])}}
			}
		}
		guard, err := reg.New(pipeline.Build{
			API:      a.name,
			Spec:     a.spec,
			Logger:   g.opts.Logger,
			Services: g.opts.Services,
			Path:     secPath,
			Dir:      a.dir,
			Decode: func(v any) (bool, error) {
				if !present {
					return false, nil
				}
				return true, config.DecodeSection(&node, secPath, v)
			},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secPath, err)
		}
		if guard == nil {
			continue
		}
		s := pipeline.Step{Name: name, Mode: common.Mode, Fail: common.Fail}
		s.Request, _ = guard.(pipeline.RequestGuard)
		s.Response, _ = guard.(pipeline.ResponseGuard)
		steps = append(steps, s)
	}
	return steps, nil
}

// NewTransport returns the pooled upstream transport for an API's
// settings. The bench's bare-proxy baseline uses it too, so both are
// measured with the same transport.
func NewTransport(u config.Upstream, tlsCfg *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: u.Timeouts.Dial.D(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // never send upstream traffic through an environment proxy
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   u.Timeouts.TLSHandshake.D(),
		ResponseHeaderTimeout: u.Timeouts.ResponseHeader.D(),
		IdleConnTimeout:       u.Timeouts.IdleConn.D(),
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          u.Pool.MaxIdleConns,
		MaxIdleConnsPerHost:   u.Pool.MaxIdleConnsPerHost,
		MaxConnsPerHost:       u.Pool.MaxConnsPerHost,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true, // pass encodings through untouched
		TLSClientConfig:       tlsCfg,
	}
	return t
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

// close releases a state's resources once no request uses it.
func (s *state) close() {
	s.closeOnce.Do(func() {
		for _, a := range s.apis {
			if a.pipe != nil {
				_ = a.pipe.Close()
			}
			a.transport.CloseIdleConnections()
		}
	})
}
