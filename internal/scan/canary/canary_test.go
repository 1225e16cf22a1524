package canary

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/scan"
)

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, method, u string, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp, b
}

func TestDefaultIsLoopback(t *testing.T) {
	s := start(t, Options{})
	if !s.Loopback() {
		t.Errorf("Loopback() = false for default address %s, want true", s.Addr())
	}
	if !strings.HasPrefix(s.BaseURL(), "http://127.0.0.1:") {
		t.Errorf("BaseURL() = %q, want http://127.0.0.1:<port>", s.BaseURL())
	}
}

func TestHitsRecordedPerToken(t *testing.T) {
	s := start(t, Options{})
	a, err := s.NewToken(Plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.NewToken(Plain)
	resp, body := do(t, "POST", s.URL(a)+"/deep/path?x=1&access_token=sekrit", `{"event":"x","password":"hunter2"}`,
		"Authorization", "Bearer abc.def.ghi", "Cookie", "sid=1", "X-Trace", "t1", "Content-Type", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), Marker(a)) {
		t.Fatalf("plain answer = %d %s, want 200 with the marker", resp.StatusCode, body)
	}
	hits := s.Hits(a)
	if len(hits) != 1 {
		t.Fatalf("Hits(a) = %d hits, want 1", len(hits))
	}
	h := hits[0]
	checks := []struct {
		name      string
		got, want string
	}{
		{"token", h.Token, a},
		{"method", h.Method, "POST"},
		{"path", h.Path, "/c/" + a + "/deep/path"},
		{"authorization", h.Header.Get("Authorization"), "REDACTED"},
		{"cookie", h.Header.Get("Cookie"), "REDACTED"},
		{"x-trace", h.Header.Get("X-Trace"), "t1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("hit %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if strings.Contains(h.Query, "sekrit") || !strings.Contains(h.Query, "x=1") {
		t.Errorf("hit query = %q, want x=1 kept and the access token masked", h.Query)
	}
	if strings.Contains(string(h.Body), "hunter2") || !strings.Contains(string(h.Body), `"event":"x"`) {
		t.Errorf("hit body = %q, want the event kept and the password masked", h.Body)
	}
	if h.At.IsZero() || h.Remote == "" {
		t.Errorf("hit time/remote = %v/%q, want both set", h.At, h.Remote)
	}
	if got := s.Hits(b); got != nil {
		t.Errorf("Hits(b) = %v, want none", got)
	}
}

func TestUnknownTokensAreNotRecorded(t *testing.T) {
	s := start(t, Options{})
	for _, p := range []string{"/", "/c/", "/c/0123456789abcdef01234567", "/c/short", "/c/" + strings.Repeat("a", 97), "/c/a%20b", "/other"} {
		resp, _ := do(t, "GET", s.BaseURL()+p, "")
		if resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	s.mu.Lock()
	n := len(s.tokens)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("tokens after unknown requests = %d, want 0", n)
	}
}

func TestBehaviours(t *testing.T) {
	s := start(t, Options{OversizeBytes: 100_000})
	for _, b := range Behaviors {
		t.Run(string(b), func(t *testing.T) {
			tok, err := s.NewToken(b)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, "GET", s.URL(tok), "")
			marker := Marker(tok)
			follow := FollowUp(tok)
			switch b {
			case Redirect:
				if resp.StatusCode != 302 || resp.Header.Get("Location") != s.URL(follow) {
					t.Fatalf("redirect = %d Location %q, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), s.URL(follow))
				}
				resp2, body2 := do(t, "GET", resp.Header.Get("Location"), "")
				if resp2.StatusCode != 200 || len(s.Hits(follow)) != 1 || !strings.Contains(string(body2), Marker(follow)) {
					t.Errorf("following the redirect = %d %s, hits %d, want 200 and one hit on the follow-up", resp2.StatusCode, body2, len(s.Hits(follow)))
				}
				return
			case HTML:
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), "<script>") || !strings.Contains(string(body), marker) {
					t.Errorf("html = %q %s, want text/html with a script and the marker", ct, body)
				}
				return
			case Oversized:
				if len(body) != 100_000 {
					t.Errorf("oversized body = %d bytes, want 100000", len(body))
				}
				var v map[string]any
				if err := json.Unmarshal(body, &v); err != nil || v["canary"] != marker {
					t.Errorf("oversized body is not the JSON object with the marker: %v", err)
				}
				return
			}
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s answer is not JSON: %v: %s", b, err, body)
			}
			if v["canary"] != marker {
				t.Errorf("%s canary = %v, want %s", b, v["canary"], marker)
			}
			switch b {
			case Injection:
				for k, p := range Payloads {
					if s, _ := v[k].(string); !strings.HasPrefix(s, p) || !strings.HasSuffix(s, marker) {
						t.Errorf("injection member %s = %q, want %q + marker", k, s, p)
					}
				}
			case MetadataURL:
				if v["url"] != MetadataAddress {
					t.Errorf("metadata url = %v, want %s", v["url"], MetadataAddress)
				}
			case SelfURL:
				if v["url"] != s.URL(follow) {
					t.Errorf("self url = %v, want %s", v["url"], s.URL(follow))
				}
			}
		})
	}
}

func TestBounds(t *testing.T) {
	s := start(t, Options{MaxTokens: 3, MaxHitsPerToken: 2})
	tok, err := s.NewToken(Plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		do(t, "GET", s.URL(tok), "")
	}
	if got, want := len(s.Hits(tok)), 2; got != want {
		t.Errorf("kept hits = %d, want %d", got, want)
	}
	if got, want := s.Count(tok), 5; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
	big := strings.Repeat("x", 200_000)
	do(t, "POST", s.URL(tok), big)
	if _, err := s.NewToken(SelfURL); err != nil {
		t.Errorf("second and third token: %v", err)
	}
	if _, err := s.NewToken(Plain); err != ErrTooManyTokens {
		t.Errorf("fourth token error = %v, want ErrTooManyTokens", err)
	}
	if _, err := s.NewToken("nope"); err == nil {
		t.Error("NewToken(unknown behaviour) succeeded, want an error")
	}
}

func TestHitBodyBounded(t *testing.T) {
	s := start(t, Options{})
	tok, _ := s.NewToken(Plain)
	do(t, "POST", s.URL(tok), strings.Repeat("y", 200_000))
	h := s.Hits(tok)
	if len(h) != 1 || len(h[0].Body) > bodySample {
		t.Fatalf("hit body = %d bytes, want ≤ %d", len(h[0].Body), bodySample)
	}
}

// Checks name their tokens: the prefix selects the behaviour, and the
// canary satisfies the engine's interface.
func TestTokensNamedByChecks(t *testing.T) {
	s := start(t, Options{})
	var c scan.Canary = s
	cases := []struct {
		token string
		want  Behavior
	}{
		{"api7-avatar-1", Plain},
		{"injection.webhook-1", Injection},
		{"self-url.webhook-2", SelfURL},
		{"nonsense.x", Plain},
	}
	for _, tc := range cases {
		if got := BehaviorOf(tc.token); got != tc.want {
			t.Errorf("BehaviorOf(%q) = %q, want %q", tc.token, got, tc.want)
		}
		resp, body := do(t, "GET", c.URL(tc.token), "")
		if resp.StatusCode != 200 || !strings.Contains(string(body), Marker(tc.token)) {
			t.Errorf("GET URL(%q) = %d %s, want 200 with the marker", tc.token, resp.StatusCode, body)
		}
		if hits := c.Hits(tc.token); len(hits) != 1 || hits[0].Token != tc.token {
			t.Errorf("Hits(%q) = %v, want one hit on the token", tc.token, hits)
		}
	}
	if u := c.URL("bad token"); !strings.Contains(u, "bad token") {
		t.Errorf("URL(invalid) = %q, want the token kept in the URL", u)
	}
	if h := c.Hits("bad token"); h != nil {
		t.Errorf("Hits(invalid) = %v, want nil", h)
	}
}

func TestOptionsValidation(t *testing.T) {
	cases := []Options{
		{OversizeBytes: MaxOversizeBytes + 1},
		{PublicURL: "ftp://x"},
		{PublicURL: "http://host/path"},
		{Addr: "not an address"},
	}
	for _, o := range cases {
		if s, err := Start(o); err == nil {
			_ = s.Close()
			t.Errorf("Start(%+v) succeeded, want an error", o)
		}
	}
	s := start(t, Options{PublicURL: "http://canary.example:9999/"})
	tok, _ := s.NewToken(Plain)
	if got, want := s.URL(tok), "http://canary.example:9999/c/"+tok; got != want {
		t.Errorf("URL with PublicURL = %q, want %q", got, want)
	}
}

func TestWait(t *testing.T) {
	s := start(t, Options{})
	tok, _ := s.NewToken(Plain)
	go func() {
		time.Sleep(30 * time.Millisecond)
		resp, err := http.Get(s.URL(tok))
		if err == nil {
			resp.Body.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h := s.Wait(ctx, tok); len(h) != 1 {
		t.Errorf("Wait = %d hits, want 1", len(h))
	}
	other, _ := s.NewToken(Plain)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if h := s.Wait(ctx2, other); h != nil {
		t.Errorf("Wait on an unused token = %v, want nil", h)
	}
}

func FuzzTokenOf(f *testing.F) {
	for _, s := range []string{"/c/0123456789abcdef01234567", "/c/injection.x/adopted", "/c/", "/", "/c/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tok, ok := tokenOf(p)
		if ok && (!validToken(tok) || strings.Contains(tok, "/") || !strings.HasPrefix(p, "/c/"+tok)) {
			t.Errorf("tokenOf(%q) = %q, true: not a valid token prefix of the path", p, tok)
		}
	})
}
