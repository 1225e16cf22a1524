package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the real binary and drive it over loopback,
// as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apiguard-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "apiguard")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building apiguard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running apiguard process whose stderr is scanned for lines.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	mu     sync.Mutex
	lines  []string
	newLn  chan struct{}
	done   chan error
	exited error // how the process ended, once it has (under mu)
	ended  bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, newLn: make(chan struct{}, 1), done: make(chan error, 1)}
	cmd.Stdout = p.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.newLn <- struct{}{}:
			default:
			}
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.exited, p.ended = err, true
		p.mu.Unlock()
		select {
		case p.newLn <- struct{}{}:
		default:
		}
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return p
}

// waitFor returns the first submatch of re in a stderr line.
func (p *proc) waitFor(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if m := rx.FindStringSubmatch(l); m != nil {
				p.mu.Unlock()
				if len(m) > 1 {
					return m[1]
				}
				return m[0]
			}
		}
		all := strings.Join(p.lines, "\n")
		ended, exited := p.ended, p.exited
		p.mu.Unlock()
		if ended {
			t.Fatalf("apiguard ended (%v) without a line matching %q in stderr:\n%s", exited, re, all)
		}
		select {
		case <-p.newLn:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no line matching %q in stderr:\n%s", re, all)
		}
	}
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("apiguard exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("apiguard did not stop within 20s of SIGTERM")
	}
}

func do(t *testing.T, method, url, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

const listenRE = `on https?://(127\.0\.0\.1:\d+)`

// TestServeDefault is the README's first command: no config, demobank
// in-process, protected.
func TestServeDefault(t *testing.T) {
	dir := t.TempDir()
	p := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir)
	addr := p.waitFor(t, `protecting the bundled demobank API .* `+listenRE)
	adminAddr := p.waitFor(t, `admin API on http://(127\.0\.0\.1:\d+)`)
	token := p.waitFor(t, `admin token \(generated.*\): (\S+)`)
	base := "http://" + addr

	// A normal call: log in as alice and read her account.
	resp, body := do(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "alice-pass"})
	if resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &login); err != nil || login.AccessToken == "" {
		t.Fatalf("login answer %s: %v", body, err)
	}
	resp, body = do(t, "GET", base+"/api/v1/accounts/101", login.AccessToken, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "101") || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("GET account = %d %s (request id %q)", resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
	}

	// A blocked one: a dot segment written encoded to reach the undocumented debug endpoint.
	status, pbody := rawGet(t, addr, "/api/v1/%2e%2e/%2e%2e/internal/debug")
	if status != 400 || !strings.Contains(pbody, "normalize.") || !strings.Contains(pbody, "request_id") {
		t.Fatalf("encoded traversal = %d %s, want 400 problem", status, pbody)
	}
	// The same bypass with a case trick on a documented path.
	status, pbody = rawGet(t, addr, "/API/v1/accounts/101")
	if status != 400 || !strings.Contains(pbody, "normalize.noncanonical_route") {
		t.Errorf("case variant of a documented path = %d %s, want 400 noncanonical_route", status, pbody)
	}

	// The admin API: health without a token, events with it.
	resp, _ = do(t, "GET", "http://"+adminAddr+"/healthz", "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", "http://"+adminAddr+"/api/v1/events", "", nil)
	if resp.StatusCode != 401 {
		t.Errorf("events without a token = %d, want 401", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, "GET", "http://"+adminAddr+"/api/v1/events?guard=normalize", token, nil)
		if resp.StatusCode == 200 && strings.Contains(string(body), "normalize.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events = %d %s, want the normalize block stored", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, body = do(t, "GET", "http://"+adminAddr+"/metrics", token, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "apiguard_requests_total") {
		t.Errorf("metrics = %d, want apiguard_requests_total", resp.StatusCode)
	}

	p.stop(t)
	// The access log: one JSON line per request, secrets redacted.
	out := p.stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("access log has %d lines, want at least 4:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("access log line is not JSON: %q", l)
		}
	}
	if strings.Contains(out, login.AccessToken) || strings.Contains(out, "alice-pass") {
		t.Error("the access log contains a secret")
	}
	if _, err := os.Stat(filepath.Join(dir, "apiguard.db")); err != nil {
		t.Errorf("the store was not created in --data-dir: %v", err)
	}
}

// TestServeConfigAndReload runs demobank on its own and apiguard with the
// example config, then reloads a good and a bad config.
func TestServeConfigAndReload(t *testing.T) {
	bank := start(t, nil, "demobank", "--listen", "127.0.0.1:0")
	bankAddr := bank.waitFor(t, `listening on http://(127\.0\.0\.1:\d+)`)

	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "demobank", "apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join("..", "..", "examples", "demobank", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "apiguard.yaml")
	if err := os.WriteFile(filepath.Join(dir, "openapi.yaml"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, example, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"DEMOBANK_URL=http://" + bankAddr, "APIGUARD_DATA_DIR=" + dir, "APIGUARD_ADMIN_TOKEN=e2e-admin-token-0123456789"}
	p := start(t, env, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	addr := p.waitFor(t, `protecting 1 API\(s\) `+listenRE)
	adminAddr := p.waitFor(t, `admin API on http://(127\.0\.0\.1:\d+)`)
	base := "http://" + addr

	resp, body := do(t, "GET", base+"/.well-known/jwks.json", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "keys") {
		t.Fatalf("jwks through apiguard = %d %s", resp.StatusCode, body)
	}
	// The login operation's body limit (4KiB) from the example config.
	resp, _ = do(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": strings.Repeat("a", 5000), "password": "x"})
	if resp.StatusCode != 413 {
		t.Errorf("5 KB login body = %d, want 413 from limits.operations.login", resp.StatusCode)
	}

	// A bad config is refused and the old one keeps serving.
	if err := os.WriteFile(cfgPath, []byte("apis:\n  - name: demobank\n    upstream: {urls: [\"ftp://x\"]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, `config reload refused.*apis\[0\]\.upstream\.urls\[0\]`)
	resp, _ = do(t, "GET", base+"/.well-known/jwks.json", "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("after a refused reload = %d, want 200 from the old config", resp.StatusCode)
	}
	// A good one is applied: the API now answers only under /api.
	good := strings.Replace(string(example), "path_prefix: /\n", "path_prefix: /api\n", 1)
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ = do(t, "GET", base+"/.well-known/jwks.json", "", nil)
		if resp.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after reload /.well-known = %d, want 404 (outside /api)", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, body = do(t, "GET", "http://"+adminAddr+"/api/v1/config", "e2e-admin-token-0123456789", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"/api"`) || strings.Contains(string(body), "e2e-admin-token") {
		t.Errorf("admin config = %d %s, want the reloaded config with the token redacted", resp.StatusCode, body)
	}
	p.stop(t)
	bank.stop(t)
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\n"), 0o600)
	os.WriteFile(bad, []byte("server: {listen: nowhere}\napis:\n  - name: a\n    upstream: {urls: [\"ftp://x\"]}\n    limts: {}\n"), 0o600)
	tests := []struct {
		file     string
		wantCode int
		want     []string
	}{
		{good, 0, []string{"is valid"}},
		{bad, 1, []string{"apis[0].limts: unknown field (did you mean limits?)"}},
		{filepath.Join(dir, "missing.yaml"), 1, []string{"no such file"}},
	}
	for _, tt := range tests {
		out, err := exec.Command(binary, "config", "validate", tt.file).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tt.wantCode {
			t.Errorf("config validate %s exit = %d, want %d:\n%s", filepath.Base(tt.file), code, tt.wantCode, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("config validate %s = %q, want %q", filepath.Base(tt.file), out, w)
			}
		}
	}
	// Every example config is valid, guards included.
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.yaml"))
	examples2, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	var n int
	for _, f := range append(examples, examples2...) {
		if filepath.Base(f) == "openapi.yaml" {
			continue
		}
		n++
		if out, err := exec.Command(binary, "config", "validate", f).CombinedOutput(); err != nil {
			t.Errorf("config validate %s: %v\n%s", f, err, out)
		}
	}
	if n == 0 {
		t.Error("no example config found")
	}
	// Type errors and field errors of a structurally valid file are all listed.
	os.WriteFile(bad, []byte("server: {listen: nowhere, max_headers: 0}\napis:\n  - name: a\n    upstream: {urls: [\"ftp://x\"]}\n"), 0o600)
	out, _ := exec.Command(binary, "config", "validate", bad).CombinedOutput()
	for _, w := range []string{"server.listen", "server.max_headers", "apis[0].upstream.urls[0]: must be http or https"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("config validate = %q, want %q", out, w)
		}
	}
}

func TestConfigSchemaAndVersion(t *testing.T) {
	out, err := exec.Command(binary, "config", "schema").Output()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil || s["$id"] == nil {
		t.Errorf("config schema is not a JSON Schema: %v", err)
	}
	out, err = exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "apiguard ") {
		t.Errorf("version = %q, %v", out, err)
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--spec", "x.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--spec needs --upstream") {
		t.Errorf("serve --spec alone = %v %q, want an error", err, out)
	}
	out, err = exec.CommandContext(ctx, binary, "serve", "--upstream", "ftp://x", "--listen", "127.0.0.1:0", "--admin-listen", "off").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "apis[0].upstream.urls[0]: must be http or https") {
		t.Errorf("serve --upstream ftp = %v %q, want the field named", err, out)
	}
}
