package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard registers itself
)

// BenchmarkDemobankProfile measures, in one process and over loopback,
// demobank alone and behind apiguard with the bench's copy of the example
// protection profile (the one the load bench measures): the difference is
// the profile's cost per request. Profile it with
//
//	go test -run x -bench DemobankProfile -cpuprofile cpu.out ./bench/loadbench
func BenchmarkDemobankProfile(b *testing.B) {
	dir, err := filepath.Abs("../../examples/demobank")
	if err != nil {
		b.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "apiguard.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	data, _, err := benchDemobankConfig(src, dir, "")
	if err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(b.TempDir(), "demobank.yaml")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		b.Fatal(err)
	}
	env := gatewaytest.Start(b, gatewaytest.Options{ConfigFile: cfg})
	token := env.Login(b, "alice")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	send := func(b *testing.B, method, url string, body []byte) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) loadbench")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s = %d, want 2xx", method, url, resp.StatusCode)
		}
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
	}{
		{"GET", http.MethodGet, demobankPath, nil},
		{"transfer", http.MethodPost, demobankPostPath, demobankTransferBody},
		{"order", http.MethodPost, demobankOrderPath, jsonPostBody},
	} {
		for _, via := range []struct{ name, base string }{{"demobank", env.BankURL}, {"apiguard", env.URL}} {
			b.Run(tc.name+"/"+via.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					send(b, tc.method, via.base+tc.path, tc.body)
				}
			})
		}
	}
}

// TestJSONPostIsATransferOrder checks that the 1 KiB JSON POST every
// target gets is a valid demobank transfer order from alice's account,
// through the full profile too, so that apiguard-demobank is measured on
// the same body as the peers.
func TestJSONPostIsATransferOrder(t *testing.T) {
	dir, _ := filepath.Abs("../../examples/demobank")
	src, err := os.ReadFile(filepath.Join(dir, "apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := benchDemobankConfig(src, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "demobank.yaml")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: cfg})
	token := env.Login(t, "alice")
	post := func(base string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+demobankOrderPath, bytes.NewReader(jsonPostBody))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	for _, base := range []string{env.BankURL, env.URL} {
		for i := range 7 { // more than the example's business quota, which the bench removes
			if status, body := post(base); status != http.StatusCreated {
				t.Fatalf("POST %s%s #%d = %d %s, want 201", base, demobankOrderPath, i+1, status, body)
			}
		}
	}
}
