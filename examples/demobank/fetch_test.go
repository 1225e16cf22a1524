package demobank

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestIsBlockedAddr(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"fe80::1", true},
		{"fd00:ec2::254", true},
		{"0.0.0.0", true},
		{"::", true},
		{"100.64.0.1", true},
		{"224.0.0.1", true},
		{"255.255.255.255", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"2002:7f00:1::", true},
		{"198.18.0.1", true},
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"2606:4700:4700::1111", false},
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := isBlockedAddr(netip.MustParseAddr(tt.in)); got != tt.want {
				t.Errorf("isBlockedAddr(%s) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckFetchURL(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		blocked bool
	}{
		{"https://images.demobank.example/a.png", true, false},
		{"https://8.8.8.8/x", true, false},
		{"https://images.demobank.example:8443/a.png", true, false},
		{"http://images.demobank.example/a.png", false, false},
		{"HTTPS://images.demobank.example/a.png", true, false},
		{"file:///etc/passwd", false, false},
		{"gopher://127.0.0.1:25/", false, false},
		{"https://127.0.0.1/", false, true},
		{"https://[::1]/", false, true},
		{"https://[::ffff:169.254.169.254]/", false, true},
		{"https://169.254.169.254/latest/meta-data/", false, true},
		{"https://localhost/", false, true},
		{"https://foo.localhost/", false, true},
		{"https://user:pw@images.demobank.example/", false, false},
		{"https:images.demobank.example", false, false},
		{"https:///path", false, false},
		{"https://images.demobank.example:0/", false, false},
		{"https://images.demobank.example:99999/", false, false},
		{"https://ex%61mple.com/", false, false},
		{"", false, false},
		{"https://" + strings.Repeat("a", 2100) + ".example/", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := checkFetchURL(tt.in, isBlockedAddr)
			if (err == nil) != tt.ok || errors.Is(err, errBlockedAddress) != tt.blocked {
				t.Errorf("checkFetchURL(%q) = %v, want ok %v blocked %v", tt.in, err, tt.ok, tt.blocked)
			}
		})
	}
}

// TestFixedClientRefusesAtDial bypasses the URL check to show that the
// fixed client itself refuses loopback, whatever name led there.
func TestFixedClientRefusesAtDial(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Errorf("fixed client reached the loopback server")
	}))
	defer target.Close()
	s, err := New(Options{Fixed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, u := range []string{target.URL, localhostURL(target.URL), "http://[::1]:1/"} {
		t.Run(u, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", u, nil)
			resp, err := s.client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, errBlockedAddress) {
				t.Errorf("fixed client GET %s error = %v, want errBlockedAddress", u, err)
			}
		})
	}
	// The vulnerable client goes there.
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	hit := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hit.Close()
	resp, err := v.client().Get(hit.URL)
	if err != nil {
		t.Fatalf("vulnerable client GET %s error = %v, want nil", hit.URL, err)
	}
	resp.Body.Close()
}

func TestValidateWebhookAnswer(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"status":"ok"}`, true},
		{` {"status" : "received"} `, true},
		{`{"status":"ok","url":"http://169.254.169.254/"}`, false},
		{`{"status":"a","status":"b"}`, false},
		{`{"status":""}`, false},
		{`{"status":1}`, false},
		{`{"status":null}`, false},
		{`{}`, false},
		{`null`, false},
		{`[]`, false},
		{`"ok"`, false},
		{`{"status":"ok"}{"status":"ok"}`, false},
		{`{"status":"ok"} x`, false},
		{`{"status":"` + strings.Repeat("a", 65) + `"}`, false},
		{`{"status":"a\u0000b"}`, false},
		{`{"Status":"ok"}`, false},
		{`<html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if err := validateWebhookAnswer([]byte(tt.in)); (err == nil) != tt.ok {
				t.Errorf("validateWebhookAnswer(%s) = %v, want ok %v", tt.in, err, tt.ok)
			}
		})
	}
}

func FuzzCheckFetchURL(f *testing.F) {
	for _, s := range []string{"https://a.example/x", "https://127.0.0.1/", "https://[::ffff:10.0.0.1]/", "http://x/", "https://user@x/", "https://x:1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := checkFetchURL(raw, isBlockedAddr)
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("checkFetchURL(%q) accepted %v", raw, u)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && isBlockedAddr(ip) {
			t.Fatalf("checkFetchURL(%q) accepted blocked address %s", raw, ip)
		}
	})
}

func FuzzValidateWebhookAnswer(f *testing.F) {
	for _, s := range []string{`{"status":"ok"}`, `{"status":"ok","x":1}`, `{"status":"a","status":"b"}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if validateWebhookAnswer(b) != nil {
			return
		}
		if err := countMembers(b); err != nil {
			t.Fatalf("validateWebhookAnswer(%q) accepted an answer with other members: %v", b, err)
		}
		if !strings.Contains(string(b), "status") && !strings.Contains(string(b), `\u`) {
			t.Fatalf("validateWebhookAnswer(%q) accepted an answer without status", b)
		}
	})
}

// FuzzAuthenticateFixed: no token an attacker makes up authenticates to
// the fixed variant (the fuzzer does not know the instance key).
func FuzzAuthenticateFixed(f *testing.F) {
	s, err := New(Options{Fixed: true})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Add("Bearer " + noneToken("http://demobank.test", "1", []string{"admin"}, seedTime.AddDate(10, 0, 0)))
	f.Add("Bearer eyJhbGciOiJFUzI1NiJ9.e30.")
	f.Add("bearer a.b.c")
	f.Add("Basic YWxpY2U6YWxpY2UtcGFzcw==")
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "http://demobank.test/api/v1/accounts", nil)
		req.Header.Set("Authorization", header)
		if p, err := s.authenticate(req); p != nil || err == nil {
			t.Fatalf("authenticate(%q) = %v, %v, want nil and an error", header, p, err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		h, c, err := parseToken(tok)
		if err != nil {
			return
		}
		if len(tok) > maxTokenLength || strings.Count(tok, ".") != 2 {
			t.Fatalf("parseToken(%q) = %v, %v, want an error", tok, h, c)
		}
	})
}
