package waf

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

var (
	answerOnce  sync.Once
	answerTest  *answerGuard
	answerError error
)

// answerGuardForTest is one paranoia-1 answer step with the defaults,
// shared by the tests.
func answerGuardForTest(t testing.TB) *answerGuard {
	t.Helper()
	answerOnce.Do(func() { answerTest, answerError = newAnswerGuard(Config{}) })
	if answerError != nil {
		t.Fatal(answerError)
	}
	return answerTest
}

// answerCase is one upstream answer.
type answerCase struct {
	name   string
	status int
	ctype  string
	body   string
	hdr    []string
}

// respond runs the answer step on an answer to GET target, as the
// gateway would, and returns the verdict and what the client would
// read (when not blocked).
func respond(t testing.TB, g *answerGuard, target string, c answerCase) (pipeline.Verdict, []byte) {
	t.Helper()
	x := pipeline.NewExchange()
	defer x.Release()
	x.Request = httptest.NewRequest("GET", target, nil)
	x.Path = x.Request.URL.Path
	if s := guardForTest(t).spec; s != nil {
		x.Operation, x.PathParams, _ = s.Match("GET", x.Path, nil)
	}
	resp := answer(c)
	v, err := g.Response(context.Background(), x, resp)
	if err != nil {
		t.Fatalf("Response(%s) error = %v", c.name, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer after the step: %v", err)
	}
	return v, b
}

func answer(c answerCase) *http.Response {
	status := c.status
	if status == 0 {
		status = 200
	}
	resp := &http.Response{StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(c.body)), ContentLength: int64(len(c.body))}
	if c.ctype != "" {
		resp.Header.Set("Content-Type", c.ctype)
	}
	for i := 0; i+1 < len(c.hdr); i += 2 {
		resp.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	return resp
}

// Leaks, one per family of CRS's outbound rules, in the answers an API
// gives: JSON with the upstream's error in a member, HTML, plain text.
var leakAnswers = []struct {
	answerCase
	rule string // the CRS rule expected among the matches
}{
	{answerCase{name: "mysql in JSON", ctype: "application/json",
		body: `{"items":[],"error":"You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1"}`}, "951230"},
	{answerCase{name: "postgres in JSON", ctype: "application/json",
		body: `{"error":"pq: org.postgresql.util.PSQLException: ERROR: syntax error at or near \"'\"","status":200}`}, "951240"},
	{answerCase{name: "oracle in JSON", ctype: "application/json",
		body: `{"accounts":null,"message":"ORA-00933: SQL command not properly ended"}`}, "951120"},
	{answerCase{name: "mssql in text", ctype: "text/plain; charset=utf-8",
		body: "Unclosed quotation mark after the character string ''.\nIncorrect syntax near 'x'."}, "951220"},
	{answerCase{name: "java stack trace in JSON", ctype: "application/json",
		body: `{"error":"java.lang.NullPointerException\n\tat com.example.bank.AccountService.find(AccountService.java:42)"}`}, "952110"},
	{answerCase{name: "php source", ctype: "text/html",
		body: "<?php\n$id = $_GET['id'];\n$row = mysqli_query($db, \"SELECT * FROM users WHERE id=$id\");\n?>"}, "953120"},
	{answerCase{name: "php warning", ctype: "text/html",
		body: "<br />\n<b>Warning</b>:  mysql_fetch_array() expects parameter 1 to be resource, boolean given in <b>/var/www/html/index.php</b> on line <b>12</b><br />"}, "951230"},
	{answerCase{name: "web shell", ctype: "text/html",
		body: "<html><head><title>r57 shell</title></head><body><form method=post><input name=cmd></form></body></html>"}, "955110"},
	{answerCase{name: "directory listing", ctype: "text/html",
		body: "<html><head><title>Index of /backup</title></head><body><h1>Index of /backup</h1><ul><li><a href=\"db.sql\">db.sql</a></li></ul></body></html>"}, "950130"},
	{answerCase{name: "asp.net exception", ctype: "text/html",
		body: "<h2>Server Error in '/' Application.</h2><b>Exception Details: </b>System.NullReferenceException: Object reference not set"}, "950150"},
	{answerCase{name: "iis path", ctype: "text/plain", body: "could not open c:\\inetpub\\wwwroot\\web.config"}, "954100"},
	{answerCase{name: "no content type", body: "ORA-01756: quoted string not properly terminated"}, "951120"},
	{answerCase{name: "404 with a sql error", status: 404, ctype: "application/problem+json",
		body: `{"title":"not found","detail":"Warning: pg_query() [function.pg-query]: Query failed: ERROR:  syntax error"}`}, "951240"},
}

// Clean answers: what APIs answer every day, with the words the leak
// rules look for in ordinary prose (error, exception, warning, Oracle,
// java, com, PHP).
var cleanAnswers = []answerCase{
	{name: "accounts", ctype: "application/json", body: `[{"id":101,"owner_id":1,"iban":"DE89370400440532013000","balance":"1520.50","currency":"EUR"}]`},
	{name: "bench 1KiB", ctype: "application/json", body: benchJSON},
	{name: "users", ctype: "application/json", body: `{"id":1,"username":"alice","email":"alice@example.com","display_name":"Alice at the bank","role":"user"}`},
	{name: "problem", status: 404, ctype: "application/problem+json", body: `{"type":"https://apiguard.dev/problems/errors.upstream_4xx","title":"Not Found","status":404,"request_id":"01HZX"}`},
	{name: "validation error", status: 422, ctype: "application/json", body: `{"error":"validation failed","errors":[{"field":"email","message":"is not a valid e-mail address"}]}`},
	{name: "prose", ctype: "application/json", body: `{"memo":"Oracle consulting invoice; Java course at the community college; PHP book; the warning light came on, an exception was made","from":"billing@oracle.com"}`},
	{name: "html page", ctype: "text/html", body: "<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>Hello</h1><p>Nothing to see.</p></body></html>"},
	{name: "image with leak text", ctype: "image/png", body: "\x89PNG\r\n\x1a\nORA-00933: SQL command not properly ended"},
	{name: "octet stream with leak text", ctype: "application/octet-stream", body: "<?php system($_GET['c']); ?>"},
	{name: "empty", status: 204},
}

func TestAnswerLeaksBlocked(t *testing.T) {
	g := answerGuardForTest(t)
	for _, c := range leakAnswers {
		t.Run(c.name, func(t *testing.T) {
			v, _ := respond(t, g, "/api/v1/accounts", c.answerCase)
			if v.Action != pipeline.Block || v.Status != http.StatusBadGateway || v.Category != "API8" {
				t.Fatalf("Response(%s) = %v %d %q %q, want a 502 block in API8", c.name, v.Action, v.Status, v.Rule, v.Category)
			}
			if !strings.Contains(v.Detail, c.rule) {
				t.Errorf("Response(%s) detail = %q, want rule %s in it", c.name, v.Detail, c.rule)
			}
			if !strings.HasPrefix(v.Rule, "waf.95") && v.Rule != RuleOutboundAnomaly {
				t.Errorf("Response(%s) rule = %q, want waf.95x or %s", c.name, v.Rule, RuleOutboundAnomaly)
			}
			if !strings.Contains(v.Detail, "RESPONSE_BODY=") {
				t.Errorf("Response(%s) detail = %q, want an excerpt", c.name, v.Detail)
			}
			if strings.Contains(v.Title, "SQL") || strings.Contains(v.Title, "php") {
				t.Errorf("Response(%s) title = %q echoes the answer", c.name, v.Title)
			}
		})
	}
}

func TestAnswerCleanPasses(t *testing.T) {
	g := answerGuardForTest(t)
	for _, c := range cleanAnswers {
		t.Run(c.name, func(t *testing.T) {
			v, b := respond(t, g, "/api/v1/accounts", c)
			if v.Action != pipeline.Continue {
				t.Fatalf("Response(%s) = %v %q %s, want pass", c.name, v.Action, v.Rule, v.Detail)
			}
			if string(b) != c.body {
				t.Errorf("Response(%s) body = %q, want it untouched", c.name, b)
			}
		})
	}
}

// TestAnswerPrefilterAgainstCoraza checks, on every case, the prefilter
// (a cleared answer makes no outbound rule match in Coraza), apiguard's
// scoring against CRS's own outbound evaluation (959100), and that the
// leaks are not cleared.
func TestAnswerPrefilterAgainstCoraza(t *testing.T) {
	g := answerGuardForTest(t)
	var all []answerCase
	for _, c := range leakAnswers {
		all = append(all, c.answerCase)
	}
	all = append(all, cleanAnswers...)
	for i, c := range all {
		t.Run(c.name, func(t *testing.T) {
			resp := answer(c)
			status := statusString(resp.StatusCode)
			body := c.body
			if !g.inspects(c.ctype) {
				body = ""
			}
			x := pipeline.NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("GET", "/api/v1/accounts", nil)
			ids, _, crs := g.run(x, resp, status, []byte(body))
			may := g.filter.mayMatch(status, body)
			if !may && len(ids) > 0 {
				t.Fatalf("prefilter cleared %s but Coraza matches %v", c.name, ids)
			}
			if i < len(leakAnswers) && !may {
				t.Errorf("prefilter cleared the leak %s", c.name)
			}
			blocked := g.decide(ids, nil, false).Action == pipeline.Block
			if blocked != crs {
				t.Errorf("%s: apiguard blocks = %v (rules %v), CRS 959100 matched = %v", c.name, blocked, ids, crs)
			}
		})
	}
}

func TestAnswerDetectionOnlyAndExclusions(t *testing.T) {
	leak := leakAnswers[0].answerCase // MySQL, 951230
	tests := []struct {
		name string
		cfg  Config
		op   string // request target
		want pipeline.Action
	}{
		{"detection only observes", Config{DetectionOnly: true}, "/api/v1/accounts", pipeline.Observe},
		{"excluded by id", Config{Exclusions: []Exclusion{{Rules: []string{"951230"}}}}, "/api/v1/accounts", pipeline.Continue},
		{"excluded by range", Config{Exclusions: []Exclusion{{Rules: []string{"951000-951999"}}}}, "/api/v1/accounts", pipeline.Continue},
		{"excluded by tag", Config{Exclusions: []Exclusion{{Tags: []string{"platform-mysql"}}}}, "/api/v1/accounts", pipeline.Continue},
		{"excluded on the operation", Config{Exclusions: []Exclusion{{Operations: []string{"listAccounts"}, Rules: []string{"951230"}}}}, "/api/v1/accounts", pipeline.Continue},
		{"excluded on another operation", Config{Exclusions: []Exclusion{{Operations: []string{"getUser"}, Rules: []string{"951230"}}}}, "/api/v1/accounts", pipeline.Block},
		{"excluded on the body target", Config{Exclusions: []Exclusion{{Rules: []string{"951230"}, Targets: []string{"RESPONSE_BODY"}}}}, "/api/v1/accounts", pipeline.Continue},
		{"threshold above the score", Config{OutboundThreshold: 6}, "/api/v1/accounts", pipeline.Continue},
		{"responses not inspected", Config{InspectResponses: ptr(false)}, "/api/v1/accounts", pipeline.Continue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newAnswerGuard(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if g == nil {
				if tt.want != pipeline.Continue {
					t.Fatalf("newAnswerGuard(%+v) = nil, want a step", tt.cfg)
				}
				return
			}
			v, _ := respond(t, g, tt.op, leak)
			if v.Action != tt.want {
				t.Errorf("Response(mysql leak) with %s = %v %q, want %v", tt.name, v.Action, v.Rule, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestAnswerLargerThanCap: the first max_response_inspect_bytes bytes
// are inspected; the client still gets the whole answer when it passes.
func TestAnswerLargerThanCap(t *testing.T) {
	g, err := newAnswerGuard(Config{MaxResponseInspectBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	pad := `{"pad":"` + strings.Repeat("a", 5000) + `",`
	leak := `"error":"ORA-00933: SQL command not properly ended"}`
	tests := []struct {
		name    string
		body    string
		unknown bool // no Content-Length (chunked)
		want    pipeline.Action
	}{
		{"leak after the cap", pad + leak, false, pipeline.Continue},
		{"leak after the cap, chunked", pad + leak, true, pipeline.Continue},
		{"leak before the cap", `{` + leak[:len(leak)-1] + `,` + pad[1:] + `"x":1}`, false, pipeline.Block},
		{"leak before the cap, chunked", `{` + leak[:len(leak)-1] + `,` + pad[1:] + `"x":1}`, true, pipeline.Block},
		{"small, chunked", `{` + leak, true, pipeline.Block},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := answerCase{name: tt.name, ctype: "application/json", body: tt.body}
			x := pipeline.NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("GET", "/api/v1/accounts", nil)
			resp := answer(c)
			if tt.unknown {
				resp.ContentLength = -1
			}
			v, err := g.Response(context.Background(), x, resp)
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.want {
				t.Fatalf("Response(%s) = %v %q, want %v", tt.name, v.Action, v.Detail, tt.want)
			}
			if v.Action == pipeline.Block && len(tt.body) > 4096 && !strings.Contains(v.Detail, "first 4096 bytes inspected") {
				t.Errorf("Response(%s) detail = %q, want the partial inspection said", tt.name, v.Detail)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil || string(b) != tt.body {
				t.Errorf("body after the step = %d bytes (err %v), want the whole %d", len(b), err, len(tt.body))
			}
			// A later guard with a larger limit still reads the whole answer.
			resp.Body = io.NopCloser(bytes.NewReader(b))
			if lb, err := x.ResponseBody(resp, 1<<20); err != nil || len(lb) != len(tt.body) {
				t.Errorf("later ResponseBody = %d bytes, %v; want %d", len(lb), err, len(tt.body))
			}
		})
	}
}

func TestAnswerContentCodings(t *testing.T) {
	g := answerGuardForTest(t)
	leak := leakAnswers[2].body // ORA
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(leak))
	_ = zw.Close()
	tests := []struct {
		name, enc, body string
		want            pipeline.Action
		rule            string
	}{
		{"gzip leak", "gzip", gz.String(), pipeline.Block, "waf.951120"},
		{"brotli", "br", "\x1b\x03\x00", pipeline.Observe, RuleAnswerUninspected},
		{"broken gzip", "gzip", "not gzip", pipeline.Observe, RuleAnswerUninspected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := respond(t, g, "/api/v1/accounts", answerCase{name: tt.name, ctype: "application/json", body: tt.body, hdr: []string{"Content-Encoding", tt.enc}})
			if v.Action != tt.want || v.Rule != tt.rule {
				t.Errorf("Response(%s) = %v %q, want %v %q", tt.name, v.Action, v.Rule, tt.want, tt.rule)
			}
		})
	}
}

// TestAnswerParanoia2Status: at paranoia 2, CRS's 950100 scores every
// 5xx answer (ERROR, 4): with the default outbound threshold it is
// withheld, as CRS would.
func TestAnswerParanoia2Status(t *testing.T) {
	g, err := newAnswerGuard(Config{ParanoiaLevel: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{200, 404, 500, 503} {
		v, _ := respond(t, g, "/api/v1/accounts", answerCase{name: "status", status: status, ctype: "application/json", body: `{"ok":true}`})
		want := pipeline.Continue
		if status >= 500 {
			want = pipeline.Block
		}
		if v.Action != want || want == pipeline.Block && v.Rule != "waf.950100" {
			t.Errorf("paranoia 2, status %d: Response = %v %q, want %v waf.950100", status, v.Action, v.Rule, want)
		}
	}
}

func TestNarrowAcceptEncoding(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gzip", "gzip"},
		{"gzip, deflate, br", "gzip, deflate"},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", "gzip;q=0.8, gzip;q=0.1, deflate;q=0.1"},
		{"br", "identity"},
		{"zstd, identity;q=0.5", "identity;q=0.5"},
		{"GZIP, Deflate", "GZIP, Deflate"},
	}
	for _, tt := range tests {
		h := http.Header{"Accept-Encoding": {tt.in}}
		narrowAcceptEncoding(h)
		if got := h.Get("Accept-Encoding"); got != tt.want {
			t.Errorf("narrowAcceptEncoding(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAnswerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative cap", Config{MaxResponseInspectBytes: -1}, "max_response_inspect_bytes"},
		{"cap too large", Config{MaxResponseInspectBytes: 1 << 30}, "max_response_inspect_bytes"},
		{"bad media type", Config{ResponseContentTypes: []string{"json"}}, "response_content_types[0]"},
		{"upper-case media type", Config{ResponseContentTypes: []string{"text/plain", "Text/HTML"}}, "response_content_types[1]"},
		{"bad outbound threshold", Config{OutboundThreshold: -2}, "outbound_threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newAnswerGuard(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newAnswerGuard(%s) error = %v, want one naming %q", tt.name, err, tt.want)
			}
			if _, err := answerSettings(tt.cfg); tt.want != "outbound_threshold" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("answerSettings(%s) error = %v, want one naming %q (the request step validates too)", tt.name, err, tt.want)
			}
		})
	}
}

func TestAnswerMediaTypes(t *testing.T) {
	g := answerGuardForTest(t)
	tests := []struct {
		ct   string
		want bool
	}{
		{"application/json", true}, {"Application/JSON; charset=utf-8", true}, {"application/problem+json", true},
		{"application/vnd.api+json", true}, {"text/html; charset=utf-8", true}, {"text/csv", true}, {"", true},
		{"application/xml", true}, {"application/soap+xml", true},
		{"image/png", false}, {"application/octet-stream", false}, {"application/pdf", false}, {"video/mp4", false},
		{"application/+json", false},
	}
	for _, tt := range tests {
		if got := g.inspects(tt.ct); got != tt.want {
			t.Errorf("inspects(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for _, c := range []int{100, 200, 404, 599, 600, 99} {
		if got := statusString(c); got != strconv.Itoa(c) {
			t.Errorf("statusString(%d) = %q", c, got)
		}
	}
}

// TestAnswerRulesFile: a response rule of the rules_file runs on answers
// (and its request rules do not count there).
func TestAnswerRulesFile(t *testing.T) {
	path := t.TempDir() + "/extra.conf"
	rules := `SecRule RESPONSE_BODY "@contains codename-zebra" "id:1001,phase:4,pass,log,msg:'internal codename in an answer',severity:'CRITICAL'"
SecRule ARGS "@contains forbiddenword" "id:1000,phase:2,pass,log,msg:'house rule',severity:'CRITICAL'"
`
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := newAnswerGuard(Config{RulesFile: path})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body string
		want string
	}{
		{`{"project":"codename-zebra"}`, "waf.1001"},
		{`{"project":"forbiddenword"}`, ""},
		{`{"project":"codename zebra"}`, ""},
	}
	for _, tt := range tests {
		v, _ := respond(t, g, "/api/v1/accounts?q=forbiddenword", answerCase{name: "rules file", ctype: "application/json", body: tt.body})
		if v.Rule != tt.want {
			t.Errorf("Response(%s) = %v %q, want %q", tt.body, v.Action, v.Rule, tt.want)
		}
	}
}
