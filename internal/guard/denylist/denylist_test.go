package denylist

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

var t0 = time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)

// build makes the guard of section (YAML) with services svc.
func build(t testing.TB, section string, svc *pipeline.Services) (*guard, error) {
	t.Helper()
	g, err := New(pipeline.Build{API: "bank", Services: svc, Path: "apis[0].guards.denylist",
		Decode: func(v any) (bool, error) {
			if section == "" {
				return false, nil
			}
			dec := yaml.NewDecoder(strings.NewReader(section))
			dec.KnownFields(true)
			return true, dec.Decode(v)
		}})
	if err != nil {
		return nil, err
	}
	return g.(*guard), nil
}

func services(t testing.TB, now time.Time) *pipeline.Services {
	svc := pipeline.NewServices(pipeline.Services{Now: func() time.Time { return now }})
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// jwt returns an unsigned token with the given payload JSON.
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func exchange(method, ip string, headers ...string) *pipeline.Exchange {
	x := pipeline.NewExchange()
	x.Request = httptest.NewRequest(method, "/api/v1/accounts", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		x.Request.Header.Set(headers[i], headers[i+1])
	}
	x.ClientIP = netip.MustParseAddr(ip)
	return x
}

func TestRequest(t *testing.T) {
	section := `
entries:
  - {kind: ip, value: 192.0.2.7, reason: scanner}
  - {kind: cidr, value: 198.51.100.0/24}
  - {kind: cidr, value: "2001:db8::/32"}
  - {kind: key, value: 0123456789ab}
  - {kind: principal, value: mallory}
  - {kind: jti, value: tok-1}
  - {kind: ip, value: 192.0.2.9, expires: "2030-01-02T14:00:00Z"}
`
	g, err := build(t, section, services(t, t0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		x        *pipeline.Exchange
		wantRule string
		wantCat  string
	}{
		{"clean", exchange("GET", "192.0.2.1"), "", ""},
		{"ip", exchange("GET", "192.0.2.7"), "denylist.ip", "API4"},
		{"ipv4-mapped ip", exchange("GET", "::ffff:192.0.2.7"), "denylist.ip", "API4"},
		{"cidr", exchange("GET", "198.51.100.200"), "denylist.cidr", "API4"},
		{"next to cidr", exchange("GET", "198.51.101.1"), "", ""},
		{"ipv6 cidr", exchange("GET", "2001:db8:1::5"), "denylist.cidr", "API4"},
		{"expired ip", exchange("GET", "192.0.2.9"), "", ""},
		{"api key", exchange("GET", "192.0.2.1", "X-API-Key", "agk_0123456789ab_c2VjcmV0"), "denylist.key", "API2"},
		{"other api key", exchange("GET", "192.0.2.1", "X-API-Key", "agk_0123456789ac_c2VjcmV0"), "", ""},
		{"principal", exchange("GET", "192.0.2.1", "Authorization", "Bearer "+jwt(`{"sub":"mallory"}`)), "denylist.principal", "API2"},
		{"jti", exchange("GET", "192.0.2.1", "Authorization", "Bearer "+jwt(`{"sub":"alice","jti":"tok-1"}`)), "denylist.jti", "API2"},
		{"other token", exchange("GET", "192.0.2.1", "Authorization", "Bearer "+jwt(`{"sub":"alice","jti":"tok-2"}`)), "", ""},
		{"not a jwt", exchange("GET", "192.0.2.1", "Authorization", "Bearer mallory"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := g.Request(context.Background(), tt.x)
			if err != nil {
				t.Fatalf("Request() error = %v", err)
			}
			if v.Rule != tt.wantRule || v.Category != tt.wantCat {
				t.Errorf("Request(%s) = %q %q, want %q %q", tt.name, v.Rule, v.Category, tt.wantRule, tt.wantCat)
			}
			if tt.wantRule != "" && (v.Action != pipeline.Block || v.Status != http.StatusForbidden) {
				t.Errorf("Request(%s) = %v %d, want block 403", tt.name, v.Action, v.Status)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ section, want string }{
		{`entries: [{kind: ip, value: 300.1.1.1}]`, "entries[0].value: must be an IP address"},
		{`entries: [{kind: cidr, value: 10.0.0.0/33}]`, "entries[0].value: must be a CIDR"},
		{`entries: [{kind: asn, value: "64496"}]`, "entries[0].kind: must be one of"},
		{`entries: [{kind: jti, value: ""}]`, "entries[0].value: must be 1 to"},
		{`entries: [{kind: ip, value: 192.0.2.1, expires: tomorrow}]`, "entries[0].expires: must be an RFC 3339 time"},
		{`retry_after: -1s`, "must not be negative"},
		{`mode: loud`, "mode: must be enforce or monitor"},
		{`nosuch: 1`, "nosuch"},
	}
	for _, tt := range tests {
		_, err := build(t, tt.section, services(t, t0))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) error = %v, want %q", tt.section, err, tt.want)
		}
	}
}

func TestLockdown(t *testing.T) {
	svc := services(t, t0)
	g, err := build(t, "", svc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		mode, method string
		ttl          time.Duration
		wantRule     string
		wantRetry    string
	}{
		{ModeReadOnly, "GET", 0, "", ""},
		{ModeReadOnly, "HEAD", 0, "", ""},
		{ModeReadOnly, "OPTIONS", 0, "", ""},
		{ModeReadOnly, "POST", 0, "denylist.lockdown_read_only", "60"},
		{ModeReadOnly, "DELETE", 10 * time.Second, "denylist.lockdown_read_only", "10"},
		{ModeClosed, "GET", 0, "denylist.lockdown_closed", "60"},
		{ModeClosed, "GET", 90 * time.Minute, "denylist.lockdown_closed", "60"},
		{ModeOff, "POST", 0, "", ""},
	}
	for _, tt := range tests {
		l := store.Lockdown{API: "bank", Mode: tt.mode, Created: t0}
		if tt.ttl > 0 {
			l.Expires = t0.Add(tt.ttl)
		}
		if _, err := g.st.setLockdown(ctx, l); err != nil {
			t.Fatal(err)
		}
		v, _ := g.Request(ctx, exchange(tt.method, "192.0.2.1"))
		if v.Rule != tt.wantRule || v.Header.Get("Retry-After") != tt.wantRetry {
			t.Errorf("lockdown %s ttl %v: Request(%s) = %q Retry-After %q, want %q %q", tt.mode, tt.ttl, tt.method, v.Rule, v.Header.Get("Retry-After"), tt.wantRule, tt.wantRetry)
		}
		if tt.wantRule != "" && v.Status != http.StatusServiceUnavailable {
			t.Errorf("lockdown %s: status = %d, want 503", tt.mode, v.Status)
		}
	}
	// Another API is not affected.
	if _, err := g.st.setLockdown(ctx, store.Lockdown{API: "shop", Mode: ModeClosed, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Request(ctx, exchange("POST", "192.0.2.1")); v.Rule != "" {
		t.Errorf("lockdown of shop: Request(bank) = %q, want no verdict", v.Rule)
	}
}

func TestPrefixTable(t *testing.T) {
	var p prefixTable
	for i, s := range []string{"10.0.0.0/8", "10.1.0.0/16", "192.0.2.1/32", "2001:db8::/48", "::/0"} {
		pf, err := parsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		p.add(pf, &entry{id: s, expires: int64(i) * 0})
	}
	tests := []struct{ ip, want string }{
		{"10.1.2.3", "10.1.0.0/16"},
		{"10.2.2.3", "10.0.0.0/8"},
		{"11.0.0.1", ""},
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:10.1.0.1", "10.1.0.0/16"},
		{"2001:db8:0:1::1", "2001:db8::/48"},
		{"2001:db9::1", "::/0"},
		{"fe80::1%eth0", "::/0"},
	}
	for _, tt := range tests {
		got := ""
		if e := p.lookup(netip.MustParseAddr(tt.ip), 1); e != nil {
			got = e.id
		}
		if got != tt.want {
			t.Errorf("lookup(%s) = %q, want %q", tt.ip, got, tt.want)
		}
	}
	if e := p.lookup(netip.Addr{}, 1); e != nil {
		t.Errorf("lookup(invalid) = %q, want nil", e.id)
	}
}

func TestTokenClaims(t *testing.T) {
	tests := []struct{ auth, sub, jti string }{
		{"Bearer " + jwt(`{"sub":"alice","jti":"j1"}`), "alice", "j1"},
		{"bearer " + jwt(`{"sub":"alice"}`), "alice", ""},
		{"DPoP " + jwt(`{"jti":"j2"}`), "", "j2"},
		{"Bearer " + jwt(`{"sub":42,"jti":["x"]}`), "", ""},
		{"Bearer " + jwt(`not json`), "", ""},
		{"Basic " + jwt(`{"sub":"alice"}`), "", ""},
		{"Bearer a.!!!.c", "", ""},
		{"Bearer abc", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		sub, jti := tokenClaims(tt.auth)
		if sub != tt.sub || jti != tt.jti {
			t.Errorf("tokenClaims(%q) = %q, %q, want %q, %q", tt.auth, sub, jti, tt.sub, tt.jti)
		}
	}
}

func FuzzTokenClaims(f *testing.F) {
	f.Add("Bearer " + jwt(`{"sub":"alice","jti":"j1"}`))
	f.Add("Bearer a.b.c")
	f.Add("DPoP ..")
	f.Fuzz(func(t *testing.T, auth string) {
		sub, jti := tokenClaims(auth)
		if len(sub)+len(jti) > len(auth) {
			t.Errorf("tokenClaims(%q) = %q, %q: longer than the input", auth, sub, jti)
		}
	})
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:10.0.0.0/104", "2001:db8::/32", "k1"} {
		f.Add(KindIP, s)
		f.Add(KindCIDR, s)
	}
	f.Fuzz(func(t *testing.T, kind, value string) {
		v, err := canonical(kind, value)
		if err != nil {
			return
		}
		// Canonical values are fixed points and compile.
		if v2, err := canonical(kind, v); err != nil || v2 != v {
			t.Errorf("canonical(%q, %q) = %q, then %q, %v", kind, value, v, v2, err)
		}
		if _, errs := compile([]store.Block{{ID: "x", Kind: kind, Value: v}}, nil); len(errs) > 0 {
			t.Errorf("compile(%q %q) = %v", kind, v, errs)
		}
	})
}

func BenchmarkRequestIP(b *testing.B) {
	svc := services(b, t0)
	var sb strings.Builder
	sb.WriteString("entries:\n")
	for i := range 200 {
		sb.WriteString("  - {kind: cidr, value: 10." + strconv.Itoa(i) + ".0.0/16}\n")
		sb.WriteString("  - {kind: ip, value: 172.16." + strconv.Itoa(i) + ".9}\n")
	}
	sb.WriteString("  - {kind: cidr, value: \"2001:db8::/32\"}\n")
	g, err := build(b, sb.String(), svc)
	if err != nil {
		b.Fatal(err)
	}
	x := exchange("GET", "198.51.100.1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := g.Request(ctx, x); v.Action != pipeline.Continue {
			b.Fatal("blocked")
		}
	}
}

func BenchmarkPrefixLookup(b *testing.B) {
	t, _ := compile([]store.Block{{ID: "a", Kind: KindCIDR, Value: "10.0.0.0/8"}, {ID: "b", Kind: KindIP, Value: "192.0.2.1"}, {ID: "c", Kind: KindCIDR, Value: "2001:db8::/32"}}, nil)
	a := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		if t.prefixes.lookup(a, 1) == nil {
			b.Fatal("not found")
		}
	}
}
