// Package safehttp is the outbound HTTP client for everything apiguard
// fetches itself (JWKS and OIDC discovery, token introspection, webhooks,
// egress destinations). It cannot be pointed at internal addresses:
//
//   - every address is checked at dial time, on the IP actually dialed,
//     so DNS rebinding cannot switch the address after a check; a name
//     with any forbidden address is refused as a whole;
//   - loopback, private, link-local (cloud metadata), CGNAT, ULA,
//     multicast, reserved and documentation ranges, and IPv6 forms that
//     embed such IPv4 addresses, are refused unless Options allows them;
//   - redirects are refused unless allowed, and then every hop is dialed
//     through the same check;
//   - dial, TLS handshake, response header and total timeouts apply;
//   - response bodies are capped (reads past the cap fail with
//     ErrResponseTooLarge);
//   - no proxy from the environment is ever used.
//
// Use it like this:
//
//	c := safehttp.NewClient(safehttp.Options{})
//	resp, err := c.Get(jwksURL)
package safehttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Second
	DefaultTimeout               = 30 * time.Second
	DefaultMaxResponseBytes      = 1 << 20
	DefaultMaxRedirects          = 5
)

// ErrRedirect is returned (wrapped in a *url.Error) when a redirect is not
// allowed or too many were followed.
var ErrRedirect = errors.New("redirect refused")

// ErrResponseTooLarge is returned by a response body's Read once more than
// Options.MaxResponseBytes were read.
var ErrResponseTooLarge = errors.New("response body too large")

// Resolver looks up the addresses of a host name. *net.Resolver
// implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a client. The zero Options are safe: public
// addresses only, no redirects, the default timeouts and a 1 MiB cap.
type Options struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (tests, local sidecars).
	AllowLoopback bool
	// AllowCIDRs are forbidden ranges allowed anyway (an internal service
	// apiguard is meant to reach).
	AllowCIDRs []netip.Prefix
	// FollowRedirects allows up to MaxRedirects redirects to http or
	// https URLs, each dialed through the same address check. Default
	// false: a redirect is an error (ErrRedirect).
	FollowRedirects bool
	// MaxRedirects bounds redirects when FollowRedirects is set. Default 5.
	MaxRedirects int
	// DialTimeout bounds each connection attempt, resolution included.
	// Default 5s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake. Default 5s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for the response head. Default 10s.
	ResponseHeaderTimeout time.Duration
	// Timeout bounds the whole exchange, body included. Default 30s.
	Timeout time.Duration
	// MaxResponseBytes caps each response body. Default 1 MiB.
	MaxResponseBytes int64
	// TLSConfig is cloned for https (roots, client certificates, server
	// name). Nil means the system roots. TLS 1.2 is the minimum.
	TLSConfig *tls.Config
	// Resolver resolves host names. Nil means net.DefaultResolver.
	Resolver Resolver
}

// Policy returns the address policy of the options.
func (o Options) Policy() Policy {
	return Policy{AllowLoopback: o.AllowLoopback, AllowCIDRs: o.AllowCIDRs}
}

func (o *Options) defaults() {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
}

// NewClient returns an HTTP client with the address check, timeouts,
// redirect policy and size cap of o.
func NewClient(o Options) *http.Client {
	o.defaults()
	c := &http.Client{
		Transport: NewTransport(o),
		Timeout:   o.Timeout,
	}
	if o.FollowRedirects {
		maxRedirects := o.MaxRedirects
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: to scheme %q", ErrRedirect, req.URL.Scheme)
			}
			if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: from https to http", ErrRedirect)
			}
			return nil
		}
	} else {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return ErrRedirect }
	}
	return c
}

// NewTransport returns the round tripper under NewClient: the address
// check, the TLS and header timeouts and the size cap, without the
// redirect policy or the total timeout (for reverse proxies, which never
// follow redirects).
func NewTransport(o Options) http.RoundTripper {
	o.defaults()
	d := &dialer{policy: o.Policy(), resolver: o.Resolver, timeout: o.DialTimeout}
	var tc *tls.Config
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	t := &http.Transport{
		Proxy:                  nil, // never the environment's proxy
		DialContext:            d.DialContext,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    o.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &capTransport{next: t, max: o.MaxResponseBytes}
}

// dialer resolves a name itself, refuses it when any address is
// forbidden, and dials the addresses with a Control hook that checks the
// socket address once more just before connect(2).
type dialer struct {
	policy   Policy
	resolver Resolver
	timeout  time.Duration
}

// DialContext dials addr ("host:port") after the address check.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("safehttp: dial %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("safehttp: dial %s: bad port", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("safehttp: resolving %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("safehttp: resolving %s: no addresses", host)
		}
	}
	for _, a := range addrs {
		if err := d.policy.Check(a); err != nil {
			return nil, fmt.Errorf("safehttp: dial %s: %w", host, err)
		}
	}
	nd := &net.Dialer{Control: d.control}
	var firstErr error
	for _, a := range addrs {
		c, err := nd.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("safehttp: dial %s: %w", host, firstErr)
}

// control checks the address the socket is about to connect to.
func (d *dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("safehttp: unparsable socket address %q", address)
	}
	return d.policy.Check(ap.Addr())
}

// capTransport caps response bodies.
type capTransport struct {
	next *http.Transport
	max  int64
}

// RoundTrip sends the request and wraps the response body in a reader that
// fails past the cap.
func (t *capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &capBody{rc: resp.Body, left: t.max, declared: resp.ContentLength}
	}
	return resp, nil
}

// CloseIdleConnections closes idle pooled connections.
func (t *capTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// capBody fails with ErrResponseTooLarge once more than its cap is read.
type capBody struct {
	rc       io.ReadCloser
	left     int64
	declared int64
}

func (b *capBody) Read(p []byte) (int, error) {
	if b.declared > 0 && b.declared > b.left {
		return 0, ErrResponseTooLarge
	}
	if b.left < 0 {
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), ErrResponseTooLarge
	}
	return n, err
}

func (b *capBody) Close() error { return b.rc.Close() }
