package ssrf

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/safehttp"
)

// testResolver answers from a table; unknown names do not resolve.
type testResolver map[string][]string

func (r testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ans, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(ans))
	for i, a := range ans {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

var names = testResolver{
	"example.com":              {"93.184.216.34"},
	"api.example.com":          {"93.184.216.35"},
	"good.example":             {"93.184.216.36"},
	"cdn.good.example":         {"93.184.216.37"},
	"evil.example":             {"203.0.114.1"},
	"metadata.google.internal": {"169.254.169.254"},
	"internal.example":         {"10.0.0.5"},
	"mixed.example":            {"93.184.216.38", "192.168.1.1"},
	"v6only.example":           {"2606:2800:220:1:248:1893:25c8:1946"},
	"v6ula.example":            {"fd00::1"},
	"rebind.example":           {"127.0.0.1"},
	"127.0.0.1.nip.io":         {"127.0.0.1"},
	"xn--ggle-55da.example":    {"93.184.216.39"},
}

func testChecker(allow ...string) *Checker {
	al, err := newHostList(allow)
	if err != nil {
		panic(err)
	}
	dl, _ := newHostList([]string{"blocked.example", "*.corp.example"})
	return &Checker{Schemes: []string{"http", "https"}, Allow: al, Deny: dl, Resolver: names, ResolveTimeout: time.Second, MaxBytes: 4096}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		url  string
		kind Kind
		want string // rule, "" for accepted
	}{
		// Accepted.
		{"https://example.com/avatar.png", Absolute, ""},
		{"http://example.com:8080/x?y=1#z", Absolute, ""},
		{"HTTPS://EXAMPLE.COM/", Absolute, ""},
		{"https://example.com./", Absolute, ""},
		{"https://93.184.216.34/", Absolute, ""},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]/", Absolute, ""},
		{"https://v6only.example/", Absolute, ""},
		{"https://xn--ggle-55da.example/", Absolute, ""},
		{"/relative/path", Reference, ""},
		{"relative?x=1", Reference, ""},
		{"", Reference, ""},
		// Loopback and private, every spelling.
		{"http://127.0.0.1/", Absolute, RuleForbiddenAddress},
		{"http://127.1/", Absolute, RuleForbiddenAddress},
		{"http://127.0.1/", Absolute, RuleForbiddenAddress},
		{"http://2130706433/", Absolute, RuleForbiddenAddress},
		{"http://017700000001/", Absolute, RuleForbiddenAddress},
		{"http://0177.0.0.1/", Absolute, RuleForbiddenAddress},
		{"http://0x7f.1/", Absolute, RuleForbiddenAddress},
		{"http://0x7f000001/", Absolute, RuleForbiddenAddress},
		{"http://0x7F.0.0.1/", Absolute, RuleForbiddenAddress},
		{"http://0x7f.0.0.01/", Absolute, RuleForbiddenAddress},
		{"http://127.000.000.001/", Absolute, RuleForbiddenAddress},
		{"http://0/", Absolute, RuleForbiddenAddress},
		{"http://0.0.0.0/", Absolute, RuleForbiddenAddress},
		{"http://127.0.0.1:6379/", Absolute, RuleForbiddenAddress},
		{"http://127.0.0.1./", Absolute, RuleForbiddenAddress},
		{"http://10.0.0.1/", Absolute, RuleForbiddenAddress},
		{"http://172.16.5.4/", Absolute, RuleForbiddenAddress},
		{"http://192.168.0.1/", Absolute, RuleForbiddenAddress},
		{"http://0xc0a80001/", Absolute, RuleForbiddenAddress},
		{"http://3232235521/", Absolute, RuleForbiddenAddress},
		{"http://100.64.0.1/", Absolute, RuleForbiddenAddress},
		{"http://255.255.255.255/", Absolute, RuleForbiddenAddress},
		{"http://224.0.0.1/", Absolute, RuleForbiddenAddress},
		{"http://192.0.2.10/", Absolute, RuleForbiddenAddress},
		// Cloud metadata.
		{"http://169.254.169.254/latest/meta-data/", Absolute, RuleForbiddenAddress},
		{"http://169.254.43518/", Absolute, RuleForbiddenAddress},
		{"http://2852039166/", Absolute, RuleForbiddenAddress},
		{"http://0xa9fea9fe/", Absolute, RuleForbiddenAddress},
		{"http://0251.0376.0251.0376/", Absolute, RuleForbiddenAddress},
		{"http://metadata.google.internal/computeMetadata/v1/", Absolute, RuleForbiddenAddress},
		{"http://100.100.100.200/latest/meta-data/", Absolute, RuleForbiddenAddress},
		{"http://[fd00:ec2::254]/latest/meta-data/", Absolute, RuleForbiddenAddress},
		// IPv6 forms.
		{"http://[::1]/", Absolute, RuleForbiddenAddress},
		{"http://[0:0:0:0:0:0:0:1]/", Absolute, RuleForbiddenAddress},
		{"http://[::]/", Absolute, RuleForbiddenAddress},
		{"http://[::ffff:127.0.0.1]/", Absolute, RuleForbiddenAddress},
		{"http://[::ffff:7f00:1]/", Absolute, RuleForbiddenAddress},
		{"http://[::ffff:169.254.169.254]/", Absolute, RuleForbiddenAddress},
		{"http://[::ffff:8.8.8.8]/", Absolute, RuleForbiddenAddress},
		{"http://[::127.0.0.1]/", Absolute, RuleForbiddenAddress},
		{"http://[64:ff9b::127.0.0.1]/", Absolute, RuleForbiddenAddress},
		{"http://[2002:7f00:1::]/", Absolute, RuleForbiddenAddress},
		{"http://[fe80::1]/", Absolute, RuleForbiddenAddress},
		{"http://[fc00::1]/", Absolute, RuleForbiddenAddress},
		{"http://[fe80::1%25eth0]/", Absolute, RuleAmbiguousURL},
		{"http://[::1/", Absolute, RuleAmbiguousURL},
		{"http://[::1]x/", Absolute, RuleAmbiguousURL},
		{"http://[127.0.0.1]/", Absolute, RuleAmbiguousURL},
		// DNS names that resolve inside.
		{"http://localhost/", Absolute, RuleForbiddenAddress},
		{"http://LOCALHOST./", Absolute, RuleForbiddenAddress},
		{"http://app.localhost/", Absolute, RuleForbiddenAddress},
		{"http://internal.example/", Absolute, RuleForbiddenAddress},
		{"http://mixed.example/", Absolute, RuleForbiddenAddress},
		{"http://v6ula.example/", Absolute, RuleForbiddenAddress},
		{"http://127.0.0.1.nip.io/", Absolute, RuleForbiddenAddress},
		{"http://does-not-exist.example/", Absolute, RuleHostNotAllowed},
		// Userinfo and @ in odd places.
		{"http://example.com@127.0.0.1/", Absolute, RuleAmbiguousURL},
		{"http://user:pass@example.com/", Absolute, RuleAmbiguousURL},
		{"http://example.com:80@evil.example/", Absolute, RuleAmbiguousURL},
		{"http://example.com#@evil.example/", Absolute, RuleAmbiguousURL},
		{"http://example.com?@evil.example/", Absolute, RuleAmbiguousURL},
		{"http://@example.com/", Absolute, RuleAmbiguousURL},
		{"http://example.com%40127.0.0.1/", Absolute, RuleAmbiguousURL},
		// Backslashes, whitespace, control characters, encodings.
		{`http://example.com\@127.0.0.1/`, Absolute, RuleAmbiguousURL},
		{`http:\\127.0.0.1\`, Absolute, RuleAmbiguousURL},
		{`http://127.0.0.1\.example.com/`, Absolute, RuleAmbiguousURL},
		{"http://exa mple.com/", Absolute, RuleAmbiguousURL},
		{" http://127.0.0.1/", Absolute, RuleAmbiguousURL},
		{"http://example.com/\r\nHost: 127.0.0.1", Absolute, RuleAmbiguousURL},
		{"http://exam\tple.com/", Absolute, RuleAmbiguousURL},
		{"http://example.com\x00.evil/", Absolute, RuleAmbiguousURL},
		{"http://%31%32%37.0.0.1/", Absolute, RuleAmbiguousURL},
		{"http://127%2e0%2e0%2e1/", Absolute, RuleAmbiguousURL},
		{"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", Absolute, RuleAmbiguousURL},
		{"http://①②⑦.⓪.⓪.①/", Absolute, RuleAmbiguousURL},
		{"http://ｅｘａｍｐｌｅ.com/", Absolute, RuleAmbiguousURL},
		{"http://exa_mple..com/", Absolute, RuleAmbiguousURL},
		{"http://example.com:/", Absolute, RuleAmbiguousURL},
		{"http://example.com:0/", Absolute, RuleAmbiguousURL},
		{"http://example.com:65536/", Absolute, RuleAmbiguousURL},
		{"http://example.com:80:80/", Absolute, RuleAmbiguousURL},
		{"http://example.com:8o/", Absolute, RuleAmbiguousURL},
		{"http://1.2.3.256/", Absolute, RuleAmbiguousURL},
		{"http://1.2.3.4.5/", Absolute, RuleAmbiguousURL},
		{"http://example.123/", Absolute, RuleAmbiguousURL},
		{"http://0x/", Absolute, RuleForbiddenAddress},
		{"http://8.8.8.010/", Absolute, RuleAmbiguousURL},
		{"http://134744072/", Absolute, RuleAmbiguousURL},
		{"http:/127.0.0.1/", Absolute, RuleAmbiguousURL},
		{"http:127.0.0.1", Absolute, RuleAmbiguousURL},
		{"http:///127.0.0.1/", Absolute, RuleAmbiguousURL},
		{"http://", Absolute, RuleAmbiguousURL},
		{"//127.0.0.1/", Reference, RuleAmbiguousURL},
		{"127.0.0.1/x", Absolute, RuleAmbiguousURL},
		{"http://" + strings.Repeat("a", 5000) + ".com/", Absolute, RuleAmbiguousURL},
		// Schemes.
		{"file:///etc/passwd", Absolute, RuleSchemeNotAllowed},
		{"gopher://127.0.0.1:6379/_FLUSHALL", Absolute, RuleSchemeNotAllowed},
		{"dict://127.0.0.1:11211/stat", Absolute, RuleSchemeNotAllowed},
		{"ftp://example.com/", Absolute, RuleSchemeNotAllowed},
		{"jar:http://example.com!/", Absolute, RuleSchemeNotAllowed},
		{"javascript:alert(1)", Absolute, RuleSchemeNotAllowed},
		{"localhost:8080/x", Reference, RuleSchemeNotAllowed},
		// Host lists.
		{"http://blocked.example/", Absolute, RuleHostNotAllowed},
		{"http://a.corp.example/", Absolute, RuleHostNotAllowed},
		// Redirectors.
		{"https://example.com/redirect?to=http://169.254.169.254/", Absolute, RuleAmbiguousURL},
		{"https://example.com/r?u=http%3A%2F%2F127.0.0.1%2F", Absolute, RuleAmbiguousURL},
		{"https://example.com/r?u=%252F%252F127.0.0.1", Absolute, RuleAmbiguousURL},
		{"https://example.com/r?u=//127.0.0.1/", Absolute, RuleAmbiguousURL},
		{"https://example.com/go/https://example.com/", Absolute, RuleAmbiguousURL},
	}
	c := testChecker()
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			f := c.Check(context.Background(), tt.url, tt.kind)
			got := ""
			if f != nil {
				got = f.Rule
			}
			if got != tt.want {
				t.Errorf("Check(%q) = %q (%+v), want %q", tt.url, got, f, tt.want)
			}
		})
	}
	if len(tests) < 50 {
		t.Fatalf("only %d shapes", len(tests))
	}
}

func TestCheckAllowList(t *testing.T) {
	c := testChecker("good.example", "*.good.example", "api.example.com")
	tests := []struct {
		url  string
		want string
	}{
		{"https://good.example/a.png", ""},
		{"https://cdn.good.example/a.png", ""},
		{"https://GOOD.EXAMPLE./a.png", ""},
		{"https://api.example.com/", ""},
		{"https://example.com/", RuleHostNotAllowed},
		{"https://evilgood.example/", RuleHostNotAllowed},
		{"https://good.example.evil.example/", RuleHostNotAllowed},
		{"https://xn--ggle-55da.example/", RuleHostNotAllowed},
		{"https://good.example@evil.example/", RuleAmbiguousURL},
		{"https://evil.example#.good.example/", RuleHostNotAllowed},
		// An allow-listed redirector: its nested URL is checked like any URL.
		{"https://good.example/r?to=https://cdn.good.example/x", ""},
		{"https://good.example/r?to=http://169.254.169.254/", RuleHostNotAllowed},
		{"https://good.example/r?to=https://example.com/", RuleHostNotAllowed},
		{"https://good.example/r?a=https://good.example/1&b=https://good.example/2&c=https://good.example/3&d=https://good.example/4&e=https://good.example/5", RuleAmbiguousURL},
		{"https://good.example/r?a=https://good.example/r?b=https://cdn.good.example/", ""},
		{"https://metadata.google.internal/", RuleHostNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			f := c.Check(context.Background(), tt.url, Absolute)
			got := ""
			if f != nil {
				got = f.Rule
			}
			if got != tt.want {
				t.Errorf("Check(%q) = %q (%+v), want %q", tt.url, got, f, tt.want)
			}
		})
	}
}

func TestCheckAllowCIDRAndNestedCheck(t *testing.T) {
	c := testChecker()
	c.Policy = safehttp.Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	c.CheckNestedOnly = true
	tests := []struct {
		url  string
		want string
	}{
		{"http://internal.example/", ""},
		{"http://10.0.0.9/", ""},
		{"http://10.0.1.9/", RuleForbiddenAddress},
		{"https://example.com/share?u=https://example.com/", ""},
		{"https://example.com/share?u=http://127.0.0.1/", RuleForbiddenAddress},
	}
	for _, tt := range tests {
		f := c.Check(context.Background(), tt.url, Absolute)
		got := ""
		if f != nil {
			got = f.Rule
		}
		if got != tt.want {
			t.Errorf("Check(%q) = %q (%+v), want %q", tt.url, got, f, tt.want)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	tests := []struct {
		in        string
		want      string
		canonical bool
		ok        bool
	}{
		{"127.0.0.1", "127.0.0.1", true, true},
		{"127.1", "127.0.0.1", false, true},
		{"2130706433", "127.0.0.1", false, true},
		{"0x7f.1", "127.0.0.1", false, true},
		{"0177.0.0.1", "127.0.0.1", false, true},
		{"0x7f.0x0.0x0.0x1", "127.0.0.1", false, true},
		{"10.1.65535", "10.1.255.255", false, true},
		{"10.1.65536", "", false, false},
		{"256.0.0.1", "", false, false},
		{"4294967295", "255.255.255.255", false, true},
		{"4294967296", "", false, false},
		{"08.0.0.1", "", false, false},
		{"0x", "0.0.0.0", false, true},
		{"1..1", "", false, false},
	}
	for _, tt := range tests {
		a, canonical, ok := parseLooseIPv4(tt.in)
		if ok != tt.ok || ok && (a.String() != tt.want || canonical != tt.canonical) {
			t.Errorf("parseLooseIPv4(%q) = %v, %v, %v, want %s, %v, %v", tt.in, a, canonical, ok, tt.want, tt.canonical, tt.ok)
		}
	}
}

// FuzzURLCheck: the checker never panics, and whatever it accepts parses
// with net/url to a host whose every address (under the test resolver, or
// as any IPv4 reading of a numeric host) is public.
func FuzzURLCheck(f *testing.F) {
	for _, s := range []string{
		"https://example.com/", "http://127.1/", "http://2130706433/", "http://[::ffff:127.0.0.1]/",
		"http://example.com@127.0.0.1/", `http:\\127.0.0.1`, "http://0x7f.1/", "http://%31%32%37.0.0.1/",
		"https://example.com/r?to=http://169.254.169.254/", "http://metadata.google.internal/", "//x", "/rel",
		"http://[fe80::1%25lo]/", "http://mixed.example/", "https://v6only.example:443/a?b#c",
	} {
		f.Add(s, false)
	}
	c := testChecker()
	f.Fuzz(func(t *testing.T, raw string, reference bool) {
		kind := Absolute
		if reference {
			kind = Reference
		}
		if c.Check(context.Background(), raw, kind) != nil {
			return
		}
		p, fnd := c.parse(raw, kind)
		if fnd != nil {
			t.Fatalf("Check(%q) accepted but parse refused: %+v", raw, fnd)
		}
		if p == nil {
			if kind == Absolute || strings.HasPrefix(raw, "//") {
				t.Fatalf("Check(%q) accepted a relative reference as %v", raw, kind)
			}
			return
		}
		host := strings.TrimSuffix(strings.ToLower(hostOf(t, raw)), ".")
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else if a, _, ok := parseLooseIPv4(host); ok {
			addrs = []netip.Addr{a}
		} else {
			for _, s := range names[host] {
				addrs = append(addrs, netip.MustParseAddr(s))
			}
			if len(addrs) == 0 {
				t.Fatalf("Check(%q) accepted host %q that does not resolve", raw, host)
			}
		}
		for _, a := range addrs {
			if r := safehttp.Classify(a); r != "" {
				t.Fatalf("Check(%q) accepted host %q resolving to %s (%s)", raw, host, a, r)
			}
		}
	})
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("accepted %q that net/url refuses: %v", raw, err)
	}
	return u.Hostname()
}

func BenchmarkCheck(b *testing.B) {
	c := testChecker()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if c.Check(ctx, "https://api.example.com/v1/avatars/alice.png?size=128", Absolute) != nil {
			b.Fatal("refused")
		}
	}
}
