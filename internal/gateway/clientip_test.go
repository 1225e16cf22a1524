package gateway

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseHop(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"1.2.3.4", "1.2.3.4"},
		{" 1.2.3.4 ", "1.2.3.4"},
		{"1.2.3.4:80", "1.2.3.4"},
		{`"[2001:db8::1]:443"`, "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"unknown", ""},
		{"_hidden", ""},
		{"", ""},
		{"1.2.3.4.5", ""},
	}
	for _, tt := range tests {
		ip, ok := parseHop(tt.in)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tt.want {
			t.Errorf("parseHop(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestForwardedHeader(t *testing.T) {
	trusted := trustedProxies{netip.MustParsePrefix("127.0.0.0/8")}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Forwarded", `for=198.51.100.17;proto=https, for="[2001:db8::2]:4711";by=127.0.0.2`)
	got := clientIP(r, netip.MustParseAddr("127.0.0.1"), trusted)
	if got.String() != "2001:db8::2" {
		t.Errorf("clientIP(Forwarded) = %v, want 2001:db8::2", got)
	}
}

func TestValidRequestID(t *testing.T) {
	tests := map[string]bool{
		"abc-123": true, "a.b_c:d": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "a b": false, "a\nb": false, "é": false, `"x"`: false,
	}
	for in, want := range tests {
		if got := validRequestID(in); got != want {
			t.Errorf("validRequestID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	g := newRequestIDs()
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := g.next()
		if seen[id] || !validRequestID(id) {
			t.Fatalf("request id %q repeated or invalid", id)
		}
		seen[id] = true
	}
}

// FuzzClientIP: whatever the forwarding headers say, the client address is
// either the peer or an address taken from them, and never a trusted proxy
// unless every hop was trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "6.6.6.6, 1.2.3.4", "for=1.2.3.4", "[::1]:80, 10.0.0.1", "garbage,,,", ""} {
		f.Add(s, s)
	}
	trusted := trustedProxies{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		r, _ := http.NewRequest("GET", "/", nil)
		if xff != "" {
			r.Header["X-Forwarded-For"] = []string{xff}
		}
		if fwd != "" {
			r.Header["Forwarded"] = []string{fwd}
		}
		got := clientIP(r, peer, trusted)
		if !got.IsValid() {
			t.Fatalf("clientIP(%q, %q) is invalid", xff, fwd)
		}
		if got != peer && !strings.Contains(xff+fwd, strings.Trim(got.String(), "[]")) && !got.Is4In6() {
			// an address must come from the headers
			if ip := got.String(); !strings.Contains(strings.ToLower(xff+fwd), ip) {
				t.Fatalf("clientIP(%q, %q) = %v, which the headers do not contain", xff, fwd, got)
			}
		}
		// Untrusted peer: headers are never read.
		if got := clientIP(r, netip.MustParseAddr("192.0.2.1"), trusted); got.String() != "192.0.2.1" {
			t.Fatalf("untrusted peer: clientIP = %v, want the peer", got)
		}
	})
}
