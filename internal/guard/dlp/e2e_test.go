package dlp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// The demobank section used in examples/demobank/apiguard.yaml.
const demobankSection = `
dlp:
  detectors: {iban: detect}
  fields: {ssn: mask, password_hash: mask}
  operations:
    login: {skip: true}
`

func TestDemobankProfileSSNMasked(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: demobankSection})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/users/1", tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/users/1 = %d %s", resp.StatusCode, body)
	}
	var u map[string]any
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	if got := u["ssn"]; got != "***-**-****" {
		t.Errorf("ssn = %v, want ***-**-****", got)
	}
	if h, _ := u["password_hash"].(string); h == "" || strings.IndexFunc(h, func(r rune) bool { return r < 128 && alnum[r] }) >= 0 {
		t.Errorf("password_hash = %q, want no letter or digit left", h)
	}
	if u["username"] != "alice" || u["email"] != "alice@demobank.example" {
		t.Errorf("other fields changed: %s", body)
	}
	if bytes.Contains(body, []byte("078-05-1120")) {
		t.Errorf("the SSN reached the client: %s", body)
	}
	evs := env.EventsWithRule("dlp.field")
	if len(evs) != 1 || evs[0].Category != "API3" || evs[0].Verdict != events.VerdictObserve || strings.Contains(evs[0].Detail, "078") {
		t.Fatalf("events = %+v, want one observe dlp.field without the value", evs)
	}
	if !strings.Contains(evs[0].Detail, "mask field at /ssn") {
		t.Errorf("detail = %q, want the pointer", evs[0].Detail)
	}
}

func TestDemobankDetectorsWithoutFieldRules(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: "dlp: {}"})
	tok := env.Login(t, "alice")
	_, body := env.Do(t, "GET", "/api/v1/users/1", tok, nil)
	var u map[string]any
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatal(err)
	}
	if u["ssn"] != "***-**-1120" {
		t.Errorf("ssn = %v, want ***-**-1120 (the ssn detector)", u["ssn"])
	}
	if h, _ := u["password_hash"].(string); !strings.HasPrefix(h, "$pbkdf2-sha256$") || strings.ContainsAny(h[15:], "0123456789") {
		t.Errorf("password_hash = %q, want the scheme kept and the rest masked", h)
	}
	// a login answer carries a JWT: jwt is off by default, nothing changes
	if len(env.EventsWithRule("dlp.jwt")) != 0 {
		t.Error("jwt detector is off by default")
	}
}

func TestDemobankBlock(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: "dlp: {detectors: {password_hash: block}}"})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/users/1", tok, nil)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET /api/v1/users/1 = %d %s, want 502 problem", resp.StatusCode, body)
	}
	if p := gatewaytest.Problem(t, body); p["type"] != pipeline.ProblemTypeBase+"dlp.password_hash" {
		t.Errorf("problem type = %v", p["type"])
	}
}

// guardFor builds the guard directly for answers demobank cannot produce.
func guardFor(t *testing.T, c Config) (*guard, *[]events.Event) {
	t.Helper()
	g := testGuard(t, c)
	var got []events.Event
	g.emit = func(e events.Event) { got = append(got, e) }
	g.now = pipeline.NewServices(pipeline.Services{}).Now
	return g, &got
}

func roundTrip(t *testing.T, g *guard, h http.Header, body []byte) (*http.Response, pipeline.Verdict, []byte) {
	t.Helper()
	x := pipeline.NewExchange()
	defer x.Release()
	x.Request = httptest.NewRequest("GET", "/x", nil)
	resp := &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
	v, err := g.Response(t.Context(), x, resp)
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, v, out
}

func TestResponseGzip(t *testing.T) {
	g, _ := guardFor(t, Config{})
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte(`{"card":"4111111111111111"}`))
	_ = zw.Close()
	h := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Etag": {`"x"`}}
	resp, v, out := roundTrip(t, g, h, zb.Bytes())
	if string(out) != `{"card":"************1111"}` || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Etag") != "" {
		t.Errorf("gzip answer = %s %v, want masked, decoded, no ETag", out, resp.Header)
	}
	if v.Rule != "dlp.card" || v.Action != pipeline.Observe {
		t.Errorf("verdict = %+v", v)
	}
}

func TestResponseOverLimit(t *testing.T) {
	big := []byte(`{"pad":"` + strings.Repeat("x", 40<<10) + `","card":"4111 1111 1111 1111"}`)
	tests := []struct {
		policy  string
		rule    string
		action  pipeline.Action
		masked  bool
		emitted bool
	}{
		{OverLimitPass, RuleUnscanned, pipeline.Observe, false, false},
		{OverLimitBlock, RuleTooLarge, pipeline.Block, false, false},
		{OverLimitStream, "", pipeline.Continue, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			g, evs := guardFor(t, Config{MaxBuffer: 4 << 10, OverLimit: tt.policy})
			_, v, out := roundTrip(t, g, http.Header{"Content-Type": {"application/json"}}, big)
			if v.Rule != tt.rule || v.Action != tt.action {
				t.Errorf("verdict = %+v, want %s %v", v, tt.rule, tt.action)
			}
			if tt.action == pipeline.Block {
				return
			}
			if len(out) != len(big) {
				t.Fatalf("length %d, want %d", len(out), len(big))
			}
			if masked := bytes.Contains(out, []byte("**** **** **** 1111")); masked != tt.masked {
				t.Errorf("masked = %v, want %v", masked, tt.masked)
			}
			if (len(*evs) == 1) != tt.emitted || tt.emitted && (*evs)[0].Rule != "dlp.card" {
				t.Errorf("events = %+v", *evs)
			}
		})
	}
}

func TestStreamSplitFinding(t *testing.T) {
	// a card across every possible chunk boundary is still masked
	g, _ := guardFor(t, Config{MaxBuffer: 1 << 10, OverLimit: OverLimitStream})
	for _, off := range []int{streamChunk - 10, streamChunk - 1, streamChunk, 2*streamChunk - streamOverlap - 5} {
		body := []byte(strings.Repeat("a ", off/2) + " 4111-1111-1111-1111 " + strings.Repeat("b ", streamChunk))
		_, _, out := roundTrip(t, g, http.Header{"Content-Type": {"text/plain"}}, body)
		if bytes.Contains(out, []byte("4111-1111-1111-1111")) || !bytes.Contains(out, []byte("****-****-****-1111")) {
			t.Errorf("offset %d: card not masked", off)
		}
	}
}

func TestResponseSkips(t *testing.T) {
	g, _ := guardFor(t, Config{})
	for _, ct := range []string{"image/png", "application/octet-stream", ""} {
		_, v, out := roundTrip(t, g, http.Header{"Content-Type": {ct}}, []byte("4111111111111111"))
		if v.Action != pipeline.Continue || string(out) != "4111111111111111" {
			t.Errorf("content type %q: verdict %+v, body %s; want untouched", ct, v, out)
		}
	}
	_, v, out := roundTrip(t, g, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("card 4111111111111111"))
	if v.Rule != "dlp.card" || string(out) != "card ************1111" {
		t.Errorf("text/plain: %+v %s", v, out)
	}
}
