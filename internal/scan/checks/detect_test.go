package checks

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/report"
)

func TestStackTrace(t *testing.T) {
	cases := []struct {
		body, want string
	}{
		{`{"error":"x","trace":"goroutine 42 [running]:\nruntime/debug.Stack()\n\t/usr/lib/go/src/runtime/debug/stack.go:26 +0x5e"}`, "Go stack trace"},
		{"java.lang.NullPointerException\n\tat com.acme.Foo.bar(Foo.java:42)", "Java stack trace"},
		{"Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in <module>", "Python traceback"},
		{"System.InvalidOperationException: nope\n   at Acme.Api.Get() in C:\\src\\Api.cs:line 12", ".NET stack trace"},
		{"TypeError: x is undefined\n    at Object.<anonymous> (/srv/app/index.js:10:5)", "Node.js stack trace"},
		{"Fatal error: Uncaught Error in /var/www/index.php on line 7", "PHP error"},
		{"app/models/user.rb:12:in `find'", "Ruby backtrace"},
		{`{"error":"internal error","status":500}`, ""},
		{`{"error":"userId must be a positive integer","status":400}`, ""},
		{`{"items":[{"memo":"at the Go meetup 1.2"}]}`, ""},
	}
	for _, c := range cases {
		if got := stackTrace(c.body); got != c.want {
			t.Errorf("stackTrace(%.40q) = %q, want %q", c.body, got, c.want)
		}
	}
}

func TestSQLError(t *testing.T) {
	cases := []struct {
		body, want string
	}{
		{`{"error":"search query \"SELECT id FROM transactions WHERE memo LIKE '%'%'\": SQL logic error: unrecognized token: \"'%'\" (1)"}`, "SQLite error"},
		{`You have an error in your SQL syntax; check the manual`, "MySQL error"},
		{`pq: syntax error at or near "'"`, "PostgreSQL error"},
		{`ERROR:  unterminated quoted string at or near "'"`, "PostgreSQL error"},
		{`Unclosed quotation mark after the character string ''.`, "SQL Server error"},
		{`ORA-01756: quoted string not properly terminated`, "Oracle error"},
		{`query failed: SELECT name FROM users WHERE id = 1`, "SQL statement"},
		{`{"items":[{"memo":"Select your favourite from the list"}]}`, ""},
		{`{"error":"internal error","status":500}`, ""},
		{`{"memo":"Update the settings"}`, ""},
	}
	for _, c := range cases {
		if got := sqlError(c.body); got != c.want {
			t.Errorf("sqlError(%.50q) = %q, want %q", c.body, got, c.want)
		}
	}
}

func TestSensitiveData(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{"database":{"dsn":"postgres://bank:Sup3r@db.internal:5432/bank"}}`, []string{"database DSN with a password", "secret in a configuration member"}},
		{`{"password_hash":"$pbkdf2-sha256$600000$c2FsdHNhbHQ$abcdefgh"}`, []string{"password hash"}},
		{`{"ssn":"078-05-1120"}`, []string{"US social security number"}},
		{`key: AKIAABCDEFGHIJKLMNOP`, []string{"AWS access key id"}},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIE", []string{"private key"}},
		{`{"id":1,"username":"alice","email":"a@example.com"}`, nil},
		{`{"url":"postgres://db.internal:5432/bank"}`, nil},
		{`{"password":""}`, nil},
	}
	for _, c := range cases {
		if got := sensitiveData(c.body); !reflect.DeepEqual(got, c.want) {
			t.Errorf("sensitiveData(%.40q) = %q, want %q", c.body, got, c.want)
		}
	}
}

func TestItemCount(t *testing.T) {
	cases := []struct {
		body string
		want int
	}{
		{`[1,2,3]`, 3},
		{`{"items":[1,2],"total":2}`, 2},
		{`{"data":{"items":[1,2,3,4]},"tags":[1]}`, 4},
		{`{"a":{"b":{"c":[1,2,3]}}}`, -1},
		{`{"id":1}`, -1},
		{`not json`, -1},
		{`{"items":[]}`, 0},
		{`{"items":null}`, 0},
	}
	for _, c := range cases {
		if got := jsonItems([]byte(c.body)); got != c.want {
			t.Errorf("jsonItems(%s) = %d, want %d", c.body, got, c.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	s := strings.Repeat("a", 100) + "NEEDLE" + strings.Repeat("b", 100)
	got := excerpt(s, "NEEDLE", 40)
	if !strings.Contains(got, "NEEDLE") || len(got) > 40+2*len("…") {
		t.Errorf("excerpt(…NEEDLE…, 40) = %q, want ≤ 40 bytes around NEEDLE", got)
	}
	if got := excerpt("a\n  b", "", 10); got != "a b" {
		t.Errorf("excerpt(multi-line) = %q, want %q", got, "a b")
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestHeaderGaps(t *testing.T) {
	hardened := hdr("X-Content-Type-Options", "nosniff", "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'", "Cache-Control", "no-store")
	cases := []struct {
		name          string
		h             http.Header
		authed, https bool
		want          []string
	}{
		{"hardened", hardened, true, false, nil},
		{"hardened over https lacks HSTS", hardened, true, true, []string{"Strict-Transport-Security"}},
		{"bare authenticated", hdr("Content-Type", "application/json"), true, false, []string{"X-Content-Type-Options: nosniff", "Content-Security-Policy frame-ancestors or X-Frame-Options", "Cache-Control: no-store"}},
		{"bare anonymous", hdr(), false, false, []string{"X-Content-Type-Options: nosniff", "Content-Security-Policy frame-ancestors or X-Frame-Options"}},
		{"XFO and private", hdr("X-Content-Type-Options", "NoSniff", "X-Frame-Options", "DENY", "Cache-Control", "private, max-age=0"), true, false, nil},
	}
	for _, c := range cases {
		if got := headerGaps(c.h, c.authed, c.https); !reflect.DeepEqual(got, c.want) {
			t.Errorf("headerGaps(%s) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBanners(t *testing.T) {
	cases := []struct {
		h         http.Header
		list      []string
		versioned bool
	}{
		{hdr("Server", "demobank", "X-Powered-By", "demobank/0.1 (Go)"), []string{"Server: demobank", "X-Powered-By: demobank/0.1 (Go)"}, true},
		{hdr("Server", "nginx"), []string{"Server: nginx"}, false},
		{hdr("Server", "Apache/2.4.58 (Ubuntu)"), []string{"Server: Apache/2.4.58 (Ubuntu)"}, true},
		{hdr("X-AspNet-Version", "4.0.30319"), []string{"X-AspNet-Version: 4.0.30319"}, true},
		{hdr("Content-Type", "application/json"), nil, false},
	}
	for _, c := range cases {
		list, v := banners(c.h)
		if !reflect.DeepEqual(list, c.list) || v != c.versioned {
			t.Errorf("banners(%v) = %q, %v; want %q, %v", c.h, list, v, c.list, c.versioned)
		}
	}
}

func TestCORSVerdict(t *testing.T) {
	const o = "https://apiguard-probe-1.example"
	cases := []struct {
		name string
		h    http.Header
		want report.Severity
	}{
		{"reflected with credentials", hdr("Access-Control-Allow-Origin", o, "Access-Control-Allow-Credentials", "true"), report.Medium},
		{"reflected without credentials", hdr("Access-Control-Allow-Origin", o), report.Low},
		{"star with credentials", hdr("Access-Control-Allow-Origin", "*", "Access-Control-Allow-Credentials", "true"), report.Low},
		{"star", hdr("Access-Control-Allow-Origin", "*"), ""},
		{"fixed allow-list", hdr("Access-Control-Allow-Origin", "http://localhost:3000", "Access-Control-Allow-Credentials", "true"), ""},
		{"none", hdr(), ""},
	}
	for _, c := range cases {
		if got, _ := corsVerdict(o, c.h); got != c.want {
			t.Errorf("corsVerdict(%s) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestPlainHTTPVerdict(t *testing.T) {
	cases := []struct {
		u    string
		want report.Severity
	}{
		{"http://127.0.0.1:8081", report.Info},
		{"http://localhost:8081", report.Info},
		{"http://[::1]:8081", report.Info},
		{"http://api.example.com", report.Medium},
		{"http://10.0.0.5", report.Medium},
		{"https://api.example.com", ""},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.u)
		if got := plainHTTPVerdict(u); got != c.want {
			t.Errorf("plainHTTPVerdict(%s) = %q, want %q", c.u, got, c.want)
		}
	}
}

func TestTraceEchoes(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   bool
	}{
		{200, "TRACE /api HTTP/1.1\r\nHost: x\r\n", true},
		{200, `{"items":[]}`, false},
		{405, "TRACE /api HTTP/1.1", false},
	}
	for _, c := range cases {
		if got := traceEchoes(c.status, []byte(c.body), "/api"); got != c.want {
			t.Errorf("traceEchoes(%d, %q) = %v, want %v", c.status, c.body, got, c.want)
		}
	}
}
