package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func TestCorazaMiddleware(t *testing.T) {
	var upstreamCalls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(upstreamBody)
	}))
	defer up.Close()
	h, err := newCorazaMiddleware(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"clean GET", request{Method: http.MethodGet, URL: front.URL + benchPath, Headers: commonHeaders}, http.StatusOK},
		{"clean JSON POST", request{Method: http.MethodPost, URL: front.URL + benchPostPath, Headers: commonHeaders,
			Body: jsonPostBody, ContentType: "application/json"}, http.StatusOK},
		{"SQL injection in the query", request{Method: http.MethodGet, URL: front.URL + "/v1/search" + attackQuery, Headers: commonHeaders}, http.StatusForbidden},
		{"XSS in the JSON body", request{Method: http.MethodPost, URL: front.URL + benchPostPath, Headers: commonHeaders,
			Body: []byte(`{"memo":"<script>alert(document.cookie)</script>"}`), ContentType: "application/json"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := upstreamCalls.Load()
			status, body, err := send(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("%s %s = %d %q, want %d", tt.req.Method, tt.req.URL, status, body, tt.status)
			}
			if reached := upstreamCalls.Load() > before; reached != (tt.status == http.StatusOK) {
				t.Errorf("%s %s reached the upstream = %v, want %v", tt.req.Method, tt.req.URL, reached, tt.status == http.StatusOK)
			}
		})
	}
}

// TestNginxConfig checks the rendered nginx and ModSecurity configs with
// nginx -t, which loads the module and the whole CRS.
func TestNginxConfig(t *testing.T) {
	nginx, err := nginxPeersInstalled()
	if err != nil {
		t.Skipf("nginx peers not installed: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "modsec"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	files := map[string]string{
		conf:                                   renderNginxConf(nginxConf{Dir: dir, Plain: "127.0.0.1:1", ModSec: "127.0.0.1:2", Upstream: "127.0.0.1:3", Root: os.Geteuid() == 0}),
		filepath.Join(dir, "modsecurity.conf"): renderModSecConf(filepath.Join(dir, "modsec")),
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.CommandContext(t.Context(), nginx, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Errorf("nginx -t = %v, want success; output:\n%s", err, out)
	}
}

func TestRequestBodies(t *testing.T) {
	if n := len(jsonPostBody); n < 1000 || n > 1100 {
		t.Errorf("len(jsonPostBody) = %d, want about 1 KiB", n)
	}
	if !json.Valid(jsonPostBody) {
		t.Errorf("jsonPostBody is not valid JSON: %s", jsonPostBody)
	}
	var transfer struct {
		From     int     `json:"from_account_id"`
		To       int     `json:"to_account_id"`
		Amount   float64 `json:"amount"`
		Currency string  `json:"currency"`
		Memo     string  `json:"memo"`
	}
	dec := json.NewDecoder(bytes.NewReader(demobankTransferBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&transfer); err != nil {
		t.Fatalf("demobankTransferBody: %v", err)
	}
	if transfer.From == transfer.To || transfer.Amount < 0.01 || transfer.Currency != "EUR" || utf8.RuneCountInString(transfer.Memo) > 140 {
		t.Errorf("demobankTransferBody = %+v, want a transfer valid against demobank's TransferRequest", transfer)
	}
}

// benchConfigFixture is a demobank-like config with what the bench
// rewrites.
const benchConfigFixture = `apis:
  - name: demobank
    spec: openapi.yaml
    upstream:
      urls: ["${DEMOBANK_URL:-http://127.0.0.1:8081}"]
    guards:
      authn:
        jwt: {issuer: "${DEMOBANK_URL:-http://127.0.0.1:8081}"}
      ratelimit:
        rules:
          - name: login-per-ip
            key: ip
            operations: [login]
            limits: ["10/m"]
          - name: per-principal
            key: principal
            limits: ["20/s burst 200", "50000/d"]
      # Sensitive business flows (API6).
      flows:
        flows:
          - name: transfers
            operations: [createTransfer]
            quotas:
              - {per: principal, limit: 5/h}
`

func TestBenchDemobankConfig(t *testing.T) {
	withWAF := strings.Replace(benchConfigFixture, "      ratelimit:", "      waf:\n        paranoia_level: 2\n      ratelimit:", 1)
	tests := []struct {
		name      string
		in        string
		upstream  string
		wantErr   string
		wantNotes int
		wantWAF   string // paranoia_level of the result's waf section
	}{
		{"flows, rate limits, no waf", benchConfigFixture, "", "", 3, "1"},
		{"waf kept", withWAF, "", "", 3, "2"},
		{"upstream replaced", benchConfigFixture, "http://127.0.0.1:9", "", 3, "1"},
		{"no flows, no ratelimit", "apis:\n  - name: a\n    guards:\n      authn: {}\n", "", "", 1, "1"},
		{"not yaml", "apis: [", "", "demobank bench config", 0, ""},
		{"no apis", "server: {}\n", "", "no apis", 0, ""},
		{"no guards", "apis:\n  - name: a\n", "", "no guards", 0, ""},
		{"bad rules", "apis:\n  - guards:\n      ratelimit: {rules: 3}\n", "", "want a list", 0, ""},
		{"no upstream to replace", "apis:\n  - guards: {}\n", "http://127.0.0.1:9", "no upstream", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, notes, err := benchDemobankConfig([]byte(tt.in), "/ex", tt.upstream)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("benchDemobankConfig(%s) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("benchDemobankConfig(%s) error: %v", tt.name, err)
			}
			if len(notes) != tt.wantNotes {
				t.Errorf("benchDemobankConfig(%s) notes = %q, want %d", tt.name, notes, tt.wantNotes)
			}
			var got struct {
				APIs []struct {
					Spec     string `yaml:"spec"`
					Upstream struct {
						URLs []string `yaml:"urls"`
					} `yaml:"upstream"`
					Guards struct {
						Authn     map[string]any `yaml:"authn"`
						Flows     any            `yaml:"flows"`
						WAF       map[string]any `yaml:"waf"`
						Ratelimit struct {
							Rules []struct {
								Name   string   `yaml:"name"`
								Limits []string `yaml:"limits"`
							} `yaml:"rules"`
						} `yaml:"ratelimit"`
					} `yaml:"guards"`
				} `yaml:"apis"`
			}
			if err := yaml.Unmarshal(out, &got); err != nil {
				t.Fatalf("benchDemobankConfig(%s) = invalid YAML %v:\n%s", tt.name, err, out)
			}
			g := got.APIs[0].Guards
			if g.Flows != nil {
				t.Errorf("benchDemobankConfig(%s) kept flows: %v", tt.name, g.Flows)
			}
			if pl := g.WAF["paranoia_level"]; pl == nil || yamlString(pl) != tt.wantWAF {
				t.Errorf("benchDemobankConfig(%s) waf = %v, want paranoia_level %s", tt.name, g.WAF, tt.wantWAF)
			}
			if g.Authn == nil {
				t.Errorf("benchDemobankConfig(%s) lost authn:\n%s", tt.name, out)
			}
			for _, r := range g.Ratelimit.Rules {
				want := []string{benchRate}
				if r.Name == "login-per-ip" {
					want = []string{"10/m"}
				}
				if strings.Join(r.Limits, "|") != strings.Join(want, "|") {
					t.Errorf("benchDemobankConfig(%s) rule %s limits = %q, want %q", tt.name, r.Name, r.Limits, want)
				}
			}
			if strings.Contains(tt.in, "spec:") && got.APIs[0].Spec != filepath.Join("/ex", "openapi.yaml") {
				t.Errorf("benchDemobankConfig(%s) spec = %q, want %q", tt.name, got.APIs[0].Spec, "/ex/openapi.yaml")
			}
			if tt.upstream != "" && (len(got.APIs[0].Upstream.URLs) != 1 || got.APIs[0].Upstream.URLs[0] != tt.upstream) {
				t.Errorf("benchDemobankConfig(%s) upstream urls = %q, want [%q]", tt.name, got.APIs[0].Upstream.URLs, tt.upstream)
			}
			if tt.upstream == "" && strings.Contains(tt.in, "DEMOBANK_URL") && len(got.APIs[0].Upstream.URLs) != 1 {
				t.Errorf("benchDemobankConfig(%s) upstream urls = %q, want the example's", tt.name, got.APIs[0].Upstream.URLs)
			}
			if strings.Contains(tt.in, "DEMOBANK_URL") && !bytes.Contains(out, []byte("${DEMOBANK_URL:-http://127.0.0.1:8081}")) {
				t.Errorf("benchDemobankConfig(%s) lost the env reference:\n%s", tt.name, out)
			}
		})
	}
}

// yamlString formats a decoded YAML scalar.
func yamlString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBenchDemobankConfigExample rewrites the real example config.
func TestBenchDemobankConfigExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "demobank")
	src, err := os.ReadFile(filepath.Join(dir, "apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, notes, err := benchDemobankConfig(src, dir, "")
	if err != nil {
		t.Fatalf("benchDemobankConfig(example) error: %v", err)
	}
	for _, want := range []string{"authn:", "authz:", "schema:", "dlp:", "waf:", benchRate} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("benchDemobankConfig(example) has no %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("flows:")) {
		t.Errorf("benchDemobankConfig(example) kept flows:\n%s", out)
	}
	if len(notes) < 2 {
		t.Errorf("benchDemobankConfig(example) notes = %q, want at least the flows and rate limit changes", notes)
	}
}
