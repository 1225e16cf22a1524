package normalize

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a real net/http server on loopback. Guarded servers run
// Listener, ConnContext, Request and Path in the handler, answer 200 "ok"
// when all accept, and the rejection status (with its rule in X-Rule)
// otherwise. Unguarded servers answer 200 to whatever reaches the handler.
type testServer struct {
	addr   string
	mu     sync.Mutex
	passed []string // "METHOD canonical-path" of requests the handler accepted
}

const testMaxHeaderBytes = 16 << 10

func startServer(t testing.TB, guarded bool) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &testServer{addr: ln.Addr().String()}
	srv := &http.Server{
		MaxHeaderBytes:    testMaxHeaderBytes,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          nil,
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if guarded {
			rj := Request(r, Limits{})
			if rj == nil {
				p, rj = Path(RequestPath(r))
			}
			if rj != nil {
				if rj.Close {
					w.Header().Set("Connection", "close")
				}
				w.Header().Set("X-Rule", rj.Rule)
				w.WriteHeader(rj.Status)
				return
			}
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ts.mu.Lock()
		ts.passed = append(ts.passed, r.Method+" "+p)
		ts.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	if guarded {
		srv.ConnContext = ConnContext
		go func() { _ = srv.Serve(Listener(ln)) }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() { _ = srv.Close() })
	return ts
}

func (ts *testServer) passedList() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.passed...)
}

// exchange writes raw bytes on a new connection, half-closes it, and
// returns the status codes of all responses ("200 400"), and the X-Rule of
// the first non-1xx response.
func exchange(t testing.TB, addr, raw string) (statuses, rule string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(c, raw)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	br := bufio.NewReader(c)
	var got []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("reading responses: %v", err)
			}
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		got = append(got, fmt.Sprint(resp.StatusCode))
		if rule == "" && resp.StatusCode >= 200 {
			rule = resp.Header.Get("X-Rule")
		}
	}
	return strings.Join(got, " "), rule
}

type wireCase struct {
	name    string
	raw     string
	goAlone string   // statuses from net/http alone; a 200 means the handler saw it
	guarded string   // statuses with normalize
	rule    string   // X-Rule of the first guarded answer; "" when net/http answered itself
	passed  []string // requests the guarded handler accepted
	// bodyLevel: the shape is in the body, so whether the scanner flags it
	// before the handler runs depends on how reads split; the rule may
	// then be empty (the handler's body read fails instead).
	bodyLevel bool
}

const h = "Host: api.example\r\n"

// lookalike is a body that contains framing headers and bare LFs as data.
const lookalike = "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n\n\n"

var wireCases = []wireCase{
	// Framing net/http hides from the handler: only the Listener sees them.
	{name: "CL+TE smuggles a second request",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Content-Length: 45\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200 200", guarded: "400", rule: "normalize.smuggling_cl_te"},
	{name: "TE+CL",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200 200", guarded: "400", rule: "normalize.smuggling_cl_te"},
	{name: "duplicate identical CL",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
		goAlone: "200", guarded: "400", rule: "normalize.smuggling_cl_repeated"},
	{name: "TE obs-fold",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.obs_fold"},
	{name: "TE obs-fold with CL",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Content-Length: 3\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.obs_fold"},
	{name: "obs-fold line",
		raw:     "GET /a HTTP/1.1\r\n" + h + "X-A: b\r\n c\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.obs_fold"},
	{name: "bare LF line endings",
		raw:     "GET /a HTTP/1.1\n" + strings.TrimSuffix(h, "\r\n") + "\n\n",
		goAlone: "200", guarded: "400", rule: "normalize.bare_lf"},
	{name: "one bare LF header line",
		raw:     "GET /a HTTP/1.1\r\n" + h + "X-A: b\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.bare_lf"},
	{name: "HTTP/1.0 with TE",
		raw:     "POST /a HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.smuggling_te_http10"},
	{name: "HTTP/1.0 with TE and CL",
		raw:     "POST /a HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nhi",
		goAlone: "200", guarded: "400", rule: "normalize.smuggling_cl_te"},
	// Pipelined: the bad head is read together with the clean one, so the
	// sticky connection flag refuses both (see TestWireFlagPerConnection
	// for the non-pipelined case).
	{name: "pipelined clean request then CL+TE",
		raw: "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n" +
			"POST /b HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		goAlone: "200 200", guarded: "400", rule: "normalize.smuggling_cl_te"},

	// Visible to the handler: Request rejects them.
	{name: "CL with leading zero",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Content-Length: 02\r\n\r\nhi",
		goAlone: "200", guarded: "400", rule: "normalize.smuggling_cl_invalid"},
	{name: "absolute-form target",
		raw:     "GET http://api.example/admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.absolute_form"},
	{name: "absolute-form with another Host",
		raw:     "GET http://internal/admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.absolute_form"},
	{name: "authority-form GET",
		raw:     "GET api.example:443 HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.authority_form"},
	{name: "CONNECT",
		raw:     "CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n",
		goAlone: "200", guarded: "501", rule: "normalize.method_disallowed"},
	{name: "TRACE",
		raw:     "TRACE /a HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "501", rule: "normalize.method_disallowed"},
	{name: "lower-case method",
		raw:     "delete /a HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.method_case"},
	{name: "HTTP/1.2",
		raw:     "GET /a HTTP/1.2\r\n" + h + "\r\n",
		goAlone: "200", guarded: "505", rule: "normalize.http_version"},
	{name: "method override header",
		raw:     "POST /a HTTP/1.1\r\n" + h + "X-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.method_override"},
	{name: "method override query",
		raw:     "POST /a?_method=DELETE HTTP/1.1\r\n" + h + "Content-Length: 0\r\n\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.method_override"},
	{name: "header value too long",
		raw:     "GET /a HTTP/1.1\r\n" + h + "X-A: " + strings.Repeat("a", 9<<10) + "\r\n\r\n",
		goAlone: "200", guarded: "431", rule: "normalize.header_value_length"},
	{name: "query %00",
		raw:     "GET /a?x=%00 HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.query_control"},
	{name: "encoded dot segment",
		raw:     "GET /api/%2e%2e/admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.dot_segment"},
	{name: "matrix parameter",
		raw:     "GET /admin;x=y/ HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.matrix_param"},
	{name: "raw backslash",
		raw:     "GET /api\\..\\admin HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.backslash"},
	{name: "invalid UTF-8 path",
		raw:     "GET /a\xff HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "400", rule: "normalize.invalid_utf8"},

	// net/http refuses these itself.
	{name: "duplicate differing CL",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
		goAlone: "400", guarded: "400"},
	{name: "CL list", raw: "POST /a HTTP/1.1\r\n" + h + "Content-Length: 2, 2\r\n\r\nhi", goAlone: "400", guarded: "400"},
	{name: "CL with plus sign", raw: "POST /a HTTP/1.1\r\n" + h + "Content-Length: +2\r\n\r\nhi", goAlone: "400", guarded: "400"},
	{name: "CL negative", raw: "POST /a HTTP/1.1\r\n" + h + "Content-Length: -2\r\n\r\nhi", goAlone: "400", guarded: "400"},
	{name: "CL hex", raw: "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0x2\r\n\r\nhi", goAlone: "400", guarded: "400"},
	{name: "CL with inner space", raw: "POST /a HTTP/1.1\r\n" + h + "Content-Length: 1 2\r\n\r\nhi", goAlone: "400", guarded: "400"},
	{name: "TE chunked, identity", raw: "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", goAlone: "501", guarded: "501"},
	{name: "TE xchunked", raw: "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", goAlone: "501", guarded: "501"},
	{name: "TE twice", raw: "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", goAlone: "501", guarded: "501"},
	{name: "TE space before colon", raw: "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "header name space before colon", raw: "GET /a HTTP/1.1\r\n" + h + "X-A : b\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "first header line folded", raw: "GET /a HTTP/1.1\r\n X-A: b\r\n" + h + "\r\n", goAlone: "400", guarded: "400"},
	{name: "bare CR", raw: "GET /a HTTP/1.1\r\n" + h + "X-A: b\rc\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "NUL in header value", raw: "GET /a HTTP/1.1\r\n" + h + "X-A: b\x00c\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "NUL in header name", raw: "GET /a HTTP/1.1\r\n" + h + "X-\x00A: b\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "multiple Host", raw: "GET /a HTTP/1.1\r\n" + h + "Host: internal\r\n\r\n", goAlone: "400", guarded: "400"},
	{name: "multiple identical Host", raw: "GET /a HTTP/1.1\r\n" + h + h + "\r\n", goAlone: "400", guarded: "400"},
	{name: "head larger than MaxHeaderBytes", raw: "GET /a HTTP/1.1\r\n" + h + "X-A: " + strings.Repeat("a", testMaxHeaderBytes+8<<10) + "\r\n\r\n", goAlone: "431", guarded: "431"},
	{name: "chunk size with whitespace before extension",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n2 ;x\r\nhi\r\n0\r\n\r\n",
		goAlone: "400", guarded: "400", rule: "normalize.chunked_malformed", bodyLevel: true},
	{name: "%zz in path", raw: "GET /a%zz HTTP/1.1\r\n" + h + "\r\n", goAlone: "400", guarded: "400"},
	{name: "control byte in target", raw: "GET /a\x01 HTTP/1.1\r\n" + h + "\r\n", goAlone: "400", guarded: "400"},

	// Legitimate traffic must pass, with boundaries tracked through bodies.
	{name: "keep-alive mix of bodies",
		raw: "GET /a HTTP/1.1\r\n" + h + "\r\n" +
			"POST /b HTTP/1.1\r\n" + h + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(lookalike)) + lookalike +
			"POST /c HTTP/1.1\r\n" + h + "Transfer-Encoding: Chunked\r\n\r\n1A;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n3  \r\n\n \r\r\n0\r\n\r\n" +
			"PUT /users/Zo%C3%AB HTTP/1.1\r\n" + h + "Content-Length:  3 \r\n\r\nabc" +
			"GET /d?x=1&y=%C3%A9 HTTP/1.1\r\n" + h + "Connection: keep-alive\r\n\r\n",
		goAlone: "200 200 200 200 200", guarded: "200 200 200 200 200",
		passed: []string{"GET /a", "POST /b", "POST /c", "PUT /users/Zoë", "GET /d"}},
	{name: "Expect 100-continue",
		raw:     "POST /a HTTP/1.1\r\n" + h + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		goAlone: "100 200", guarded: "100 200", passed: []string{"POST /a"}},
	{name: "HTTP/1.0 with CL",
		raw:     "POST /a HTTP/1.0\r\n" + h + "Content-Length: 2\r\n\r\nhi",
		goAlone: "200", guarded: "200", passed: []string{"POST /a"}},
	{name: "canonicalized path",
		raw:     "GET //api/./v1//accounts/../accounts/101 HTTP/1.1\r\n" + h + "\r\n",
		goAlone: "200", guarded: "200", passed: []string{"GET /api/v1/accounts/101"}},
}

func TestWireShapes(t *testing.T) {
	alone := startServer(t, false)
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Each case gets its own guarded server so that the accepted
			// requests can be attributed to it.
			own := startServer(t, true)
			if got, _ := exchange(t, alone.addr, tc.raw); got != tc.goAlone {
				t.Errorf("net/http alone: exchange(%q) = %q, want %q (has net/http changed?)", tc.name, got, tc.goAlone)
			}
			got, rule := exchange(t, own.addr, tc.raw)
			if got != tc.guarded || rule != tc.rule && !(tc.bodyLevel && rule == "") {
				t.Errorf("guarded: exchange(%q) = %q %s, want %q %s", tc.name, got, rule, tc.guarded, tc.rule)
			}
			if p := own.passedList(); strings.Join(p, ",") != strings.Join(tc.passed, ",") {
				t.Errorf("guarded: handler accepted %q, want %q", p, tc.passed)
			}
		})
	}
}

// TestWireFlagPerConnection shows that the flag is per connection and
// only affects requests served after the ambiguous head was read.
func TestWireFlagPerConnection(t *testing.T) {
	ts := startServer(t, true)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	send := func(raw string) int {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatalf("write: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if got := send("POST /a HTTP/1.1\r\n" + h + "Content-Length: 2\r\n\r\nhi"); got != 200 {
		t.Fatalf("first clean request = %d, want 200", got)
	}
	if got := send("POST /b HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); got != 400 {
		t.Fatalf("CL+TE request = %d, want 400", got)
	}
	if got, _ := exchange(t, ts.addr, "GET /c HTTP/1.1\r\n"+h+"\r\n"); got != "200" {
		t.Fatalf("clean request on a new connection = %q, want 200", got)
	}
	if p := strings.Join(ts.passedList(), ","); p != "POST /a,GET /c" {
		t.Fatalf("handler accepted %q, want POST /a,GET /c", p)
	}
}
