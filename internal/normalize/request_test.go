package normalize

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// newReq builds a request as a server would see it, with extra headers as
// "Name: value" lines.
func newReq(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Method = method
	r2 := httptest.NewRequest(http.MethodGet, target, nil)
	r.URL, r.RequestURI, r.Host = r2.URL, r2.RequestURI, r2.Host
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		r.Header[k] = append(r.Header[k], strings.TrimLeft(v, " "))
	}
	return r
}

func TestRequest(t *testing.T) {
	many := make([]string, 0, 101)
	for i := range 101 {
		many = append(many, "X-H"+strings.Repeat("a", i%7)+string(rune('a'+i%26))+":"+"v")
	}
	tests := []struct {
		name   string
		r      *http.Request
		lim    Limits
		rule   string // "" means accepted
		status int
		mutate func(*http.Request)
	}{
		{name: "plain GET", r: newReq("GET", "/api/v1/accounts/101?x=1&y=%C3%A9")},
		{name: "POST with CL", r: newReq("POST", "/a", "Content-Length: 12")},
		{name: "custom method", r: newReq("PROPFIND", "/a")},
		{name: "websocket upgrade", r: newReq("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket")},
		{name: "connection keep-alive", r: newReq("GET", "/", "Connection: keep-alive")},
		{name: "query plus and percent", r: newReq("GET", "/?q=a+b&r=100%25&s=%F0%9F%98%80")},
		{name: "query key like _method", r: newReq("GET", "/?_methods=x&my_method=PUT&x=_method")},
		{name: "header tab and obs-text", r: newReq("GET", "/", "X-A: a\tb", "X-B: caf\xc3\xa9")},
		{name: "underscore header alone", r: newReq("GET", "/", "X_custom: 1")},
		{name: "chunked", r: newReq("POST", "/"), mutate: func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }},

		// method override
		{name: "X-HTTP-Method-Override", r: newReq("POST", "/a", "X-Http-Method-Override: DELETE"), rule: "normalize.method_override", status: 400},
		{name: "X-HTTP-Method", r: newReq("POST", "/a", "X-Http-Method: PUT"), rule: "normalize.method_override", status: 400},
		{name: "X-Method-Override", r: newReq("POST", "/a", "X-Method-Override: PATCH"), rule: "normalize.method_override", status: 400},
		{name: "override underscore", r: newReq("POST", "/a", "X_http_method_override: PUT"), rule: "normalize.method_override", status: 400},
		{name: "query _method", r: newReq("POST", "/a?_method=DELETE"), rule: "normalize.method_override", status: 400},
		{name: "query _method later", r: newReq("POST", "/a?x=1&_method=DELETE"), rule: "normalize.method_override", status: 400},
		{name: "query _method no value", r: newReq("POST", "/a?_method"), rule: "normalize.method_override", status: 400},
		{name: "query _METHOD", r: newReq("POST", "/a?_METHOD=put"), rule: "normalize.method_override", status: 400},
		{name: "query encoded _method", r: newReq("POST", "/a?%5Fmethod=put"), rule: "normalize.method_override", status: 400},
		{name: "query encoded _method 2", r: newReq("POST", "/a?_%6Dethod=put"), rule: "normalize.method_override", status: 400},
		{name: "X-Original-URL", r: newReq("GET", "/", "X-Original-Url: /admin"), rule: "normalize.path_override", status: 400},
		{name: "X-Rewrite-URL", r: newReq("GET", "/", "X-Rewrite-Url: /admin"), rule: "normalize.path_override", status: 400},

		// methods
		{name: "TRACE", r: newReq("TRACE", "/"), rule: "normalize.method_disallowed", status: 501},
		{name: "TRACK", r: newReq("TRACK", "/"), rule: "normalize.method_disallowed", status: 501},
		{name: "CONNECT", r: newReq("CONNECT", "/"), rule: "normalize.method_disallowed", status: 501},
		{name: "PRI", r: newReq("PRI", "/"), rule: "normalize.method_disallowed", status: 501},
		{name: "lower get", r: newReq("get", "/"), rule: "normalize.method_case", status: 400},
		{name: "mixed Delete", r: newReq("Delete", "/"), rule: "normalize.method_case", status: 400},
		{name: "lower trace", r: newReq("trace", "/"), rule: "normalize.method_case", status: 400},
		{name: "method with paren", r: newReq("G(T", "/"), rule: "normalize.method_invalid", status: 400},
		{name: "method with space", r: newReq("GET /x", "/"), rule: "normalize.method_invalid", status: 400},
		{name: "empty method", r: newReq("", "/"), mutate: func(r *http.Request) { r.Method = "" }, rule: "normalize.method_invalid", status: 400},

		// targets and host
		{name: "absolute-form", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.RequestURI = "http://a/x" }, rule: "normalize.absolute_form", status: 400},
		{name: "authority-form", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.RequestURI = "a:443" }, rule: "normalize.authority_form", status: 400},
		{name: "asterisk-form", r: newReq("OPTIONS", "/"), mutate: func(r *http.Request) { r.RequestURI = "*" }, rule: "normalize.asterisk_form", status: 400},
		{name: "host differs from URL host", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.URL.Host = "evil" }, rule: "normalize.host_ambiguous", status: 400},
		{name: "host header next to authority", r: newReq("GET", "/", "Host: evil"), rule: "normalize.host_ambiguous", status: 400},
		{name: "two host headers", r: newReq("GET", "/", "Host: example.com", "Host: example.com"), rule: "normalize.host_ambiguous", status: 400},
		{name: "HTTP/1.2", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.ProtoMinor = 2 }, rule: "normalize.http_version", status: 505},

		// header names and values
		{name: "header value NUL", r: newReq("GET", "/", "X-A: a\x00b"), rule: "normalize.header_value_control", status: 400},
		{name: "header value CR", r: newReq("GET", "/", "X-A: a\rb"), rule: "normalize.header_value_control", status: 400},
		{name: "header value LF", r: newReq("GET", "/", "X-A: a\nb"), rule: "normalize.header_value_control", status: 400},
		{name: "header value DEL", r: newReq("GET", "/", "X-A: a\x7fb"), rule: "normalize.header_value_control", status: 400},
		{name: "header value ESC", r: newReq("GET", "/", "X-A: \x1b[31m"), rule: "normalize.header_value_control", status: 400},
		{name: "header name space", r: newReq("GET", "/", "X-A : b"), rule: "normalize.header_name", status: 400},
		{name: "header name @", r: newReq("GET", "/", "X@A: b"), rule: "normalize.header_name", status: 400},
		{name: "header two spellings", r: newReq("GET", "/", "X-Api-Key: a", "X_api_key: b"), rule: "normalize.header_ambiguous", status: 400},
		{name: "underscore forwarded-for", r: newReq("GET", "/", "X_forwarded_for: 1.2.3.4"), rule: "normalize.header_ambiguous", status: 400},
		{name: "connection strips field", r: newReq("GET", "/", "Connection: close, X-Api-Key"), rule: "normalize.connection_header", status: 400},
		{name: "h2c upgrade", r: newReq("GET", "/", "Connection: Upgrade", "Upgrade: h2c"), rule: "normalize.h2c_upgrade", status: 400},
		{name: "http2-settings", r: newReq("GET", "/", "Http2-Settings: AAA"), rule: "normalize.h2c_upgrade", status: 400},

		// limits
		{name: "too many headers", r: newReq("GET", "/", many...), rule: "normalize.header_count", status: 431},
		{name: "header count custom limit", r: newReq("GET", "/", "A: 1", "B: 2", "C: 3"), lim: Limits{MaxHeaders: 2}, rule: "normalize.header_count", status: 431},
		{name: "header count at limit", r: newReq("GET", "/", "A: 1", "B: 2"), lim: Limits{MaxHeaders: 2}},
		{name: "value too long", r: newReq("GET", "/", "X-A: "+strings.Repeat("a", 8<<10+1)), rule: "normalize.header_value_length", status: 431},
		{name: "value at limit", r: newReq("GET", "/", "X-A: "+strings.Repeat("a", 8<<10))},
		{name: "value custom limit", r: newReq("GET", "/", "X-A: abcdef"), lim: Limits{MaxHeaderValueBytes: 5}, rule: "normalize.header_value_length", status: 431},

		// framing
		{name: "CL and TE", r: newReq("POST", "/", "Content-Length: 5"), mutate: func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }, rule: "normalize.smuggling_cl_te", status: 400},
		{name: "TE in header map", r: newReq("POST", "/", "Transfer-Encoding: chunked"), rule: "normalize.smuggling_te", status: 400},
		{name: "TE identity", r: newReq("POST", "/"), mutate: func(r *http.Request) { r.TransferEncoding = []string{"identity"} }, rule: "normalize.smuggling_te", status: 400},
		{name: "TE twice", r: newReq("POST", "/"), mutate: func(r *http.Request) { r.TransferEncoding = []string{"chunked", "chunked"} }, rule: "normalize.smuggling_te", status: 400},
		{name: "CL repeated", r: newReq("POST", "/", "Content-Length: 5", "Content-Length: 5"), rule: "normalize.smuggling_cl_repeated", status: 400},
		{name: "CL leading zero", r: newReq("POST", "/", "Content-Length: 05"), rule: "normalize.smuggling_cl_invalid", status: 400},
		{name: "CL plus", r: newReq("POST", "/", "Content-Length: +5"), rule: "normalize.smuggling_cl_invalid", status: 400},
		{name: "CL list", r: newReq("POST", "/", "Content-Length: 5, 5"), rule: "normalize.smuggling_cl_invalid", status: 400},
		{name: "CL hex", r: newReq("POST", "/", "Content-Length: 0x5"), rule: "normalize.smuggling_cl_invalid", status: 400},
		{name: "CL empty", r: newReq("POST", "/", "Content-Length: "), rule: "normalize.smuggling_cl_invalid", status: 400},

		// query
		{name: "query %00", r: newReq("GET", "/?a=%00"), rule: "normalize.query_control", status: 400},
		{name: "query %0a", r: newReq("GET", "/?a=x%0Ay"), rule: "normalize.query_control", status: 400},
		{name: "query %0d in key", r: newReq("GET", "/?a%0d=1"), rule: "normalize.query_control", status: 400},
		{name: "query %09", r: newReq("GET", "/?a=%09"), rule: "normalize.query_control", status: 400},
		{name: "query %7f", r: newReq("GET", "/?a=%7f"), rule: "normalize.query_control", status: 400},
		{name: "query C1", r: newReq("GET", "/?a=%C2%85"), rule: "normalize.query_control", status: 400},
		{name: "query raw ctl", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.URL.RawQuery = "a=\x01" }, rule: "normalize.query_control", status: 400},
		{name: "query invalid utf8", r: newReq("GET", "/?a=%ff"), rule: "normalize.query_utf8", status: 400},
		{name: "query overlong", r: newReq("GET", "/?a=%c0%ae"), rule: "normalize.query_utf8", status: 400},
		{name: "query truncated utf8", r: newReq("GET", "/?a=%e2%82"), rule: "normalize.query_utf8", status: 400},
		{name: "query utf8 split by &", r: newReq("GET", "/?a=%e2&%82%ac"), rule: "normalize.query_utf8", status: 400},
		{name: "query bad escape", r: newReq("GET", "/?a=%zz"), rule: "normalize.query_encoding", status: 400},
		{name: "query short escape", r: newReq("GET", "/?a=%4"), rule: "normalize.query_encoding", status: 400},
		{name: "query fragment", r: newReq("GET", "/"), mutate: func(r *http.Request) { r.URL.RawQuery = "a=1#x" }, rule: "normalize.query_encoding", status: 400},
		{name: "query semicolon", r: newReq("GET", "/?a=1;_method=PUT"), rule: "normalize.query_semicolon", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mutate != nil {
				tc.mutate(tc.r)
			}
			rj := Request(tc.r, tc.lim)
			switch {
			case tc.rule == "" && rj != nil:
				t.Fatalf("Request(%s) = %v, want nil", tc.name, rj)
			case tc.rule == "":
			case rj == nil:
				t.Fatalf("Request(%s) = nil, want %d %s", tc.name, tc.status, tc.rule)
			case rj.Rule != tc.rule || rj.Status != tc.status:
				t.Fatalf("Request(%s) = %d %s, want %d %s", tc.name, rj.Status, rj.Rule, tc.status, tc.rule)
			}
		})
	}
}

func TestRequestCleanNoAlloc(t *testing.T) {
	r := newReq("GET", "/api/v1/accounts/101?expand=owner&limit=10",
		"Accept: application/json", "Authorization: Bearer abc.def.ghi",
		"User-Agent: curl/8.5.0", "Connection: keep-alive")
	if rj := Request(r, Limits{}); rj != nil {
		t.Fatalf("Request(clean) = %v, want nil", rj)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Request(r, Limits{}) }); n != 0 {
		t.Errorf("Request(clean) allocates %v times, want 0", n)
	}
}

func FuzzRequestQuery(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "_method=PUT", "%5Fmethod", "a=%e2%82%ac", "a=%c0%ae", "a=%zz", "a;b", "q=a+b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		rj := checkQuery(q)
		if rj != nil {
			return
		}
		// Accepted: every escape is valid, the decoded form is valid UTF-8
		// without controls, and no key is _method.
		for pair := range strings.SplitSeq(q, "&") {
			k, _, _ := strings.Cut(pair, "=")
			if strings.EqualFold(decodeQ(t, k), "_method") {
				t.Fatalf("checkQuery(%q) = nil, but key %q is _method", q, k)
			}
			dec := decodeQ(t, pair)
			if !utf8.ValidString(dec) {
				t.Fatalf("checkQuery(%q) = nil, but %q is not UTF-8", q, dec)
			}
			for _, r := range dec {
				if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
					t.Fatalf("checkQuery(%q) = nil, but %q has %U", q, dec, r)
				}
			}
		}
	})
}

// decodeQ decodes a query component the way url.ParseQuery does; an
// accepted query must decode without error.
func decodeQ(t *testing.T, s string) string {
	t.Helper()
	d, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatalf("checkQuery accepted %q, but url.QueryUnescape fails: %v", s, err)
	}
	return d
}

func FuzzRequestHeaders(f *testing.F) {
	f.Add("GET", "X-A", "b", "Content-Length", "5")
	f.Add("POST", "X-Http-Method-Override", "PUT", "Connection", "close, x")
	f.Add("get", "X_forwarded_for", "1", "Upgrade", "h2c")
	f.Fuzz(func(t *testing.T, method, k1, v1, k2, v2 string) {
		r := newReq("GET", "/")
		r.Method = method
		r.Header[k1] = append(r.Header[k1], v1)
		r.Header[k2] = append(r.Header[k2], v2)
		rj := Request(r, Limits{})
		if rj != nil {
			if rj.Status < 400 || rj.Status > 505 || rj.Title == "" {
				t.Fatalf("Request(%q %q %q) = %+v: bad rejection", method, k1, k2, rj)
			}
			return
		}
		for k, vs := range r.Header {
			if !isToken(k) {
				t.Fatalf("Request accepted header name %q", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("Request accepted header value %q", v)
				}
			}
		}
		if _, ok := r.Header["X-Http-Method-Override"]; ok {
			t.Fatalf("Request accepted a method override")
		}
	})
}

func BenchmarkRequest(b *testing.B) {
	r := newReq("GET", "/api/v1/accounts/101?expand=owner&limit=10",
		"Accept: application/json", "Authorization: Bearer abc.def.ghi",
		"User-Agent: curl/8.5.0", "Accept-Encoding: gzip", "X-Request-Id: 4f1c2a")
	b.ReportAllocs()
	for b.Loop() {
		if Request(r, Limits{}) != nil {
			b.Fatal("rejected")
		}
	}
}
