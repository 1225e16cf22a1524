package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBareProxy(t *testing.T) {
	var gotXFF, gotPath string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotXFF, gotPath = r.Header.Get("X-Forwarded-For"), r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(upstreamBody)
	}))
	defer up.Close()
	proxy, err := newBareProxy(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	resp, err := http.Get(front.URL + benchPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, upstreamBody) {
		t.Errorf("GET %s = %d %q, want 200 %q", benchPath, resp.StatusCode, body, upstreamBody)
	}
	if gotPath != benchPath || gotXFF != "127.0.0.1" {
		t.Errorf("upstream saw path %q, X-Forwarded-For %q, want %q, %q", gotPath, gotXFF, benchPath, "127.0.0.1")
	}
}

func TestNewBareProxyErrors(t *testing.T) {
	for _, in := range []string{"", "not a url", "://x"} {
		if _, err := newBareProxy(in); err == nil {
			t.Errorf("newBareProxy(%q) error = nil, want one", in)
		}
	}
}

func TestUpstreamBodySize(t *testing.T) {
	if n := len(upstreamBody); n < 250 || n > 350 {
		t.Errorf("len(upstreamBody) = %d, want about 300", n)
	}
}

func TestUpstreamHandler(t *testing.T) {
	answers := map[string]replayAnswer{
		"GET /api/v1/accounts/101": {Method: "GET", Path: "/api/v1/accounts/101", Status: 200, ContentType: "application/json", Body: `{"id":101,"owner_id":1}`},
		"POST /api/v1/transfers":   {Method: "POST", Path: "/api/v1/transfers", Status: 201, ContentType: "application/json; charset=utf-8", Body: `{"id":7}`},
		"GET /text":                {Method: "GET", Path: "/text", Status: 200, ContentType: "text/plain", Body: "hi"},
	}
	up := httptest.NewServer(upstreamHandler(answers))
	defer up.Close()
	tests := []struct {
		method, path, body string
		status             int
		ctype, want        string
	}{
		{"GET", "/api/v1/accounts/101", "", 200, "application/json", `{"id":101,"owner_id":1}`},
		{"POST", "/api/v1/transfers", `{"amount":1}`, 201, "application/json; charset=utf-8", `{"id":7}`},
		{"GET", "/api/v1/transfers", "", 200, "application/json", string(upstreamBody)},
		{"POST", "/v1/transfers", string(jsonPostBody), 200, "application/json", string(upstreamBody)},
		{"GET", "/text?x=1", "", 200, "text/plain", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, up.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.ctype || string(b) != tt.want {
				t.Errorf("%s %s = %d %q %q, want %d %q %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.status, tt.ctype, tt.want)
			}
		})
	}
}
