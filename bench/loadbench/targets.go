package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
)

// Target names, in the order they are measured and reported.
const (
	targetDirect         = "direct"
	targetBareProxy      = "bare-proxy"
	targetBarePooled     = "bare-proxy-pooled"
	targetPassthrough    = "apiguard-passthrough"
	targetUnobserved     = "apiguard-passthrough-unobserved"
	targetNginxPlain     = "nginx-plain"
	targetNginxModSec    = "nginx-modsecurity"
	targetCoraza         = "coraza-middleware"
	targetDemobankDirect = "demobank-direct"
	targetDemobank       = "apiguard-demobank"
	targetDemobankReplay = "apiguard-demobank-replay"
)

// allTargets are the names of every target, for -targets.
var allTargets = []string{targetDirect, targetBareProxy, targetBarePooled, targetPassthrough, targetUnobserved, targetNginxPlain,
	targetNginxModSec, targetCoraza, targetDemobankDirect, targetDemobank, targetDemobankReplay}

// Request shapes, in the order they are measured and reported.
const (
	shapeGet      = "GET"
	shapePost     = "JSON POST"
	shapeTransfer = "transfer POST"
)

// shapes are every request shape.
var shapes = []string{shapeGet, shapePost, shapeTransfer}

// benchPath is the path of the GET to the upstream role; it answers every
// path the same.
const benchPath = "/v1/accounts/42"

// benchPostPath is the path of the JSON POST to the upstream role.
const benchPostPath = "/v1/transfers"

// demobankPath is the demobank GET: alice reads her own account.
const demobankPath = "/api/v1/accounts/101"

// demobankPostPath is the demobank JSON POST: alice makes a transfer.
const demobankPostPath = "/api/v1/transfers"

// demobankOrderPath is where the 1 KiB JSON POST goes through demobank:
// alice schedules a transfer order (the same body as jsonPostBody, which
// is valid against demobank's TransferOrderRequest).
const demobankOrderPath = "/api/v1/transfer-orders"

// commonHeaders are sent with every measured request, to every target: a
// client names the API by host name (the CRS flags a numeric Host header,
// which wrk would send) and says what it is and what it accepts.
var commonHeaders = []string{
	"Host: api.example.com",
	"User-Agent: Mozilla/5.0 (compatible; apiguard-loadbench/1.0)",
	"Accept: application/json",
}

// jsonPostBody is the 1 KiB JSON POST sent to every target: a clean,
// realistic transfer order with a memo and nested fields, which demobank's
// transfer orders accept, so the peers and the full profile are measured
// on the same body.
var jsonPostBody = demobank.ExampleTransferOrder

// demobankTransferBody is the JSON POST sent through the demobank profile:
// a transfer from alice's account to bob's, valid against demobank's
// TransferRequest schema, which allows five fields and a memo of at most
// 140 characters, so it cannot be 1 KiB.
var demobankTransferBody = []byte(`{"from_account_id":101,"to_account_id":102,"amount":12.5,"currency":"EUR",` +
	`"memo":"Alice's share of the March rent, flat 3B. Thanks for waiting until the 5th! Ref INV-2024-0315-0042"}`)

// attackQuery is a SQL injection every WAF target must refuse with 403,
// checked before measuring, so that a WAF that is off is not measured.
const attackQuery = "?q=%27%20OR%201%3D1--"

// request is one measured request.
type request struct {
	// Method is GET or POST.
	Method string
	// URL is what wrk requests.
	URL string
	// Headers are extra request headers ("Name: value").
	Headers []string
	// Body is sent with ContentType; nil for a GET.
	Body        []byte
	ContentType string
	// Script is the wrk Lua script that sets the method and the body; ""
	// for a GET.
	Script string
}

// target is one server measured.
type target struct {
	// Name is one of the target* constants.
	Name string
	// Requests are the measured requests by shape; a target without a
	// request for a shape is not measured with it.
	Requests map[string]request
	// Attack is a GET the target's WAF must refuse with 403 (with the
	// headers of its GET); "" for a target without a WAF.
	Attack string
	// Baseline names the target this one is compared with (its direct
	// upstream); "" for a direct target.
	Baseline string
	// AdminURL is an apiguard target's admin listener, for -profile; ""
	// when it has none.
	AdminURL string
}

// env is what setting up targets needs.
type env struct {
	root     string // repository root
	tmp      string // scratch directory, removed at the end
	self     string // this program, re-executed for helper roles
	apiguard string // the apiguard binary built for the run
	nginx    string // nginx, "" when the nginx peers are not measured
	coraza   bool   // measure the Coraza middleware peer
	// post1K and postTransfer are the wrk scripts of the JSON POST and
	// the transfer POST.
	post1K, postTransfer string
	procs                *children
	notes                []string  // how the run differed from the defaults, for the report
	prof                 *profiler // -profile; nil without
}

// note records a line for the report and prints it.
func (e *env) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	logf("%s", s)
	e.notes = append(e.notes, s)
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

// setupTargets writes the wrk scripts, starts every server and returns the
// targets, checked to answer every measured request with a 2xx and, for
// those with a WAF, to refuse an attack.
func (e *env) setupTargets(ctx context.Context) ([]target, error) {
	for _, sc := range []struct {
		path *string
		name string
		body []byte
	}{{&e.post1K, "post-1k.lua", jsonPostBody}, {&e.postTransfer, "post-transfer.lua", demobankTransferBody}} {
		*sc.path = filepath.Join(e.tmp, sc.name)
		if err := os.WriteFile(*sc.path, []byte(wrkScript(http.MethodPost, "application/json", sc.body)), 0o600); err != nil {
			return nil, fmt.Errorf("writing wrk script: %w", err)
		}
	}
	upURL, simple, err := e.setupSimple(ctx)
	if err != nil {
		return nil, err
	}
	peers, err := e.setupPeers(ctx, upURL)
	if err != nil {
		return nil, err
	}
	bank, err := e.setupDemobank(ctx)
	if err != nil {
		return nil, err
	}
	all := append(append(simple, peers...), bank...)
	for _, t := range all {
		if err := checkTarget(ctx, t); err != nil {
			return nil, err
		}
	}
	if e.nginx != "" {
		// The clean requests must not match any rule: a WAF that logs a
		// warning per request is slower than it would be in production.
		if n := modSecMatches(filepath.Join(e.tmp, "nginx", "error.log")); n > 0 {
			return nil, fmt.Errorf("checking %s: ModSecurity matched rules on the clean requests (%d log lines); see %s",
				targetNginxModSec, n, filepath.Join(e.tmp, "nginx", "error.log"))
		}
	}
	for _, t := range all {
		if err := checkAttack(ctx, t); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// simpleRequests are the GET and the 1 KiB JSON POST of base, a server in
// front of the upstream role, and with transfer also demobank's transfer
// POST, so that a peer can be compared with apiguard-demobank on the same
// body.
func (e *env) simpleRequests(base string, transfer bool) map[string]request {
	reqs := map[string]request{
		shapeGet: {Method: http.MethodGet, URL: base + benchPath, Headers: commonHeaders},
		shapePost: {Method: http.MethodPost, URL: base + benchPostPath, Headers: commonHeaders,
			Body: jsonPostBody, ContentType: "application/json", Script: e.post1K},
	}
	if transfer {
		reqs[shapeTransfer] = request{Method: http.MethodPost, URL: base + demobankPostPath, Headers: commonHeaders,
			Body: demobankTransferBody, ContentType: "application/json", Script: e.postTransfer}
	}
	return reqs
}

// setupSimple starts the upstream, the bare proxy and apiguard's
// pass-through profile in front of it, and returns the upstream's URL.
func (e *env) setupSimple(ctx context.Context) (string, []target, error) {
	var addrs [5]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return "", nil, err
		}
		addrs[i] = a
	}
	up, bare, guard, pooled, unobserved := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]
	upURL := "http://" + up
	if err := e.startServer(ctx, "upstream", up, "/", nil, e.self, "upstream", "-listen", up); err != nil {
		return "", nil, err
	}
	if err := e.startServer(ctx, "bareproxy", bare, "/", nil, e.self, "bareproxy", "-listen", bare, "-upstream", upURL); err != nil {
		return "", nil, err
	}
	if err := e.startServer(ctx, "bareproxy-pooled", pooled, "/", nil, e.self, "bareproxy", "-pool", "-listen", pooled, "-upstream", upURL); err != nil {
		return "", nil, err
	}
	passURL, err := e.startApiguard(ctx, targetPassthrough, guard, "passthrough.yaml",
		passthroughConfig(guard, upURL, filepath.Join(e.tmp, "data-passthrough"), filepath.Join(e.tmp, "access.log")), nil)
	if err != nil {
		return "", nil, err
	}
	unobservedURL, err := e.startApiguard(ctx, targetUnobserved, unobserved, "passthrough-unobserved.yaml",
		passthroughConfig(unobserved, upURL, filepath.Join(e.tmp, "data-unobserved"), filepath.Join(e.tmp, "access-unobserved.log"))+unobservedSection, nil)
	if err != nil {
		return "", nil, err
	}
	return upURL, []target{
		{Name: targetDirect, Requests: e.simpleRequests(upURL, false)},
		{Name: targetBareProxy, Requests: e.simpleRequests("http://"+bare, false), Baseline: targetDirect},
		{Name: targetBarePooled, Requests: e.simpleRequests("http://"+pooled, false), Baseline: targetDirect},
		{Name: targetPassthrough, Requests: e.simpleRequests("http://"+guard, true), Baseline: targetDirect, AdminURL: passURL},
		{Name: targetUnobserved, Requests: e.simpleRequests("http://"+unobserved, false), Baseline: targetDirect, AdminURL: unobservedURL},
	}, nil
}

// startApiguard writes config as name in the scratch directory (with
// admin.profiling on for -profile) and starts apiguard serve with it,
// listening on addr; it returns the admin URL ("" without -profile).
func (e *env) startApiguard(ctx context.Context, target, addr, name, config string, extraEnv []string) (string, error) {
	data, err := e.prof.withProfiling([]byte(config))
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.tmp, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("writing the %s config: %w", target, err)
	}
	args, env, adminURL, err := e.prof.serveArgs()
	if err != nil {
		return "", err
	}
	argv := append([]string{e.apiguard, "serve", "--config", path, "--listen", addr}, args...)
	return adminURL, e.startServer(ctx, target, addr, "/", append(extraEnv, env...), argv...)
}

// setupPeers starts the peers in front of the upstream: nginx plain and
// with ModSecurity + CRS (when e.nginx is set) and the Coraza middleware
// (when e.coraza is).
func (e *env) setupPeers(ctx context.Context, upURL string) ([]target, error) {
	var out []target
	if e.nginx != "" {
		plain, modsec, err := e.startNginx(ctx, e.nginx, strings.TrimPrefix(upURL, "http://"))
		if err != nil {
			return nil, err
		}
		out = append(out,
			target{Name: targetNginxPlain, Requests: e.simpleRequests("http://"+plain, false), Baseline: targetDirect},
			target{Name: targetNginxModSec, Requests: e.simpleRequests("http://"+modsec, true), Baseline: targetDirect,
				Attack: "http://" + modsec + "/v1/search" + attackQuery})
	}
	if e.coraza {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		if err := e.startServer(ctx, "coraza", addr, "/", nil, e.self, "coraza", "-listen", addr, "-upstream", upURL); err != nil {
			return nil, err
		}
		out = append(out, target{Name: targetCoraza, Requests: e.simpleRequests("http://"+addr, true), Baseline: targetDirect,
			Attack: "http://" + addr + "/v1/search" + attackQuery})
	}
	return out, nil
}

// unobservedSection turns the inventory and the anomaly detectors off
// (both are on by default), for the pass-through without observers.
const unobservedSection = `observe:
  inventory: {enabled: false}
  detectors: {enabled: false}
`

// passthroughConfig is apiguard's pass-through profile: one API, no spec,
// no guards, the access log written to a file as in production, admin off;
// the inventory and the detectors on, as by default.
func passthroughConfig(listen, upstream, dataDir, accessLog string) string {
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
`, listen, dataDir, accessLog, upstream)
}

// setupDemobank starts demobank and apiguard with the bench's copy of the
// demobank example config in front of it, and logs alice in. It also
// records demobank's answers to the measured requests and starts a second
// apiguard with the same profile in front of an upstream role replaying
// them, so that the profile's cost is measured without demobank's own.
func (e *env) setupDemobank(ctx context.Context) ([]target, error) {
	var addrs [4]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	bank, guard, replay, guardReplay := addrs[0], addrs[1], addrs[2], addrs[3]
	bankURL, replayURL := "http://"+bank, "http://"+replay
	if err := e.startServer(ctx, "demobank", bank, "/", nil, e.apiguard, "demobank", "--listen", bank); err != nil {
		return nil, err
	}
	exampleDir := filepath.Join(e.root, "examples", "demobank")
	src, err := os.ReadFile(filepath.Join(exampleDir, "apiguard.yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading the demobank config: %w", err)
	}
	cfg, notes, err := benchDemobankConfig(src, exampleDir, "")
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		e.note("apiguard-demobank: %s", n)
	}
	// The example config writes the access log to stdout, which goes to
	// the child's log file.
	extra := []string{"DEMOBANK_URL=" + bankURL, "APIGUARD_DATA_DIR=" + filepath.Join(e.tmp, "data-demobank")}
	guardAdmin, err := e.startApiguard(ctx, targetDemobank, guard, "demobank.yaml", string(cfg), extra)
	if err != nil {
		return nil, err
	}
	token, err := login(ctx, "http://"+guard, "alice", "alice-pass")
	if err != nil {
		return nil, err
	}
	headers := append(slices.Clone(commonHeaders), "Authorization: Bearer "+token)
	reqs := func(base string) map[string]request {
		return map[string]request{
			shapeGet: {Method: http.MethodGet, URL: base + demobankPath, Headers: headers},
			shapePost: {Method: http.MethodPost, URL: base + demobankOrderPath, Headers: headers,
				Body: jsonPostBody, ContentType: "application/json", Script: e.post1K},
			shapeTransfer: {Method: http.MethodPost, URL: base + demobankPostPath, Headers: headers,
				Body: demobankTransferBody, ContentType: "application/json", Script: e.postTransfer},
		}
	}

	// Demobank's answers, recorded and replayed.
	var answers []replayAnswer
	for _, r := range reqs(bankURL) {
		a, err := record(ctx, r)
		if err != nil {
			return nil, err
		}
		answers = append(answers, a)
	}
	replayFile := filepath.Join(e.tmp, "demobank-replay.json")
	b, _ := json.MarshalIndent(answers, "", "  ")
	if err := os.WriteFile(replayFile, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing demobank's recorded answers: %w", err)
	}
	if err := e.startServer(ctx, "demobank-replay", replay, "/", nil, e.self, "upstream", "-listen", replay, "-replay", replayFile); err != nil {
		return nil, err
	}
	cfgReplay, _, err := benchDemobankConfig(src, exampleDir, replayURL)
	if err != nil {
		return nil, err
	}
	extra = []string{"DEMOBANK_URL=" + bankURL, "APIGUARD_DATA_DIR=" + filepath.Join(e.tmp, "data-demobank-replay")}
	replayAdmin, err := e.startApiguard(ctx, targetDemobankReplay, guardReplay, "demobank-replay.yaml", string(cfgReplay), extra)
	if err != nil {
		return nil, err
	}
	return []target{
		{Name: targetDemobankDirect, Requests: reqs(bankURL)},
		{Name: targetDemobank, Requests: reqs("http://" + guard), Baseline: targetDemobankDirect,
			Attack: "http://" + guard + "/api/v1/search" + attackQuery, AdminURL: guardAdmin},
		{Name: targetDemobankReplay, Requests: reqs("http://" + guardReplay), Baseline: targetDirect,
			Attack: "http://" + guardReplay + "/api/v1/search" + attackQuery, AdminURL: replayAdmin},
	}, nil
}

// record sends r and returns the answer, to be replayed; it wants a 2xx.
func record(ctx context.Context, r request) (replayAnswer, error) {
	status, header, body, err := do(ctx, r, 1<<20)
	if err != nil {
		return replayAnswer{}, fmt.Errorf("recording %s %s: %w", r.Method, r.URL, err)
	}
	if status < 200 || status > 299 {
		return replayAnswer{}, fmt.Errorf("recording %s %s: status %d, want 2xx: %s", r.Method, r.URL, status, body)
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return replayAnswer{}, fmt.Errorf("recording %s: %w", r.URL, err)
	}
	return replayAnswer{Method: r.Method, Path: u.Path, Status: status, ContentType: header.Get("Content-Type"), Body: string(body)}, nil
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

// send sends one request and returns its status and the start of its body.
func send(ctx context.Context, r request) (int, string, error) {
	status, _, body, err := do(ctx, r, 4<<10)
	return status, strings.TrimSpace(string(body)), err
}

// do sends one request and returns its status, header and at most limit
// bytes of its body.
func do(ctx context.Context, r request, limit int64) (int, http.Header, []byte, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range r.Headers {
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, resp.Header, b, err
}

// checkTarget sends every measured request once and wants a 2xx, so that
// a misconfigured target is not measured answering errors fast.
func checkTarget(ctx context.Context, t target) error {
	for _, shape := range shapes {
		r, ok := t.Requests[shape]
		if !ok {
			continue
		}
		status, body, err := send(ctx, r)
		if err != nil {
			return fmt.Errorf("checking %s: %s %s: %w", t.Name, r.Method, r.URL, err)
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("checking %s: %s %s: status %d, want 2xx: %s", t.Name, r.Method, r.URL, status, body)
		}
	}
	return nil
}

// checkAttack sends t's attack and wants a 403, so that a WAF that is off
// is not measured.
func checkAttack(ctx context.Context, t target) error {
	if t.Attack == "" {
		return nil
	}
	r := t.Requests[shapeGet]
	r.URL = t.Attack
	status, body, err := send(ctx, r)
	if err != nil {
		return fmt.Errorf("checking %s's WAF: GET %s: %w", t.Name, r.URL, err)
	}
	if status != http.StatusForbidden {
		return fmt.Errorf("checking %s's WAF: GET %s: status %d, want 403 (is the WAF on?): %s", t.Name, r.URL, status, body)
	}
	return nil
}
