package errors

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/pipeline"
)

func TestDemobankStackTraceScrubbed(t *testing.T) {
	// DB-19: a quote in q makes demobank answer 500 with the SQL error and
	// a Go stack trace. Only this guard is configured (no waf).
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: "errors: {}"})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/search?q=%27", tok, nil)
	if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET /api/v1/search?q=' = %d %s %s, want 500 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, leak := range []string{"goroutine", "SELECT", "SQL", ".go:", "trace"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("answer leaks %q: %s", leak, body)
		}
	}
	p := gatewaytest.Problem(t, body)
	if p["type"] != pipeline.ProblemTypeBase+RuleServerError || p["request_id"] != resp.Header.Get("X-Request-Id") || p["request_id"] == "" {
		t.Errorf("problem = %v, want type %s and the request id %s", p, RuleServerError, resp.Header.Get("X-Request-Id"))
	}
	evs := env.EventsWithRule(RuleServerError)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one %s", env.Events(), RuleServerError)
	}
	if e := evs[0]; e.Verdict != "observe" || e.Category != "API8" || !strings.Contains(e.Detail, "goroutine") || !strings.Contains(e.Detail, "SELECT") || len(e.Detail) > 2200 || e.Status != 500 {
		t.Errorf("event = %+v, want the original, truncated, for the operator", e)
	}
}

func TestDemobankDisabled(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: "errors: {enabled: false}"})
	tok := env.Login(t, "alice")
	_, body := env.Do(t, "GET", "/api/v1/search?q=%27", tok, nil)
	if !bytes.Contains(body, []byte("goroutine")) {
		t.Errorf("with enabled: false the answer passes unchanged, got %s", body)
	}
}

func TestOnByDefault(t *testing.T) {
	g, err := New(pipeline.Build{Decode: func(any) (bool, error) { return false, nil }, Services: pipeline.NewServices(pipeline.Services{})})
	if err != nil || g == nil {
		t.Fatalf("New without a section = %v, %v; want a guard", g, err)
	}
}

func run(t *testing.T, c Config, status int, h http.Header, body string) (*http.Response, pipeline.Verdict, string) {
	t.Helper()
	g, err := compile(c)
	if err != nil {
		t.Fatal(err)
	}
	x := pipeline.NewExchange()
	defer x.Release()
	x.ID = "rid-1"
	x.Request = httptest.NewRequest("GET", "/x", nil)
	if h == nil {
		h = http.Header{}
	}
	resp := &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	v, err := g.Response(t.Context(), x, resp)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	return resp, v, string(out)
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		status   int
		body     string
		replaced bool
		rule     string
		sig      string
		wantCode int
	}{
		{"5xx always", Config{}, 503, `{"error":"db down"}`, true, RuleServerError, "", 503},
		{"5xx status override", Config{Status: 502}, 500, `oops`, true, RuleServerError, "", 502},
		{"5xx signatures, clean", Config{ServerErrors: Signatures}, 500, `{"error":"internal"}`, false, "", "", 500},
		{"5xx signatures, python", Config{ServerErrors: Signatures}, 500, "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in f", true, RuleServerError, "python_stack", 500},
		{"2xx untouched", Config{ClientErrors: Always}, 200, `goroutine 1 [running]:`, false, "", "", 200},
		{"4xx off by default", Config{}, 400, `SQLSTATE[42000]`, false, "", "", 400},
		{"4xx java", Config{ClientErrors: Signatures}, 400, "java.lang.NullPointerException\n\tat com.x.Y.z(Y.java:42)", true, RuleClientLeak, "java_stack", 400},
		{"4xx mysql", Config{ClientErrors: Signatures}, 422, `{"e":"You have an error in your SQL syntax; check the manual"}`, true, RuleClientLeak, "sql_error", 422},
		{"4xx postgres", Config{ClientErrors: Signatures}, 400, `ERROR: syntax error at or near "'"`, true, RuleClientLeak, "sql_error", 400},
		{"4xx sqlite", Config{ClientErrors: Signatures}, 400, `near "x": syntax error`, true, RuleClientLeak, "sql_error", 400},
		{"4xx go trace in JSON", Config{ClientErrors: Signatures}, 400, `{"trace":"goroutine 7 [running]:\nmain.f()\n\t/src/app/main.go:12 +0x1d"}`, true, RuleClientLeak, "go_stack", 400},
		{"4xx node", Config{ClientErrors: Signatures}, 400, "TypeError: x\n    at Object.<anonymous> (/srv/app/index.js:3:9)", true, RuleClientLeak, "node_stack", 400},
		{"4xx dotnet", Config{ClientErrors: Signatures}, 400, "System.InvalidOperationException: x\n   at App.C.M() in C:\\src\\App\\C.cs:line 10", true, RuleClientLeak, "dotnet_stack", 400},
		{"4xx file path", Config{ClientErrors: Signatures}, 404, `{"error":"open /var/www/app/config/secrets.yml: no such file"}`, true, RuleClientLeak, "file_path", 404},
		{"4xx clean", Config{ClientErrors: Signatures}, 400, `{"error":"name is required","field":"/name"}`, false, "", "", 400},
		{"4xx custom pattern", Config{ClientErrors: Signatures, Patterns: []string{`internal-host-\d+`}, DefaultPatterns: new(bool)}, 400, `internal-host-12`, true, RuleClientLeak, "custom", 400},
		{"monitor observes, keeps the body", Config{Common: pipeline.Common{Mode: pipeline.Monitor}}, 500, `boom`, false, RuleServerError, "", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, v, out := run(t, tt.cfg, tt.status, http.Header{"Content-Type": {"text/plain"}, "Etag": {`"1"`}}, tt.body)
			if v.Rule != tt.rule {
				t.Errorf("rule = %q, want %q", v.Rule, tt.rule)
			}
			if tt.sig != "" && !strings.Contains(v.Detail, "("+tt.sig+")") {
				t.Errorf("detail = %q, want signature %s", v.Detail, tt.sig)
			}
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
			replaced := resp.Header.Get("Content-Type") == "application/problem+json"
			if replaced != tt.replaced {
				t.Fatalf("replaced = %v, want %v (body %s)", replaced, tt.replaced, out)
			}
			if replaced && (!strings.Contains(out, `"request_id":"rid-1"`) || strings.Contains(out, tt.body) || resp.Header.Get("Etag") != "") {
				t.Errorf("problem = %s, headers %v", out, resp.Header)
			}
			if !replaced && out != tt.body {
				t.Errorf("body = %q, want unchanged", out)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{ServerErrors: "sometimes"}, "server_errors: must be"},
		{Config{ClientErrors: "x"}, "client_errors: must be"},
		{Config{Status: 404}, "status: must be"},
		{Config{Patterns: []string{"("}}, "patterns[0]:"},
	} {
		if _, err := compile(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compile(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// encode compresses plain in the named content coding: gzip, zlib (HTTP
// "deflate" as RFC 9110 defines it) or raw (a bare deflate stream, as some
// servers send for "deflate").
func encode(t *testing.T, coding string, plain io.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zlib":
		w = zlib.NewWriter(&buf)
	case "raw":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	if _, err := io.Copy(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Compressed error bodies are checked for signatures after decoding, and
// decoding stays bounded by max_body however far the body inflates.
func TestResponseContentCoding(t *testing.T) {
	const trace = "goroutine 7 [running]:\nmain.f()\n\t/src/app/main.go:12 +0x1d\n"
	const maxBody = 64 << 10
	bomb := func() io.Reader { return io.MultiReader(strings.NewReader(trace), io.LimitReader(zeros{}, 8<<20)) }
	hiddenBomb := func() io.Reader { return io.MultiReader(io.LimitReader(zeros{}, 8<<20), strings.NewReader(trace)) }
	tests := []struct {
		name     string
		header   string // Content-Encoding
		coding   string // how the test encodes the body
		plain    func() io.Reader
		replaced bool
	}{
		{"gzip trace", "gzip", "gzip", func() io.Reader { return strings.NewReader(trace) }, true},
		{"deflate (zlib) trace", "deflate", "zlib", func() io.Reader { return strings.NewReader(trace) }, true},
		{"deflate (raw) trace", "deflate", "raw", func() io.Reader { return strings.NewReader(trace) }, true},
		{"Deflate header case", " Deflate ", "zlib", func() io.Reader { return strings.NewReader(trace) }, true},
		{"deflate (zlib) clean", "deflate", "zlib", func() io.Reader { return strings.NewReader(`{"error":"name is required"}`) }, false},
		{"deflate (raw) clean", "deflate", "raw", func() io.Reader { return strings.NewReader(`{"error":"name is required"}`) }, false},
		{"deflate (zlib) bomb with a trace first", "deflate", "zlib", bomb, true},
		{"deflate (raw) bomb with a trace first", "deflate", "raw", bomb, true},
		{"gzip bomb with a trace first", "gzip", "gzip", bomb, true},
		// The trace past max_body decoded bytes is never reached: the
		// decoder stops at the bound instead of inflating 8MiB.
		{"deflate (zlib) bomb hiding a trace past the bound", "deflate", "zlib", hiddenBomb, false},
		{"deflate (raw) bomb hiding a trace past the bound", "deflate", "raw", hiddenBomb, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := encode(t, tt.coding, tt.plain())
			if len(body) >= maxBody {
				t.Fatalf("encoded body is %d bytes, over max_body: the test would not reach the decoder", len(body))
			}
			if n := len(decoded(tt.header, body, maxBody)); n > maxBody {
				t.Errorf("decoded %d bytes, want at most max_body %d", n, maxBody)
			}
			h := http.Header{"Content-Type": {"text/plain"}, "Content-Encoding": {tt.header}}
			resp, v, out := run(t, Config{ClientErrors: Signatures, MaxBody: maxBody}, 400, h, string(body))
			replaced := resp.Header.Get("Content-Type") == "application/problem+json"
			if replaced != tt.replaced {
				t.Fatalf("replaced = %v, want %v (verdict %+v)", replaced, tt.replaced, v)
			}
			if replaced {
				if v.Rule != RuleClientLeak || !strings.Contains(v.Detail, "(go_stack)") || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(out, `"request_id":"rid-1"`) {
					t.Errorf("verdict %+v, Content-Encoding %q, body %s; want a go_stack leak scrubbed into a plain problem", v, resp.Header.Get("Content-Encoding"), out)
				}
				if len(v.Detail) > 2*(2<<10)+200 {
					t.Errorf("detail is %d bytes, want it truncated", len(v.Detail))
				}
			} else if out != string(body) {
				t.Error("a clean answer's body changed")
			}
		})
	}
}

// A body that is not what its Content-Encoding says is checked as it is.
func TestDecodedFallsBackToTheBody(t *testing.T) {
	for _, enc := range []string{"gzip", "deflate", "br", ""} {
		if got := decoded(enc, []byte("not compressed"), 1<<10); string(got) != "not compressed" {
			t.Errorf("decoded(%q) = %q, want the body itself", enc, got)
		}
	}
}
