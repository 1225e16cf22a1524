package detect_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard registers itself
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/detect"
	"github.com/apiguard/apiguard/internal/testsvc"
)

// startDetectors runs demobank behind a real gateway (with authn, so
// that requests have principals and login bodies are read) whose hub
// feeds detectors configured by mod.
func startDetectors(t *testing.T, o gatewaytest.Options, mod func(*config.Detectors)) (*gatewaytest.Env, *detect.Set, *observe.Hub) {
	t.Helper()
	hub := observe.NewHub(observe.HubOptions{})
	t.Cleanup(func() { hub.Close(5 * time.Second) })
	o.Guards, o.Observers = gatewaytest.AuthnSection, hub
	env := gatewaytest.Start(t, o)
	cfg := config.DefaultDetectors()
	if mod != nil {
		mod(&cfg)
	}
	set, err := detect.New(cfg, env.Services)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	hub.AddObserver("detectors", set)
	return env, set, hub
}

// waitEvents waits until the detectors have reported n events of guard,
// or fails after 5 seconds.
func waitEvents(t *testing.T, env *gatewaytest.Env, guard string, n int) []events.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []events.Event
		for _, e := range env.Events() {
			if e.Guard == guard {
				got = append(got, e)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events of %s after 5s, want %d; all events: %+v", len(got), guard, n, env.Events())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2EEnumerationBlocked: alice walks /api/v1/accounts/1..500 through
// apiguard; the enumeration detector trips and, with action block, blocks
// her principal: her next request, on this instance and on another one
// sharing Redis, is refused by the denylist.
func TestE2EEnumerationBlocked(t *testing.T) {
	rdb := testsvc.Redis(t)
	env, set, _ := startDetectors(t, gatewaytest.Options{Redis: rdb}, func(c *config.Detectors) {
		c.Enumeration.Action, c.Enumeration.BlockTTL = "block", config.Duration(10*time.Minute)
	})
	other := gatewaytest.Start(t, gatewaytest.Options{Guards: gatewaytest.AuthnSection, Redis: rdb})
	tok := env.Login(t, "alice")

	statuses := map[int]int{}
	firstRefused := 0
	for id := 1; id <= 500; id++ {
		resp, body := env.Do(t, "GET", fmt.Sprintf("/api/v1/accounts/%d", id), tok, nil)
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusForbidden && firstRefused == 0 {
			if typ, _ := gatewaytest.Problem(t, body)["type"].(string); strings.HasSuffix(typ, "/denylist.principal") {
				firstRefused = id
			}
		}
	}
	evs := waitEvents(t, env, "detect.enumeration", 1)
	set.Flush()
	t.Logf("walk answers %v; refused by the denylist from id %d", statuses, firstRefused)
	e := evs[0]
	if e.Kind != events.KindDetector || e.Category != "API1" || e.Verdict != events.VerdictBlock || e.Principal != "1" ||
		e.Operation != "getAccount" || !strings.Contains(e.Detail, "blocking principal 1 for 10m0s") {
		t.Errorf("enumeration event = %+v, want an API1 block of principal 1 on getAccount", e)
	}
	if len(evs) != 1 {
		t.Errorf("enumeration events = %d, want 1 (one per client and window; denylisted requests are not observed)", len(evs))
	}
	if firstRefused == 0 || firstRefused > 100 {
		t.Errorf("the walk was refused by the denylist from id %d, want within the first 100 ids", firstRefused)
	}
	resp, body := env.Do(t, "GET", "/api/v1/accounts/101", tok, nil)
	if typ, _ := gatewaytest.Problem(t, body)["type"].(string); resp.StatusCode != http.StatusForbidden || !strings.HasSuffix(typ, "/denylist.principal") {
		t.Errorf("alice's next request = %d %s, want 403 denylist.principal", resp.StatusCode, body)
	}
	// Bob is not affected.
	if resp, body := env.Do(t, "GET", "/api/v1/accounts/102", env.Login(t, "bob"), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("bob's request = %d %s, want 200", resp.StatusCode, body)
	}
	// The block is shared through Redis with the other instance.
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _ := other.Do(t, "GET", "/api/v1/accounts/101", tok, nil)
		if resp.StatusCode == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice on the other instance = %d after 3s, want 403", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2ECredentialStuffing: 50 usernames tried from one address through
// apiguard raise credential stuffing once; the event names neither the
// usernames nor the passwords.
func TestE2ECredentialStuffing(t *testing.T) {
	env, _, hub := startDetectors(t, gatewaytest.Options{}, nil)
	for i := range 50 {
		body := map[string]string{"username": fmt.Sprintf("stuffed-user-%02d", i), "password": "Winter2026!"}
		if resp, b := env.Do(t, "POST", "/api/v1/auth/login", "", body); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login %d = %d %s, want 401", i, resp.StatusCode, b)
		}
	}
	hub.Close(5 * time.Second) // every observation delivered
	evs := waitEvents(t, env, "detect.credential_stuffing", 1)
	if len(evs) != 1 {
		t.Fatalf("credential stuffing events = %+v, want 1", evs)
	}
	e := evs[0]
	if e.Rule != "detect.credential_stuffing.usernames_per_ip" || e.Category != "API2" || e.ClientIP != "127.0.0.1" ||
		e.Operation != "login" || e.Verdict != events.VerdictObserve || !strings.Contains(e.Detail, "20 usernames failed to log in from ip 127.0.0.1") {
		t.Errorf("event = %+v, want usernames_per_ip from 127.0.0.1 at the 20th username", e)
	}
	for _, e := range env.Events() {
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, "stuffed-user") || strings.Contains(s, "Winter2026") {
			t.Errorf("event %s names a username or a password", s)
		}
	}
}
