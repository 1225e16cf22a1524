package dlp

import (
	"bytes"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard/errors"
	_ "github.com/apiguard/apiguard/internal/guard/headers"
)

// profileSections are the headers, errors and dlp sections proposed for
// examples/demobank/apiguard.yaml, tested together.
const profileSections = `
headers:
  cors:
    origins: ["http://localhost:3000"]
    methods: [GET, POST, PATCH]
    headers: [Authorization, Content-Type]
    expose_headers: [X-Request-Id]
    credentials: true
errors:
  server_errors: always
  client_errors: signatures
dlp:
  detectors: {iban: detect}
  fields: {ssn: mask, password_hash: mask}
  operations:
    login: {skip: true}
`

func TestDemobankProfile(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: profileSections})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/users/1", tok, nil, "Origin", "https://evil.example")
	if resp.StatusCode != 200 || bytes.Contains(body, []byte("078-05-1120")) || bytes.Contains(body, []byte("pbkdf2")) {
		t.Errorf("profile = %d %s, want SSN and hash masked", resp.StatusCode, body)
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", resp.Header)
	}
	resp, body = env.Do(t, "GET", "/api/v1/search?q=%27", tok, nil)
	if resp.StatusCode != 500 || bytes.Contains(body, []byte("goroutine")) || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("search 500 = %d %s", resp.StatusCode, body)
	}
	resp, _ = env.Do(t, "OPTIONS", "/api/v1/accounts", "", nil, "Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
}
