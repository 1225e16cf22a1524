package waf_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard, as in the binary
)

// TestAnswersDemobankProfile: demobank's everyday answers (accounts,
// transactions, users, search) pass the example profile's waf.response
// step untouched (no waf event); the profile runs behind a relay that
// answers one probe search with an Oracle error instead of asking
// demobank, the positive control: that answer is withheld.
func TestAnswersDemobankProfile(t *testing.T) {
	var bank atomic.Value // demobank's URL, known once the environment runs
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("q") == "leakprobe" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"id":1,"memo":"ORA-01756: quoted string not properly terminated"}]`))
			return
		}
		u, _ := url.Parse(bank.Load().(string))
		r.Host = u.Host // demobank names its tokens' issuer after the host
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(relay.Close)
	profile, err := os.ReadFile("../../../examples/demobank/apiguard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile("../../../examples/demobank/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	upstream := `urls: ["${DEMOBANK_URL:-http://127.0.0.1:8081}"]`
	if !bytes.Contains(profile, []byte(upstream)) {
		t.Fatalf("the example profile has no upstream line %s", upstream)
	}
	profile = bytes.Replace(profile, []byte(upstream), []byte(`urls: ["`+relay.URL+`"]`), 1)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"apiguard.yaml": profile, "openapi.yaml": spec} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: filepath.Join(dir, "apiguard.yaml")})
	bank.Store(env.BankURL)
	alice := env.Login(t, "alice")
	admin := env.Login(t, "admin")
	paths := []struct{ path, token string }{
		{"/api/v1/accounts", alice},
		{"/api/v1/accounts/101", alice},
		{"/api/v1/transactions?limit=100", alice},
		{"/api/v1/transactions?limit=20&offset=40", alice},
		{"/api/v1/users/1", alice},
		{"/api/v1/admin/users", admin},
		{"/api/v1/search?q=coffee", alice},
	}
	for _, p := range paths {
		t.Run(p.path, func(t *testing.T) {
			resp, body := env.Do(t, "GET", p.path, p.token, nil)
			if resp.StatusCode != 200 || len(body) == 0 || !json.Valid(body) {
				t.Fatalf("GET %s = %d %.200s, want 200 with a JSON body", p.path, resp.StatusCode, body)
			}
		})
	}
	for _, ev := range env.Events() {
		if ev.Guard == "waf.response" || strings.HasPrefix(ev.Rule, "waf.95") {
			t.Errorf("event on a clean demobank answer: %+v", ev)
		}
	}
	resp, body := env.Do(t, "GET", "/api/v1/search?q=leakprobe", alice, nil)
	if resp.StatusCode != 502 || bytes.Contains(body, []byte("ORA-")) || len(env.EventsWithRule("waf.951120")) != 1 {
		t.Errorf("probe with an Oracle error = %d %s (events %+v), want 502 waf.951120 without the error", resp.StatusCode, body, env.EventsWithRule("waf.951120"))
	}
}

// leakyUpstream answers every path with one of the leaks of a broken or
// compromised backend, or a clean answer.
func leakyUpstream(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1,"owner":"alice@example.com","note":"an exception was made at the company's request"}`))
	})
	mux.HandleFunc("/mysql", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[],"error":"You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near 'x' at line 1"}`))
	})
	mux.HandleFunc("/postgres", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"error":"org.postgresql.util.PSQLException: ERROR: relation \"acounts\" does not exist"}`))
	})
	mux.HandleFunc("/oracle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := []byte(`{"message":"ORA-00942: table or view does not exist"}`)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			body = b.Bytes()
		}
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/shell", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><head><title>r57 shell</title></head><body><?php system($_GET['cmd']); ?></body></html>"))
	})
	mux.HandleFunc("/php", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<?php\n$db = mysqli_connect('db', 'root', 's3cret');\n$id = $_GET['id'];\n?>"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pad":"` + strings.Repeat("a", 8000) + `","error":"ORA-00942: table or view does not exist"}`))
	})
	mux.HandleFunc("/encoding", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"accept_encoding":"` + r.Header.Get("Accept-Encoding") + `"}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestAnswerLeaksThroughGateway: leaks in 200 answers are withheld with
// a 502 problem carrying the request id and none of the leaked text; the
// event names the CRS rule, an excerpt and API8.
func TestAnswerLeaksThroughGateway(t *testing.T) {
	up := leakyUpstream(t)
	dir := t.TempDir()
	cfg := `admin: {listen: "off"}
log: {access_log: "off"}
apis:
  - name: leaky
    upstream: {urls: ["` + up + `"]}
    guards:
      waf:
        paranoia_level: 1
        max_response_inspect_bytes: 4KiB
`
	file := filepath.Join(dir, "apiguard.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: file})
	tests := []struct {
		path   string
		status int
		rule   string   // CRS rule id expected in the event
		secret []string // leaked text that must not reach the client
	}{
		{"/ok", 200, "", nil},
		{"/mysql", 502, "951230", []string{"SQL syntax", "MySQL"}},
		{"/postgres", 502, "951240", []string{"PSQLException", "acounts"}},
		{"/oracle", 502, "951120", []string{"ORA-00942"}},
		{"/shell", 502, "955110", []string{"r57", "system("}},
		{"/php", 502, "953120", []string{"s3cret", "mysqli_connect"}},
		{"/big", 200, "", nil}, // the leak is after the first 4 KiB: not inspected
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := env.Do(t, "GET", tt.path, "", nil, "Accept-Encoding", "gzip")
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s = %d %.200s, want %d", tt.path, resp.StatusCode, body, tt.status)
			}
			if tt.status != 502 {
				return
			}
			p := gatewaytest.Problem(t, body)
			rid := resp.Header.Get("X-Request-Id")
			if p["request_id"] != rid || rid == "" {
				t.Errorf("problem request_id = %v, header %q; want the request id", p["request_id"], rid)
			}
			if typ, _ := p["type"].(string); !strings.HasPrefix(typ, "https://apiguard.dev/problems/waf.") {
				t.Errorf("problem type = %q, want a waf rule", typ)
			}
			for _, s := range tt.secret {
				if bytes.Contains(body, []byte(s)) {
					t.Errorf("the client's answer %s contains the leaked %q", body, s)
				}
			}
			found := false
			for _, ev := range env.Events() {
				if ev.Guard == "waf.response" && ev.Path == tt.path && ev.Category == "API8" && strings.Contains(ev.Detail, tt.rule) &&
					strings.Contains(ev.Detail, "RESPONSE_BODY=") && ev.Status == 502 {
					found = true
				}
			}
			if !found {
				t.Errorf("no waf.response event for %s with rule %s, API8, an excerpt and status 502; events = %+v", tt.path, tt.rule, env.Events())
			}
		})
	}
	// The client asks for brotli: upstream is asked for what the waf
	// decodes.
	_, body := env.Do(t, "GET", "/encoding", "", nil, "Accept-Encoding", "br, gzip;q=0.5")
	if !bytes.Contains(body, []byte(`"accept_encoding":"gzip;q=0.5"`)) {
		t.Errorf("upstream saw %s, want Accept-Encoding narrowed to gzip;q=0.5", body)
	}
}
