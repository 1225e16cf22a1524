package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// capture records what the gateway reports.
type capture struct {
	mu       sync.Mutex
	events   []events.Event
	accesses []events.Access
}

func (c *capture) Access(a *events.Access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accesses = append(c.accesses, *a)
}

func (c *capture) Event(e events.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

func (c *capture) lastAccess(t *testing.T) events.Access {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.accesses) == 0 {
		t.Fatal("no access record")
	}
	return c.accesses[len(c.accesses)-1]
}

func (c *capture) eventsWithRule(rule string) []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []events.Event
	for _, e := range c.events {
		if e.Rule == rule {
			out = append(out, e)
		}
	}
	return out
}

// echoUpstream answers with what it received.
type echoed struct {
	Name      string              `json:"name"`
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	RawPath   string              `json:"raw_path"`
	URI       string              `json:"uri"`
	Query     string              `json:"query"`
	Host      string              `json:"host"`
	Header    map[string][]string `json:"header"`
	BodyBytes int                 `json:"body_bytes"`
}

func echoUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		_ = json.NewEncoder(w).Encode(echoed{Name: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, URI: r.RequestURI,
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header, BodyBytes: int(n)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testGateway is a gateway serving on a loopback port.
type testGateway struct {
	g    *Gateway
	srv  *http.Server
	url  string
	addr string
	rec  *capture
	dir  string
}

// startGateway parses doc (with ${UP0}, ${UP1}, ... set to upstreams) and
// serves it.
func startGateway(t *testing.T, doc string, vars map[string]string) *testGateway {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(doc), func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("config.Parse() error = %v", err)
	}
	return startLoaded(t, &config.Loaded{Config: cfg, Dir: dir, File: filepath.Join(dir, "apiguard.yaml")})
}

func startLoaded(t *testing.T, cfg *config.Loaded) *testGateway {
	t.Helper()
	rec := &capture{}
	g, err := New(cfg, Options{Recorder: rec})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	srv := g.NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{g: g, srv: srv, addr: ln.Addr().String(), rec: rec, dir: cfg.Dir}
	tg.url = "http://" + tg.addr
	if g.TLSEnabled() {
		tg.url = "https://" + tg.addr
	}
	go func() { _ = g.Serve(srv, ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		g.Close()
	})
	return tg
}

// raw sends bytes on a new connection and returns the first response.
func raw(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, ""
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

func getJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decoding %s answer: %v", resp.Status, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testGuard is a guard whose behaviour its config section sets. It is
// registered under the denylist (request) and headers (response) steps,
// which have no real guard in this package's tests.
type testGuardConfig struct {
	pipeline.Common `yaml:",inline"`
	BlockPath       string `yaml:"block_path"`
	FailPath        string `yaml:"fail_path"`
	SlowPath        string `yaml:"slow_path"`
	RecordCert      bool   `yaml:"record_cert"`
	// AnswerPath is answered 204 with CORS headers, as the headers guard
	// answers an allowed preflight.
	AnswerPath string `yaml:"answer_path"`
	// HSTS, when set, makes the guard decide the security headers of
	// apiguard's own answers (as the headers guard does), with this HSTS.
	HSTS *string `yaml:"hsts"`
}

type testGuard struct{ cfg testGuardConfig }

var seenCerts = struct {
	sync.Mutex
	names []string
}{}

func (g *testGuard) Request(ctx context.Context, x *pipeline.Exchange) (pipeline.Verdict, error) {
	if g.cfg.RecordCert && x.ClientCert != nil {
		seenCerts.Lock()
		seenCerts.names = append(seenCerts.names, x.ClientCert.Subject.CommonName)
		seenCerts.Unlock()
	}
	switch x.Path {
	case g.cfg.BlockPath:
		return pipeline.Verdict{Action: pipeline.Block, Status: 403, Rule: "denylist.test", Category: "API1", Title: "Blocked for the test.", Detail: "secret detail"}, nil
	case g.cfg.FailPath:
		return pipeline.Verdict{}, fmt.Errorf("backend down")
	case g.cfg.AnswerPath:
		h := http.Header{}
		h.Set("Access-Control-Allow-Origin", "https://app.example")
		h.Set("Access-Control-Max-Age", "600")
		return pipeline.Verdict{Action: pipeline.Answer, Status: http.StatusNoContent, Rule: "denylist.test_answer", Header: h}, nil
	}
	return pipeline.Verdict{}, nil
}

// shTestGuard is a testGuard that decides the security headers of
// apiguard's own answers.
type shTestGuard struct{ testGuard }

func (g *shTestGuard) SecurityHeaders() pipeline.SecurityHeaders {
	s := pipeline.DefaultSecurityHeaders
	s.HSTS = *g.cfg.HSTS
	return s
}

type testRespGuard struct{ cfg testGuardConfig }

func (g *testRespGuard) Response(ctx context.Context, x *pipeline.Exchange, resp *http.Response) (pipeline.Verdict, error) {
	if x.Path == g.cfg.BlockPath {
		return pipeline.Verdict{Action: pipeline.Block, Status: 502, Rule: "headers.test", Title: "Answer withheld."}, nil
	}
	resp.Header.Set("X-Test-Response-Guard", "seen")
	return pipeline.Verdict{}, nil
}

func init() {
	pipeline.Register(pipeline.Registration{Name: "denylist", Section: "testguard", New: func(b pipeline.Build) (any, error) {
		var c testGuardConfig
		ok, err := b.Decode(&c)
		if err != nil || !ok {
			return nil, err
		}
		if c.HSTS != nil {
			return &shTestGuard{testGuard{cfg: c}}, nil
		}
		return &testGuard{cfg: c}, nil
	}})
	pipeline.Register(pipeline.Registration{Name: "headers", Section: "testrespguard", New: func(b pipeline.Build) (any, error) {
		var c testGuardConfig
		ok, err := b.Decode(&c)
		if err != nil || !ok {
			return nil, err
		}
		return &testRespGuard{cfg: c}, nil
	}})
}

func parseForTest(doc string, vars map[string]string) (*config.Loaded, error) {
	cfg, err := config.Parse([]byte(doc), func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	return &config.Loaded{Config: cfg}, nil
}
