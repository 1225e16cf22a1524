package ratelimit

import (
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard/authn" // the real authentication guard sets the principal
	"github.com/apiguard/apiguard/internal/pipeline"
)

// exampleSection is the ratelimit section of examples/demobank/apiguard.yaml.
const exampleSection = `
ratelimit:
  rules:
    - name: login-per-ip
      key: ip
      operations: [login]
      limits: ["10/m"]
    - name: per-principal
      key: principal
      limits: ["20/s burst 200", "50000/d"]
`

// TestDemobankLoginsPerIP: 100 rapid logins from one IP through the
// gateway; the 11th and later get 429 with Retry-After and RateLimit
// fields, and demobank (which has no login limit of its own in its
// vulnerable variant) sees only 10.
func TestDemobankLoginsPerIP(t *testing.T) {
	clk := newClock()
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: exampleSection, Now: clk.Now})
	codes := map[int]int{}
	first429 := 0
	for i := 1; i <= 100; i++ {
		resp, body := env.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "wrong-" + string(rune('a'+i%26))})
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && first429 == 0 {
			first429 = i
			p := gatewaytest.Problem(t, body)
			if p["type"] != pipeline.ProblemTypeBase+"ratelimit.exceeded" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("429 answer = %s %s, want problem+json of ratelimit.exceeded", resp.Header.Get("Content-Type"), body)
			}
			want := map[string]string{"Retry-After": "6", "RateLimit-Policy": `"login-per-ip";q=10;w=60`, "RateLimit": `"login-per-ip";r=0;t=6`}
			for k, w := range want {
				if got := resp.Header.Get(k); got != w {
					t.Errorf("429 header %s = %q, want %q", k, got, w)
				}
			}
		}
	}
	if first429 != 11 || codes[401] != 10 || codes[429] != 90 {
		t.Errorf("first 429 at attempt %d, codes %v; want 10 x 401 (wrong password, from demobank) then 90 x 429", first429, codes)
	}
	if n := len(env.EventsWithRule("ratelimit.exceeded")); n != 90 {
		t.Errorf("ratelimit.exceeded events = %d, want 90", n)
	}
	// Another client IP is not affected: simulate with a trusted proxy? The
	// gateway sees one loopback peer here, so instead time passes: 6 s
	// later one more login is admitted.
	clk.Add(6e9)
	if resp, _ := env.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": gatewaytest.Password(t, "alice")}); resp.StatusCode != 200 {
		t.Errorf("login 6 s later = %d, want 200", resp.StatusCode)
	}
}

// TestDemobankPrincipalQuota: the per-principal rule of the example admits
// a burst of 200 for alice, then 429; bob still gets through.
func TestDemobankPrincipalQuota(t *testing.T) {
	clk := newClock()
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: exampleSection + "\n" + gatewaytest.AuthnSection, Now: clk.Now})
	alice, bob := env.Login(t, "alice"), env.Login(t, "bob")
	for i := 1; i <= 200; i++ {
		if resp, body := env.Do(t, "GET", "/api/v1/accounts", alice, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d %s, want 200 within the burst", i, resp.StatusCode, body)
		}
	}
	resp, _ := env.Do(t, "GET", "/api/v1/accounts", alice, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("RateLimit-Policy") != `"per-principal-1";q=20;w=1, "per-principal-2";q=50000;w=86400` ||
		resp.Header.Get("RateLimit") != `"per-principal-1";r=0;t=1, "per-principal-2";r=49800;t=346` {
		t.Errorf("201st = %d Retry-After %q RateLimit-Policy %q RateLimit %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"))
	}
	if resp, _ := env.Do(t, "GET", "/api/v1/accounts", bob, nil); resp.StatusCode != 200 {
		t.Errorf("bob = %d, want 200 (his own quota)", resp.StatusCode)
	}
	clk.Add(50e6) // 50 ms: one more request at 20/s
	if resp, _ := env.Do(t, "GET", "/api/v1/accounts", alice, nil); resp.StatusCode != 200 {
		t.Errorf("alice 50 ms later = %d, want 200", resp.StatusCode)
	}
}
