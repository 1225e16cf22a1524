package flows

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard/authn" // the real authentication guard sets the principal
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/testsvc"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// exampleSection is the flows section of examples/demobank/apiguard.yaml.
const exampleSection = `
flows:
  flows:
    - name: transfers
      operations: [createTransfer]
      quotas:
        - {per: principal, limit: 5/h}
`

var transfer = map[string]any{"from_account_id": 101, "to_account_id": 102, "amount": 1, "currency": "EUR"}

// TestDemobankSixthTransfer: five transfers in the hour pass, the sixth is
// 429 naming the flow; bob has his own quota; an hour later alice may
// transfer again.
func TestDemobankSixthTransfer(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			o := gatewaytest.Options{Guards: exampleSection + gatewaytest.AuthnSection, Now: clk.Now}
			if backend == "redis" {
				o.Redis = testsvc.Redis(t)
				o.Guards = strings.Replace(o.Guards, "flows:\n  flows:", "flows:\n  backend: redis\n  flows:", 1)
			}
			env := gatewaytest.Start(t, o)
			alice, bob := env.Login(t, "alice"), env.Login(t, "bob")
			for i := 1; i <= 5; i++ {
				if resp, body := env.Do(t, "POST", "/api/v1/transfers", alice, transfer); resp.StatusCode != 201 {
					t.Fatalf("transfer %d = %d %s, want 201", i, resp.StatusCode, body)
				}
				clk.Add(time.Minute)
			}
			resp, body := env.Do(t, "POST", "/api/v1/transfers", alice, transfer)
			p := gatewaytest.Problem(t, body)
			if resp.StatusCode != 429 || p["type"] != pipeline.ProblemTypeBase+"flows.quota_exceeded" || !strings.Contains(p["title"].(string), `"transfers"`) {
				t.Fatalf("sixth transfer = %d %s, want 429 flows.quota_exceeded naming the transfers flow", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Retry-After"); got != "3300" {
				t.Errorf("Retry-After = %q, want 3300 (the first transfer leaves the hour in 55 min)", got)
			}
			if n := len(env.EventsWithRule("flows.quota_exceeded")); n != 1 {
				t.Errorf("flows.quota_exceeded events = %d, want 1", n)
			}
			bobsTransfer := map[string]any{"from_account_id": 102, "to_account_id": 101, "amount": 1, "currency": "EUR"}
			if resp, body := env.Do(t, "POST", "/api/v1/transfers", bob, bobsTransfer); resp.StatusCode != 201 {
				t.Errorf("bob's transfer = %d %s, want 201", resp.StatusCode, body)
			}
			clk.Add(55 * time.Minute)
			alice = env.Login(t, "alice") // her first token has expired
			if resp, body := env.Do(t, "POST", "/api/v1/transfers", alice, transfer); resp.StatusCode != 201 {
				t.Errorf("alice an hour after her first = %d %s, want 201", resp.StatusCode, body)
			}
			if resp, _ := env.Do(t, "POST", "/api/v1/transfers", alice, transfer); resp.StatusCode != 429 {
				t.Errorf("alice again = %d, want 429 (still 5 in the last hour)", resp.StatusCode)
			}
			if o.Redis != nil {
				if keys, err := o.Redis.Keys(context.Background(), "apiguard:fl:{demobank}:q:*").Result(); err != nil || len(keys) != 2 {
					t.Errorf("quota keys in Redis = %v, %v, want alice's and bob's", keys, err)
				}
			}
		})
	}
}

// TestDemobankSequence: testWebhook only within 10 minutes after
// createWebhook by the same principal.
func TestDemobankSequence(t *testing.T) {
	clk := &clock{t: time.Now()}
	env := gatewaytest.Start(t, gatewaytest.Options{Now: clk.Now, Guards: `
flows:
  flows:
    - name: webhook-test
      operations: [testWebhook]
      requires: {operation: createWebhook, within: 10m}
` + gatewaytest.AuthnSection})
	alice, bob := env.Login(t, "alice"), env.Login(t, "bob")
	resp, body := env.Do(t, "POST", "/api/v1/webhooks/1/test", alice, nil)
	if resp.StatusCode != 403 || gatewaytest.Problem(t, body)["type"] != pipeline.ProblemTypeBase+"flows.out_of_sequence" {
		t.Fatalf("test before create = %d %s, want 403 flows.out_of_sequence", resp.StatusCode, body)
	}
	if resp, body := env.Do(t, "POST", "/api/v1/webhooks", alice, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"x"}}); resp.StatusCode != 201 {
		t.Fatalf("create webhook = %d %s", resp.StatusCode, body)
	}
	if resp, body := env.Do(t, "POST", "/api/v1/webhooks/1/test", alice, nil); strings.Contains(string(body), "flows.") {
		t.Errorf("test after create = %d %s, want it to reach demobank", resp.StatusCode, body)
	}
	if resp, _ := env.Do(t, "POST", "/api/v1/webhooks/1/test", bob, nil); resp.StatusCode != 403 {
		t.Errorf("bob (who created nothing) = %d, want 403", resp.StatusCode)
	}
	clk.Add(11 * time.Minute)
	if resp, _ := env.Do(t, "POST", "/api/v1/webhooks/1/test", alice, nil); resp.StatusCode != 403 {
		t.Errorf("11 minutes later = %d, want 403", resp.StatusCode)
	}
}

// TestDemobankAutomationEscalates: a curl client on the transfers flow is
// noticed, delayed, challenged, then blocked; a browser-like client is not.
func TestDemobankAutomationEscalates(t *testing.T) {
	clk := &clock{t: time.Now()}
	env := gatewaytest.Start(t, gatewaytest.Options{Now: clk.Now, Guards: `
flows:
  flows:
    - name: transfers
      operations: [createTransfer]
      quotas: [{per: principal, limit: 100/h}]
  automation:
    delay_at: 2
    delay: 100ms
    challenge_at: 3
    block_at: 4
    block_ttl: 10m
` + gatewaytest.AuthnSection})
	alice, bob := env.Login(t, "alice"), env.Login(t, "bob")
	curl := []string{"User-Agent", "curl/8.5.0", "Accept", "*/*"}
	resp, _ := env.Do(t, "POST", "/api/v1/transfers", alice, transfer, curl...)
	if resp.StatusCode != 201 || len(env.EventsWithRule("flows.automation_suspected")) != 1 {
		t.Fatalf("1st curl transfer = %d, suspected events %d; want 201 and one event", resp.StatusCode, len(env.EventsWithRule("flows.automation_suspected")))
	}
	start := time.Now()
	resp, _ = env.Do(t, "POST", "/api/v1/transfers", alice, transfer, curl...)
	if resp.StatusCode != 201 || time.Since(start) < 100*time.Millisecond || len(env.EventsWithRule("flows.automation_delayed")) != 1 {
		t.Errorf("2nd = %d after %v, want 201 delayed by 100ms with an event", resp.StatusCode, time.Since(start))
	}
	resp, _ = env.Do(t, "POST", "/api/v1/transfers", alice, transfer, curl...)
	if resp.StatusCode != 429 || resp.Header.Get("APIGuard-Challenge") != "required" {
		t.Errorf("3rd = %d challenge %q, want 429 with APIGuard-Challenge: required", resp.StatusCode, resp.Header.Get("APIGuard-Challenge"))
	}
	resp, _ = env.Do(t, "POST", "/api/v1/transfers", alice, transfer, curl...)
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "600" {
		t.Errorf("4th = %d Retry-After %q, want 403 blocked for 600 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Even a browser-like request from the blocked principal is refused.
	browser := []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Accept", "application/json"}
	if resp, _ := env.Do(t, "POST", "/api/v1/transfers", alice, transfer, browser...); resp.StatusCode != 403 {
		t.Errorf("blocked alice with a browser = %d, want 403", resp.StatusCode)
	}
	bobsTransfer := map[string]any{"from_account_id": 102, "to_account_id": 101, "amount": 1, "currency": "EUR"}
	clk.Add(7 * time.Second) // irregular cadence for bob
	if resp, body := env.Do(t, "POST", "/api/v1/transfers", bob, bobsTransfer, browser...); resp.StatusCode != http.StatusCreated {
		t.Errorf("bob with a browser = %d %s, want 201", resp.StatusCode, body)
	}
	clk.Add(11 * time.Minute)
	if resp, _ := env.Do(t, "POST", "/api/v1/transfers", alice, transfer, browser...); resp.StatusCode != 201 {
		t.Errorf("alice after the block = %d, want 201", resp.StatusCode)
	}
}
