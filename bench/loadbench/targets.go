package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Target names, in the order they are measured and reported.
const (
	targetDirect         = "direct"
	targetBareProxy      = "bare-proxy"
	targetBarePooled     = "bare-proxy-pooled"
	targetPassthrough    = "apiguard-passthrough"
	targetDemobankDirect = "demobank-direct"
	targetDemobank       = "apiguard-demobank"
)

// benchPath is the path requested from the upstream role; it answers
// every path the same.
const benchPath = "/v1/accounts/42"

// demobankPath is the demobank request: alice reads her own account.
const demobankPath = "/api/v1/accounts/101"

// target is one server measured.
type target struct {
	// Name is one of the target* constants.
	Name string
	// URL is what wrk requests.
	URL string
	// Headers are extra request headers ("Name: value").
	Headers []string
	// Baseline names the target this one is compared with (its direct
	// upstream); "" for a direct target.
	Baseline string
}

// env is what setting up targets needs.
type env struct {
	root     string // repository root
	tmp      string // scratch directory, removed at the end
	self     string // this program, re-executed for helper roles
	apiguard string // the apiguard binary built for the run
	procs    *children
}

// buildApiguard builds ./cmd/apiguard into the scratch directory.
func (e *env) buildApiguard(ctx context.Context) error {
	e.apiguard = filepath.Join(e.tmp, "apiguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", e.apiguard, "./cmd/apiguard")
	cmd.Dir = e.root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building apiguard: %w", err)
	}
	return nil
}

// startServer starts a child listening on addr and waits until GET
// readyPath answers.
func (e *env) startServer(ctx context.Context, name, addr, readyPath string, extraEnv []string, argv ...string) error {
	c, err := e.procs.start(name, filepath.Join(e.tmp, name+".log"), extraEnv, argv...)
	if err != nil {
		return err
	}
	return c.waitReady(ctx, "http://"+addr+readyPath)
}

// setupTargets starts every server and returns the targets, checked to
// answer 200.
func (e *env) setupTargets(ctx context.Context) ([]target, error) {
	simple, err := e.setupSimple(ctx)
	if err != nil {
		return nil, err
	}
	bank, err := e.setupDemobank(ctx)
	if err != nil {
		return nil, err
	}
	all := append(simple, bank...)
	for _, t := range all {
		if err := checkTarget(ctx, t); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// setupSimple starts the upstream, the bare proxy and apiguard's
// pass-through profile in front of it.
func (e *env) setupSimple(ctx context.Context) ([]target, error) {
	var addrs [4]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	up, bare, guard, pooled := addrs[0], addrs[1], addrs[2], addrs[3]
	upURL := "http://" + up
	if err := e.startServer(ctx, "upstream", up, "/", nil, e.self, "upstream", "-listen", up); err != nil {
		return nil, err
	}
	if err := e.startServer(ctx, "bareproxy", bare, "/", nil, e.self, "bareproxy", "-listen", bare, "-upstream", upURL); err != nil {
		return nil, err
	}
	if err := e.startServer(ctx, "bareproxy-pooled", pooled, "/", nil, e.self, "bareproxy", "-pool", "-listen", pooled, "-upstream", upURL); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(e.tmp, "passthrough.yaml")
	if err := os.WriteFile(cfgPath, []byte(passthroughConfig(guard, upURL, e.tmp)), 0o600); err != nil {
		return nil, fmt.Errorf("writing pass-through config: %w", err)
	}
	if err := e.startServer(ctx, "apiguard-passthrough", guard, "/", nil, e.apiguard, "serve", "--config", cfgPath); err != nil {
		return nil, err
	}
	return []target{
		{Name: targetDirect, URL: upURL + benchPath},
		{Name: targetBareProxy, URL: "http://" + bare + benchPath, Baseline: targetDirect},
		{Name: targetBarePooled, URL: "http://" + pooled + benchPath, Baseline: targetDirect},
		{Name: targetPassthrough, URL: "http://" + guard + benchPath, Baseline: targetDirect},
	}, nil
}

// passthroughConfig is apiguard's pass-through profile: one API, no spec,
// no guards, the access log written to a file as in production, admin off.
func passthroughConfig(listen, upstream, tmp string) string {
	return fmt.Sprintf(`server:
  listen: %q
admin:
  listen: "off"
data_dir: %q
log:
  level: info
  access_log: %q
apis:
  - name: bench
    upstream:
      urls: [%q]
`, listen, filepath.Join(tmp, "data-passthrough"), filepath.Join(tmp, "access.log"), upstream)
}

// setupDemobank starts demobank and apiguard with the demobank example
// config in front of it, and logs alice in.
func (e *env) setupDemobank(ctx context.Context) ([]target, error) {
	bank, err := freeAddr()
	if err != nil {
		return nil, err
	}
	guard, err := freeAddr()
	if err != nil {
		return nil, err
	}
	bankURL := "http://" + bank
	if err := e.startServer(ctx, "demobank", bank, "/", nil, e.apiguard, "demobank", "--listen", bank); err != nil {
		return nil, err
	}
	// The example config writes the access log to stdout, which goes to
	// the child's log file.
	extra := []string{"DEMOBANK_URL=" + bankURL, "APIGUARD_DATA_DIR=" + filepath.Join(e.tmp, "data-demobank")}
	cfg := filepath.Join(e.root, "examples", "demobank", "apiguard.yaml")
	if err := e.startServer(ctx, "apiguard-demobank", guard, "/", extra, e.apiguard, "serve", "--config", cfg, "--listen", guard, "--admin-listen", "off"); err != nil {
		return nil, err
	}
	token, err := login(ctx, "http://"+guard, "alice", "alice-pass")
	if err != nil {
		return nil, err
	}
	auth := []string{"Authorization: Bearer " + token}
	return []target{
		{Name: targetDemobankDirect, URL: bankURL + demobankPath, Headers: auth},
		{Name: targetDemobank, URL: "http://" + guard + demobankPath, Headers: auth, Baseline: targetDemobankDirect},
	}, nil
}

// login logs a demobank user in through base and returns the bearer token.
func login(ctx context.Context, base, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("logging in as %s: %w", user, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("logging in as %s: %w", user, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("logging in as %s: status %d: %s", user, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("logging in as %s: no access_token in %q", user, b)
	}
	return tok.AccessToken, nil
}

// checkTarget sends the measured request once and wants a 200, so that a
// misconfigured target is not measured answering errors fast.
func checkTarget(ctx context.Context, t target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return fmt.Errorf("checking %s: %w", t.Name, err)
	}
	for _, h := range t.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("checking %s: %w", t.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("checking %s: GET %s: status %d, want 200: %s", t.Name, t.URL, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}
