// Package gatewaytest runs a real gateway in front of a real demobank, both
// on loopback, for the end-to-end tests of guard packages:
//
//	env := gatewaytest.Start(t, gatewaytest.Options{Guards: `
//	  authn: {jwt: {...}}
//	`})
//	tok := env.Login(t, "alice")
//	resp, body := env.Do(t, "GET", "/api/v1/accounts/102", tok, nil)
//
// The gateway uses examples/demobank/openapi.yaml as the API's spec and
// the guards section given (YAML, indented under guards:). Events and
// access records are captured for assertions.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/gateway"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// Options configure the environment.
type Options struct {
	// Guards is the YAML of the demobank API's guards section (the keys
	// under guards:), written at any indentation. ${DEMOBANK_URL} in it is
	// demobank's base URL (its tokens' issuer).
	Guards string
	// Fixed runs demobank with its vulnerabilities switched off.
	Fixed bool
	// Redis, when set, is given to guards through the shared services.
	Redis redis.UniversalClient
	// Extra is YAML appended at the top level of the config (for example
	// "server: {trusted_proxies: [127.0.0.1/32]}").
	Extra string
	// Spec replaces demobank's spec (YAML or JSON), when set.
	Spec []byte
	// Now is the clock given to guards; nil means time.Now.
	Now func() time.Time
	// ConfigFile, when set, is a whole config file used instead of the
	// generated one (Guards, Extra and Spec are then ignored): its
	// ${DEMOBANK_URL} is demobank's URL, ${APIGUARD_DATA_DIR} a temporary
	// directory, and relative paths (the spec) resolve against its folder.
	ConfigFile string
	// Observers, when set, receives every completed exchange.
	Observers *observe.Hub
}

// Env is a running demobank and gateway.
type Env struct {
	// URL is the gateway's base URL; BankURL demobank's.
	URL, BankURL string
	// Gateway is the running gateway (Reload works).
	Gateway *gateway.Gateway
	// Services are the shared services the guards were given.
	Services *pipeline.Services
	// Client is an HTTP client for the gateway.
	Client *http.Client

	rec *Recorder
}

// Recorder captures events and access records.
type Recorder struct {
	mu       sync.Mutex
	events   []events.Event
	accesses []events.Access
}

// Access records an access record.
func (r *Recorder) Access(a *events.Access) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accesses = append(r.accesses, *a)
}

// Event records an event.
func (r *Recorder) Event(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// AuthnSection is an authn section trusting demobank's own tokens, for
// guards whose tests need an authenticated principal.
const AuthnSection = `
authn:
  jwt:
    issuer: ${DEMOBANK_URL}
    jwks_url: ${DEMOBANK_URL}/.well-known/jwks.json
    audience: [demobank]
    algorithms: [ES256]
`

// Config returns the gateway config YAML for a demobank URL and options.
func Config(bankURL string, o Options) string {
	var b strings.Builder
	b.WriteString("admin: {listen: \"off\"}\nlog: {access_log: \"off\"}\n")
	if o.Extra != "" {
		b.WriteString(o.Extra)
		if !strings.HasSuffix(o.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("apis:\n  - name: demobank\n    upstream: {urls: [\"" + bankURL + "\"]}\n    spec: openapi.yaml\n")
	if strings.TrimSpace(o.Guards) != "" {
		b.WriteString("    guards:\n")
		guards := strings.ReplaceAll(dedent(o.Guards), "${DEMOBANK_URL}", bankURL)
		for _, line := range strings.Split(guards, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String()
}

func dedent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

// Start runs demobank and a gateway protecting it. Everything stops when
// the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	bank, err := demobank.New(demobank.Options{Fixed: o.Fixed, Now: o.Now})
	if err != nil {
		t.Fatalf("demobank.New: %v", err)
	}
	t.Cleanup(func() { _ = bank.Close() })
	bankURL := serve(t, bank)

	loaded, specLoader := generatedConfig(t, bankURL, o)
	if o.ConfigFile != "" {
		loaded, specLoader = fileConfig(t, bankURL, o.ConfigFile)
	}
	rec := &Recorder{}
	services := pipeline.NewServices(pipeline.Services{Redis: o.Redis, Emit: rec.Event, Now: o.Now})
	t.Cleanup(func() { _ = services.Close() })
	g, err := gateway.New(loaded, gateway.Options{Recorder: rec, Services: services, Now: o.Now, SpecLoader: specLoader, Observers: o.Observers})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	srv := g.NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(srv, ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		g.Close()
	})
	return &Env{URL: "http://" + ln.Addr().String(), BankURL: bankURL, Gateway: g, Services: services,
		Client: &http.Client{Timeout: 30 * time.Second}, rec: rec}
}

// generatedConfig is the config of Options.Guards and Extra, with
// demobank's spec (or Options.Spec) served from memory.
func generatedConfig(t testing.TB, bankURL string, o Options) (*config.Loaded, func(string, string) (*openapi.Spec, error)) {
	doc := Config(bankURL, o)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config:\n%s\nerror: %v", doc, err)
	}
	spec := demobank.Spec
	if o.Spec != nil {
		spec = o.Spec
	}
	return &config.Loaded{Config: cfg}, func(string, string) (*openapi.Spec, error) { return openapi.Parse(spec) }
}

// fileConfig loads a whole config file; nil spec loader: the gateway's
// default, relative to the file's folder.
func fileConfig(t testing.TB, bankURL, file string) (*config.Loaded, func(string, string) (*openapi.Spec, error)) {
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cfg, err := config.Parse(data, func(k string) (string, bool) {
		switch k {
		case "DEMOBANK_URL":
			return bankURL, true
		case "APIGUARD_DATA_DIR":
			return dataDir, true
		}
		return "", false
	})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &config.Loaded{Config: cfg, File: abs, Dir: filepath.Dir(abs)}, nil
}

func serve(t testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// Password returns a seeded user's password.
func Password(t testing.TB, user string) string {
	for _, id := range demobank.Seeds() {
		if id.Username == user {
			return id.Password
		}
	}
	t.Fatalf("no seeded user %q", user)
	return ""
}

// Login logs a seeded user in through the gateway and returns the token.
func (e *Env) Login(t testing.TB, user string) string {
	t.Helper()
	resp, body := e.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": Password(t, user)})
	if resp.StatusCode != 200 {
		t.Fatalf("login %s through the gateway = %d %s", user, resp.StatusCode, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("login %s answer %s: %v", user, body, err)
	}
	return out.AccessToken
}

// Do sends a request through the gateway. body may be nil, a []byte or
// string (sent as is, as application/json) or a value marshalled to JSON.
func (e *Env) Do(t testing.TB, method, path, token string, body any, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// Events returns the events recorded so far.
func (e *Env) Events() []events.Event {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return append([]events.Event(nil), e.rec.events...)
}

// EventsWithRule returns the recorded events whose rule is rule.
func (e *Env) EventsWithRule(rule string) []events.Event {
	var out []events.Event
	for _, ev := range e.Events() {
		if ev.Rule == rule {
			out = append(out, ev)
		}
	}
	return out
}

// Accesses returns the access records so far.
func (e *Env) Accesses() []events.Access {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return append([]events.Access(nil), e.rec.accesses...)
}

// Problem decodes a problem+json body.
func Problem(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem body: %s", body)
	}
	return p
}
