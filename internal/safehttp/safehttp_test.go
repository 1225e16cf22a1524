package safehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want Reason
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"0.0.0.0", ReasonUnspecified},
		{"0.1.2.3", ReasonUnspecified},
		{"127.0.0.1", ReasonLoopback},
		{"127.255.255.254", ReasonLoopback},
		{"10.1.2.3", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"169.254.169.254", ReasonMetadata},
		{"169.254.170.2", ReasonMetadata},
		{"169.254.1.1", ReasonLinkLocal},
		{"100.100.100.200", ReasonMetadata},
		{"100.64.0.1", ReasonCGNAT},
		{"100.127.255.255", ReasonCGNAT},
		{"100.128.0.1", ""},
		{"192.0.0.192", ReasonMetadata},
		{"192.0.0.8", ReasonReserved},
		{"192.0.2.1", ReasonDocumentation},
		{"198.51.100.7", ReasonDocumentation},
		{"203.0.113.9", ReasonDocumentation},
		{"198.18.0.1", ReasonBenchmark},
		{"224.0.0.1", ReasonMulticast},
		{"239.255.255.250", ReasonMulticast},
		{"255.255.255.255", ReasonBroadcast},
		{"240.0.0.1", ReasonReserved},
		{"::", ReasonUnspecified},
		{"::1", ReasonLoopback},
		{"fd00:ec2::254", ReasonMetadata},
		{"fd12:3456::1", ReasonULA},
		{"fc00::1", ReasonULA},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonZone},
		{"fec0::1", ReasonPrivate},
		{"ff02::1", ReasonMulticast},
		{"::ffff:127.0.0.1", ReasonLoopback},
		{"::ffff:169.254.169.254", ReasonMetadata},
		{"::ffff:8.8.8.8", ReasonIPv4Mapped},
		{"::127.0.0.1", ReasonLoopback},
		{"::8.8.8.8", ReasonIPv4Compat},
		{"64:ff9b::7f00:1", ReasonEmbedded},
		{"64:ff9b::a9fe:a9fe", ReasonEmbedded},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::1", ReasonPrivate},
		{"2002:7f00:1::1", ReasonEmbedded},
		{"2002:a9fe:a9fe::1", ReasonEmbedded},
		{"2002:808:808::1", ""},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", ReasonEmbedded}, // Teredo, client 127.0.0.1
		{"2001:0:808:808:8000:63bf:f7f7:f7f7", ""},               // Teredo, public server and client 8.8.8.8
		{"2001:db8::1", ReasonDocumentation},
		{"3fff::1", ReasonDocumentation},
		{"2001:2::1", ReasonBenchmark},
		{"100::1", ReasonReserved},
		{"4000::1", ReasonReserved},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		addr   string
		ok     bool
	}{
		{"public", Policy{}, "8.8.8.8", true},
		{"loopback refused", Policy{}, "127.0.0.1", false},
		{"loopback allowed", Policy{AllowLoopback: true}, "127.0.0.1", true},
		{"v6 loopback allowed", Policy{AllowLoopback: true}, "::1", true},
		{"mapped loopback allowed", Policy{AllowLoopback: true}, "::ffff:127.0.0.1", true},
		{"loopback allowance is not private", Policy{AllowLoopback: true}, "10.0.0.1", false},
		{"cidr allowed", Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, "10.1.2.3", true},
		{"cidr other", Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, "10.2.2.3", false},
		{"zone never", Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}, "fe80::1%lo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.ok {
				t.Errorf("Check(%s) = %v, want ok %v", tt.addr, err, tt.ok)
			}
		})
	}
}

// fakeResolver answers from a table; flip answers differently after the
// first lookup of a name (DNS rebinding).
type fakeResolver struct {
	answers map[string][]string
	second  map[string][]string
	calls   atomic.Int32
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n := r.calls.Add(1)
	ans := r.answers[host]
	if n > 1 && r.second[host] != nil {
		ans = r.second[host]
	}
	if ans == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(ans))
	for i, a := range ans {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }

func TestClientLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := &fakeResolver{answers: map[string][]string{"svc.test": {"127.0.0.1"}}}

	tests := []struct {
		name    string
		opts    Options
		url     string
		wantErr bool
	}{
		{"refused by default", Options{}, srv.URL, true},
		{"refused by name", Options{Resolver: res}, "http://svc.test:" + port + "/", true},
		{"real resolver localhost refused", Options{}, "http://localhost:" + port + "/", true},
		{"allowed with AllowLoopback", Options{AllowLoopback: true}, srv.URL, false},
		{"allowed by CIDR", Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, srv.URL, false},
		{"name allowed with AllowLoopback", Options{AllowLoopback: true, Resolver: res}, "http://svc.test:" + port + "/", false},
		{"real resolver localhost allowed", Options{AllowLoopback: true}, "http://localhost:" + port + "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.opts)
			resp, err := c.Get(tt.url)
			if err == nil {
				defer resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Get(%s) error = %v, want error %v", tt.url, err, tt.wantErr)
			}
			if err != nil {
				var ae *AddressError
				if !errors.As(err, &ae) || ae.Reason != ReasonLoopback {
					t.Errorf("Get(%s) error = %v, want an *AddressError loopback", tt.url, err)
				}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "hello" {
				t.Errorf("Get(%s) body = %q, want hello", tt.url, b)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(hello))
	defer target.Close()
	_, tport, _ := net.SplitHostPort(target.Listener.Addr().String())
	res := &fakeResolver{answers: map[string][]string{
		"public.test":   {"127.0.0.1"}, // the redirector, allowed by CIDR below
		"internal.test": {"127.0.0.2"}, // where it points
	}}
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, "http://internal.test:"+tport+"/", http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		default:
			hello(w, r)
		}
	}))
	defer redirector.Close()
	_, rport, _ := net.SplitHostPort(redirector.Listener.Addr().String())
	base := "http://public.test:" + rport
	only1 := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

	tests := []struct {
		name     string
		opts     Options
		path     string
		wantErr  error
		wantAddr bool
	}{
		{"redirect refused by default", Options{AllowCIDRs: only1, Resolver: res}, "/to-self", ErrRedirect, false},
		{"redirect followed when allowed", Options{AllowCIDRs: only1, Resolver: res, FollowRedirects: true}, "/to-self", nil, false},
		{"redirect to loopback re-checked", Options{AllowCIDRs: only1, Resolver: res, FollowRedirects: true}, "/to-loopback", nil, true},
		{"redirect to file scheme", Options{AllowCIDRs: only1, Resolver: res, FollowRedirects: true}, "/to-file", ErrRedirect, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := NewClient(tt.opts).Get(base + tt.path)
			if err == nil {
				resp.Body.Close()
			}
			var ae *AddressError
			switch {
			case tt.wantAddr:
				if !errors.As(err, &ae) {
					t.Errorf("Get(%s) error = %v, want an *AddressError", tt.path, err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Get(%s) error = %v, want %v", tt.path, err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("Get(%s) error = %v, want nil", tt.path, err)
			}
		})
	}
}

func TestSizeCap(t *testing.T) {
	big := strings.Repeat("x", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = io.WriteString(w, big)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		max     int64
		path    string
		wantErr bool
	}{
		{"under the cap", 5000, "/", false},
		{"over the cap, declared length", 4999, "/", true},
		{"over the cap, chunked", 4999, "/chunked", true},
		{"under the cap, chunked", 5000, "/chunked", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := NewClient(Options{AllowLoopback: true, MaxResponseBytes: tt.max}).Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if tt.wantErr {
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Errorf("ReadAll() = %d bytes, %v, want ErrResponseTooLarge", len(b), err)
				}
				if int64(len(b)) > tt.max {
					t.Errorf("ReadAll() returned %d bytes, more than the cap %d", len(b), tt.max)
				}
				return
			}
			if err != nil || len(b) != len(big) {
				t.Errorf("ReadAll() = %d bytes, %v, want %d, nil", len(b), err, len(big))
			}
		})
	}
}

// TestDNSRebinding: a name that answers a public address to a check made
// before the request, and loopback when the client dials. The dial-time
// check must catch the switch.
func TestDNSRebinding(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := &fakeResolver{
		answers: map[string][]string{"rebind.test": {"93.184.216.34"}},
		second:  map[string][]string{"rebind.test": {"127.0.0.1"}},
	}
	// The "check" an application would do first: the name looks public.
	first, err := res.LookupNetIP(context.Background(), "ip", "rebind.test")
	if err != nil || (Policy{}).Check(first[0]) != nil {
		t.Fatalf("first lookup = %v, %v, want a public address", first, err)
	}
	resp, err := NewClient(Options{Resolver: res}).Get("http://rebind.test:" + port + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("Get(rebinding name) succeeded, want the dial-time check to refuse loopback")
	}
	var ae *AddressError
	if !errors.As(err, &ae) || ae.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Get(rebinding name) error = %v, want an *AddressError for 127.0.0.1", err)
	}
}

// TestControlHook checks the socket-level check on its own: even an
// address that bypassed resolution (a literal) is refused by Control.
func TestControlHook(t *testing.T) {
	d := &dialer{policy: Policy{}}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80", "169.254.169.254:80"} {
		if err := d.control("tcp", addr, nil); err == nil {
			t.Errorf("control(%s) = nil, want an error", addr)
		}
	}
	if err := d.control("tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("control(8.8.8.8:443) = %v, want nil", err)
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	resp, err := NewClient(Options{AllowLoopback: true, ResponseHeaderTimeout: 100 * time.Millisecond}).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Get(slow server) = nil error, want a timeout")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Get(slow server) took %v, want about 100ms", d)
	}
}

func TestNoEnvironmentProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	resp, err := NewClient(Options{AllowLoopback: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("Get() with HTTP_PROXY set = %v, want the proxy ignored", err)
	}
	resp.Body.Close()
}

func BenchmarkClassify(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700:4700::1111"), netip.MustParseAddr("::ffff:127.0.0.1")}
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range addrs {
			_ = Classify(a)
		}
	}
}
