package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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
