package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apiguard/apiguard/internal/events"
)

const hookSecret = "whsec-0123456789abcdef"

// receiver is a webhook receiver in the test process. It answers the
// statuses of plan in turn, then 200.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	plan []int
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
	sigErr error
}

func newReceiver(t *testing.T, plan ...int) *receiver {
	r := &receiver{plan: plan}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := received{header: req.Header.Clone(), body: body}
		rec.sigErr = Verify([]byte(hookSecret), req.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute)
		r.mu.Lock()
		r.reqs = append(r.reqs, rec)
		status := http.StatusOK
		if len(r.plan) > 0 {
			status, r.plan = r.plan[0], r.plan[1:]
		}
		r.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// waitFor polls until cond holds; it fails the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricValue reads one counter or gauge series from g.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func decodeBody(t *testing.T, b []byte) WebhookBody {
	t.Helper()
	var body WebhookBody
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("webhook body %s: %v", b, err)
	}
	return body
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name      string
		plan      []int
		attempts  int
		delivered bool
	}{
		{"500 then success", []int{500, 502}, 3, true},
		{"429 with retry-after", []int{429}, 2, true},
		{"gives up after max_attempts", []int{503, 503, 503, 503}, 3, false},
		{"400 is not retried", []int{400}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.plan...)
			reg := prometheus.NewRegistry()
			h := New(Options{Registry: reg, Version: "1.0.0"})
			a := alertsConfig(t, fmt.Sprintf("  webhooks: [{name: hook, url: %q, allow_private: true, secret: %s, max_attempts: 3, backoff: 1ms, max_backoff: 5ms, headers: {X-Api-Key: key-123}}]\n", r.URL+"/alert", hookSecret))
			if err := h.Apply(a, ""); err != nil {
				t.Fatal(err)
			}
			h.Export(sample())
			waitFor(t, "the attempts", func() bool { return len(r.requests()) >= tt.attempts })
			if err := h.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			reqs := r.requests()
			if len(reqs) != tt.attempts {
				t.Fatalf("attempts = %d, want %d", len(reqs), tt.attempts)
			}
			for i, req := range reqs {
				if req.sigErr != nil {
					t.Errorf("attempt %d: signature %q does not verify: %v", i, req.header.Get(SignatureHeader), req.sigErr)
				}
				if req.header.Get(DeliveryHeader) != reqs[0].header.Get(DeliveryHeader) || req.header.Get(DeliveryHeader) == "" {
					t.Errorf("attempt %d: delivery id %q, want the first attempt's %q", i, req.header.Get(DeliveryHeader), reqs[0].header.Get(DeliveryHeader))
				}
				if req.header.Get("X-Api-Key") != "key-123" || req.header.Get("Content-Type") != "application/json" || req.header.Get("User-Agent") != "apiguard/1.0.0" {
					t.Errorf("attempt %d: headers %v, want the custom header, JSON and the user agent", i, req.header)
				}
				body := decodeBody(t, req.body)
				if body.Alert.Type != "event" || body.Alert.Count != 1 || body.Event == nil || body.Event.Rule != "authz.object_owner" || body.Alert.Severity != "medium" {
					t.Errorf("attempt %d: body %s, want one event alert", i, req.body)
				}
			}
			sent := metricValue(t, reg, "apiguard_alerts_sent_total", "exporter", "hook")
			failed := metricValue(t, reg, "apiguard_alerts_dropped_total", "exporter", "hook", "reason", "failed")
			retries := metricValue(t, reg, "apiguard_alerts_retries_total", "exporter", "hook")
			wantSent, wantFailed := 1.0, 0.0
			if !tt.delivered {
				wantSent, wantFailed = 0, 1
			}
			wantRetries := float64(tt.attempts - 1)
			if sent != wantSent || failed != wantFailed || retries != wantRetries {
				t.Errorf("metrics sent, failed, retries = %v, %v, %v; want %v, %v, %v", sent, failed, retries, wantSent, wantFailed, wantRetries)
			}
		})
	}
}

// TestSignature checks Sign and Verify against a tampered body, a wrong
// secret and an old time stamp.
func TestSignature(t *testing.T) {
	now := time.Unix(1750000000, 0)
	body := []byte(`{"alert":{}}`)
	sig := Sign([]byte(hookSecret), now, body)
	if !strings.HasPrefix(sig, "t=1750000000,v1=") || len(sig) != len("t=1750000000,v1=")+64 {
		t.Fatalf("Sign() = %q, want t=<unix>,v1=<64 hex>", sig)
	}
	tests := []struct {
		name   string
		secret string
		body   string
		now    time.Time
		ok     bool
	}{
		{"valid", hookSecret, string(body), now.Add(time.Minute), true},
		{"tampered body", hookSecret, `{"alert":{"x":1}}`, now, false},
		{"wrong secret", "another-secret-0123456789", string(body), now, false},
		{"too old", hookSecret, string(body), now.Add(10 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify([]byte(tt.secret), sig, []byte(tt.body), tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Errorf("Verify() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// directWebhook builds a webhook backend with a fake clock, to drive its
// dedupe windows and rate limit step by step.
func directWebhook(t *testing.T, r *receiver, extra string) (*webhookBackend, *fakeClock, *prometheus.Registry) {
	t.Helper()
	a := alertsConfig(t, fmt.Sprintf("  webhooks: [{name: hook, url: %q, allow_private: true, backoff: 1ms, max_backoff: 5ms%s}]\n", r.URL, extra))
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	return newWebhook(a.Webhooks[0], "1.0.0", newHubMetrics(reg).forExporter("hook"), clock.now), clock, reg
}

func TestWebhookDedupe(t *testing.T) {
	r := newReceiver(t)
	b, clock, reg := directWebhook(t, r, ", dedupe_window: 1m")
	ctx := context.Background()
	e := sample()
	for range 5 {
		e.Time = clock.now()
		b.handle(ctx, &e)
		clock.add(time.Second)
	}
	other := sample()
	other.ClientIP = "203.0.113.9"
	b.handle(ctx, &other)
	if got := len(r.requests()); got != 2 {
		t.Fatalf("alerts within the window = %d, want 2 (one per rule+client+api)", got)
	}
	b.tick(ctx, clock.now()) // the window has not ended
	if got := len(r.requests()); got != 2 {
		t.Fatalf("alerts after a tick inside the window = %d, want 2", got)
	}
	clock.add(time.Minute)
	b.tick(ctx, clock.now())
	reqs := r.requests()
	if len(reqs) != 3 {
		t.Fatalf("alerts after the window = %d, want 3 (one repeat alert; the other client had no repeat)", len(reqs))
	}
	rep := decodeBody(t, reqs[2].body)
	if rep.Alert.Type != "repeat" || rep.Alert.Count != 4 || !strings.HasPrefix(rep.Alert.Title, "4 more: ") ||
		!rep.Alert.FirstSeen.Equal(time.Date(2025, 6, 1, 12, 0, 1, 0, time.UTC)) || !rep.Alert.LastSeen.Equal(time.Date(2025, 6, 1, 12, 0, 4, 0, time.UTC)) {
		t.Errorf("repeat alert = %+v, want type repeat, count 4, first 12:00:01, last 12:00:04", rep.Alert)
	}
	// After the window, the same key alerts at once again.
	b.handle(ctx, &e)
	if got := len(r.requests()); got != 4 {
		t.Errorf("alerts after a new event past the window = %d, want 4", got)
	}
	if got := metricValue(t, reg, "apiguard_alerts_suppressed_total", "reason", "dedupe"); got != 4 {
		t.Errorf("suppressed by dedupe = %v, want 4", got)
	}
}

func TestWebhookRateLimit(t *testing.T) {
	r := newReceiver(t)
	b, clock, reg := directWebhook(t, r, ", dedupe_window: 0s, rate_per_minute: 1, burst: 2")
	ctx := context.Background()
	for i := range 10 {
		e := blocked(i)
		if i >= 7 {
			e.Rule = "waf.942100"
		}
		b.handle(ctx, &e)
	}
	if got := len(r.requests()); got != 2 {
		t.Fatalf("alerts sent = %d, want the burst of 2", got)
	}
	b.tick(ctx, clock.now())
	if got := len(r.requests()); got != 3 {
		t.Fatalf("alerts after the first tick = %d, want 3 (the summary)", got)
	}
	sum := decodeBody(t, r.requests()[2].body)
	if sum.Alert.Type != "suppressed" || sum.Alert.Count != 8 || sum.Alert.Suppressed["authz.object_owner"] != 5 || sum.Alert.Suppressed["waf.942100"] != 3 || sum.Event != nil {
		t.Errorf("summary = %+v, want 8 suppressed: 5 authz.object_owner, 3 waf.942100", sum.Alert)
	}
	// More excess within the summary interval waits for the next one.
	for i := range 3 {
		e := blocked(i)
		b.handle(ctx, &e)
	}
	clock.add(30 * time.Second)
	b.tick(ctx, clock.now())
	if got := len(r.requests()); got != 3 {
		t.Fatalf("alerts 30s later = %d, want still 3 (at most one summary a minute)", got)
	}
	clock.add(31 * time.Second)
	b.tick(ctx, clock.now())
	reqs := r.requests()
	if len(reqs) != 4 || decodeBody(t, reqs[3].body).Alert.Count != 3 {
		t.Fatalf("alerts a minute later = %d, want a second summary of 3", len(reqs))
	}
	// The bucket refilled: one token per minute.
	e := blocked(99)
	b.handle(ctx, &e)
	if got := len(r.requests()); got != 5 {
		t.Errorf("alerts after the refill = %d, want 5", got)
	}
	if got := metricValue(t, reg, "apiguard_alerts_suppressed_total", "reason", "rate_limit"); got != 11 {
		t.Errorf("suppressed by the rate limit = %v, want 11", got)
	}
}

func TestWebhookSlack(t *testing.T) {
	r := newReceiver(t)
	b, _, _ := directWebhook(t, r, ", format: slack")
	e := sample()
	e.Path = "/pets/<!channel>"
	e.Detail = "see <https://evil.example|here> & more"
	b.handle(context.Background(), &e)
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string `json:"type"`
			Text   *struct{ Type, Text string }
			Fields []struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(reqs[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "[MEDIUM] authz block: GET /pets/&lt;!channel&gt;") {
		t.Errorf("text = %q, want the escaped title", msg.Text)
	}
	if len(msg.Blocks) != 4 || msg.Blocks[0].Type != "section" || msg.Blocks[1].Fields == nil || msg.Blocks[3].Type != "context" {
		t.Fatalf("blocks = %+v, want section, fields, detail, context", msg.Blocks)
	}
	if got := msg.Blocks[2].Text.Text; got != "see &lt;https://evil.example|here&gt; &amp; more" {
		t.Errorf("detail block = %q, want & < > escaped", got)
	}
	if bytes.Contains(reqs[0].body, []byte("<!channel>")) || bytes.Contains(reqs[0].body, []byte(`\u003c!channel\u003e`)) {
		t.Errorf("body carries an unescaped mention: %s", reqs[0].body)
	}
}

func TestWebhookOCSF(t *testing.T) {
	r := newReceiver(t)
	b, clock, _ := directWebhook(t, r, ", format: ocsf, dedupe_window: 10s")
	ctx := context.Background()
	e := sample()
	b.handle(ctx, &e)
	b.handle(ctx, &e)
	clock.add(11 * time.Second)
	b.tick(ctx, clock.now())
	reqs := r.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	var first, rep OCSF
	if err := json.Unmarshal(reqs[0].body, &first); err != nil || first.ClassUID != 6003 || first.Count != 0 {
		t.Errorf("first OCSF alert = %s (%v), want class 6003 without count", reqs[0].body, err)
	}
	if err := json.Unmarshal(reqs[1].body, &rep); err != nil || rep.Count != 1 || rep.StartTime == 0 {
		t.Errorf("repeat OCSF alert = %s (%v), want count 1 and start_time", reqs[1].body, err)
	}
}

// TestWebhookSSRF checks that webhooks go through the SSRF-safe client:
// a loopback receiver is refused unless allow_private is set, and the
// error reported never shows the URL (a secret).
func TestWebhookSSRF(t *testing.T) {
	r := newReceiver(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	var reported []events.Event
	reg := prometheus.NewRegistry()
	h := New(Options{Registry: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Emit: func(e events.Event) { mu.Lock(); reported = append(reported, e); mu.Unlock() }})
	url := r.URL + "/services/T000/B000/secret-path-token"
	if err := h.Apply(alertsConfig(t, fmt.Sprintf("  webhooks: [{name: hook, url: %q, max_attempts: 1}]\n", url)), ""); err != nil {
		t.Fatal(err)
	}
	h.Export(sample())
	waitFor(t, "the failed delivery", func() bool {
		return metricValue(t, reg, "apiguard_alerts_dropped_total", "exporter", "hook", "reason", "failed") == 1
	})
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests without allow_private, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !strings.Contains(reported[0].Detail, "forbidden (loopback)") {
		t.Fatalf("reported = %+v, want one alerts.events_lost naming the refused address", reported)
	}
	for _, s := range []string{reported[0].Detail, logs.String()} {
		if strings.Contains(s, "secret-path-token") {
			t.Errorf("the webhook URL leaked: %s", s)
		}
	}
}
