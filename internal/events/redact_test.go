package events

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const testJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"

func TestRedactQuery(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"access_token=abc", "access_token=REDACTED"},
		{"ACCESS_TOKEN=abc&x=1", "ACCESS_TOKEN=REDACTED&x=1"},
		{"x=1&api_key=k&page=2", "x=1&api_key=REDACTED&page=2"},
		{"apikey=k", "apikey=REDACTED"},
		{"key=k", "key=REDACTED"},
		{"monkey=banana", "monkey=banana"},
		{"password=p&passwd=q&secret=s&client_secret=c", "password=REDACTED&passwd=REDACTED&secret=REDACTED&client_secret=REDACTED"},
		{"signature=s&sig=s&code=c&auth=a&session=s&jwt=j", "signature=REDACTED&sig=REDACTED&code=REDACTED&auth=REDACTED&session=REDACTED&jwt=REDACTED"},
		{"id_token=x&refresh_token=y", "id_token=REDACTED&refresh_token=REDACTED"},
		{"myTokenValue=x", "myTokenValue=REDACTED"},
		{"x-api-key=x", "x-api-key=REDACTED"},
		{"user[password]=x", "user[password]=REDACTED"},
		{"db_secret_name=x", "db_secret_name=REDACTED"},
		{"tok%65n=x", "tok%65n=REDACTED"},
		{"access%5Ftoken=x", "access%5Ftoken=REDACTED"},
		{"token", "token"},
		{"token=", "token=REDACTED"},
		{"token=REDACTED", "token=REDACTED"},
		{"q=" + testJWT, "q=REDACTED"},
		{"q=Bearer%20" + testJWT + "&x=1", "q=REDACTED&x=1"},
		{testJWT, "REDACTED"},
		{testJWT + "=1", "REDACTED"},
		{"k2=AKIAIOSFODNN7EXAMPLE", "k2=REDACTED"},
		{"a=%2" + testJWT, "a=REDACTED"},
		{"a&&b", "a&&b"},
		{"=x", "=x"},
		{"q=hello+world&sort=asc", "q=hello+world&sort=asc"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := RedactQuery(tt.in); got != tt.want {
				t.Errorf("RedactQuery(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsSecretParam(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"token", true}, {"Token", true}, {"X-Auth-Token", true}, {"apiKey", true},
		{"api_key", true}, {"API-KEY", true}, {"key", true}, {"keys", false},
		{"page", false}, {"sort", false}, {"codec", false}, {"sig", true}, {"signature", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsSecretParam(tt.in); got != tt.want {
			t.Errorf("IsSecretParam(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRedactHeaders(t *testing.T) {
	h := http.Header{
		"Authorization":       {"Bearer abc"},
		"Proxy-Authorization": {"Basic xyz"},
		"Cookie":              {"sid=1"},
		"Set-Cookie":          {"sid=1"},
		"X-Api-Key":           {"k"},
		"Api-Key":             {"k"},
		"X-Auth-Token":        {"t"},
		"X-Csrf-Token":        {"t"},
		"X-Client-Secret":     {"s"},
		"X-Hub-Signature":     {"s"},
		"X-Session-Id":        {"s"},
		"Accept":              {"application/json", "text/plain"},
		"User-Agent":          {"curl/8"},
		"X-Forwarded-For":     {"1.2.3.4"},
		"X-Debug":             {"token " + testJWT},
	}
	want := map[string]string{
		"Authorization":       Redacted,
		"Proxy-Authorization": Redacted,
		"Cookie":              Redacted,
		"Set-Cookie":          Redacted,
		"X-Api-Key":           Redacted,
		"Api-Key":             Redacted,
		"X-Auth-Token":        Redacted,
		"X-Csrf-Token":        Redacted,
		"X-Client-Secret":     Redacted,
		"X-Hub-Signature":     Redacted,
		"X-Session-Id":        Redacted,
		"Accept":              "application/json, text/plain",
		"User-Agent":          "curl/8",
		"X-Forwarded-For":     "1.2.3.4",
		"X-Debug":             "token REDACTED",
	}
	if got := RedactHeaders(h); !reflect.DeepEqual(got, want) {
		t.Errorf("RedactHeaders(h) = %v, want %v", got, want)
	}
}

func TestRedactText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"nothing here", 0, "nothing here"},
		{"got token " + testJWT + " from client", 0, "got token REDACTED from client"},
		{"Authorization: Bearer abc.def", 0, "Authorization: Bearer REDACTED"},
		{"authorization: bearer   abc, next", 0, "authorization: bearer   REDACTED, next"},
		{"Basic dXNlcjpwYXNz", 0, "Basic REDACTED"},
		{"key AKIAIOSFODNN7EXAMPLE used", 0, "key REDACTED used"},
		{"url /cb?password=hunter2&x=1", 0, "url /cb?password=REDACTED&x=1"},
		{"client_secret=abc def", 0, "client_secret=REDACTED def"},
		{"www.example.com a.b.c", 0, "www.example.com a.b.c"},
		{"abcdef", 3, "abc"},
		{"héllo", 2, "h"},
		{"héllo", 3, "hé"},
		{"bad \xff byte", 0, "bad \uFFFD byte"},
		{"xx" + testJWT + "yy", 0, "REDACTED"},
		{"unbearer x", 0, "unbearer x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := RedactText(tt.in, tt.max); got != tt.want {
				t.Errorf("RedactText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// fuzzJWT builds a JWT-looking string from fuzz data.
func fuzzJWT(payload []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString(append([]byte(`{"s":`), payload...)) + "." + enc.EncodeToString(payload)
}

func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"", "a=1", "token=x&a=b", "%2", "a=%zz&&=", "tok%65n=1", "x=" + testJWT} {
		f.Add(s, "", []byte("sig"))
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, payload []byte) {
		jwt := fuzzJWT(payload)
		for _, in := range []string{prefix + suffix, prefix + jwt + suffix} {
			out := RedactQuery(in)
			if again := RedactQuery(out); again != out {
				t.Fatalf("RedactQuery not idempotent: RedactQuery(%q) = %q, RedactQuery of that = %q", in, out, again)
			}
			if strings.Contains(in, jwt) && strings.Contains(out, jwt) {
				t.Fatalf("RedactQuery(%q) = %q, still holds the JWT", in, out)
			}
		}
	})
}

func FuzzRedactText(f *testing.F) {
	for _, s := range []string{"", "Bearer x", "basic  y", "password=1", "AKIAIOSFODNN7EXAMPLE", "é\xff", "a.b.c"} {
		f.Add(s, "", []byte("x"), 0)
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, payload []byte, max int) {
		max %= 4096
		jwt := fuzzJWT(payload)
		for _, in := range []string{prefix + suffix, prefix + jwt + suffix} {
			out := RedactText(in, max)
			if !utf8.ValidString(out) {
				t.Fatalf("RedactText(%q, %d) = %q, not valid UTF-8", in, max, out)
			}
			if max > 0 && len(out) > max {
				t.Fatalf("RedactText(%q, %d) = %q, longer than max", in, max, out)
			}
			if again := RedactText(out, max); again != out {
				t.Fatalf("RedactText not idempotent: RedactText(%q, %d) = %q, RedactText of that = %q", in, max, out, again)
			}
			if strings.Contains(in, jwt) && strings.Contains(out, jwt) {
				t.Fatalf("RedactText(%q, %d) = %q, still holds the JWT", in, max, out)
			}
		}
	})
}
