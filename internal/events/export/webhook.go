package export

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/safehttp"
)

// Webhook headers set by apiguard.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// t + "." + body>" when the webhook has a secret.
	SignatureHeader = "X-Apiguard-Signature"
	// DeliveryHeader is a random id per alert, the same on every attempt,
	// so a receiver can drop the duplicates that retries may cause.
	DeliveryHeader = "X-Apiguard-Delivery"
)

// Bounds of the webhook's dedupe and rate-limit state.
const (
	maxDedupeGroups   = 10000
	maxSuppressedKeys = 1000
	summaryInterval   = time.Minute
	webhookTick       = time.Second
	maxWebhookAnswer  = 64 << 10
)

// Alert is the "alert" object of a json webhook body.
type Alert struct {
	// Type is event (one event, sent at once), repeat (the repeats of an
	// event within the dedupe window) or suppressed (alerts the rate
	// limit held back).
	Type string `json:"type"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// Severity is info, low, medium or high.
	Severity string `json:"severity"`
	// Count is how many events the alert stands for.
	Count int `json:"count"`
	// FirstSeen and LastSeen bound the events counted.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Suppressed counts the held-back alerts by rule (type suppressed).
	Suppressed map[string]int `json:"suppressed,omitempty"`
}

// WebhookBody is the body of a json webhook.
type WebhookBody struct {
	Alert Alert `json:"alert"`
	// Event is the (last) event, in the schema of docs/events.md; absent
	// for suppressed summaries.
	Event *events.Event `json:"event,omitempty"`
}

// dedupeKey groups events for deduplication.
type dedupeKey struct{ rule, client, api string }

type dedupeGroup struct {
	end         time.Time
	count       int // repeats after the first, within the window
	first, last time.Time
	event       events.Event // the latest repeat
}

// tokenBucket is a token bucket refilled continuously.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func (t *tokenBucket) allow(now time.Time) bool {
	if t.last.IsZero() {
		t.last, t.tokens = now, t.burst
	}
	if d := now.Sub(t.last).Seconds(); d > 0 {
		t.tokens = min(t.burst, t.tokens+d*t.rate)
		t.last = now
	}
	if t.tokens >= 1 {
		t.tokens--
		return true
	}
	return false
}

// webhookBackend posts alerts to one receiver.
type webhookBackend struct {
	name        string
	url         string // a secret: never logged
	format      string
	headers     http.Header
	secret      []byte
	client      *http.Client
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	window      time.Duration
	version     string
	m           *exporterMetrics
	now         func() time.Time

	groups          map[dedupeKey]*dedupeGroup
	bucket          tokenBucket
	suppressed      map[string]int
	suppressedN     int
	suppressedFirst time.Time
	suppressedLast  time.Time
	lastSummary     time.Time
	lastErr         error
}

func newWebhook(c config.AlertWebhook, version string, m *exporterMetrics, now func() time.Time) *webhookBackend {
	opts := safehttp.Options{Timeout: c.Timeout.D(), MaxResponseBytes: maxWebhookAnswer}
	if c.AllowPrivate {
		opts.AllowLoopback = true
		opts.AllowCIDRs = safehttp.PrivateRanges
	}
	b := &webhookBackend{
		name: c.Name, url: c.URL.Value(), format: c.Format, headers: http.Header{},
		client: safehttp.NewClient(opts), maxAttempts: c.MaxAttempts,
		backoff: c.Backoff.D(), maxBackoff: c.MaxBackoff.D(), version: version, m: m, now: now,
		groups: map[dedupeKey]*dedupeGroup{}, suppressed: map[string]int{},
		bucket: tokenBucket{rate: float64(c.RatePerMinute) / 60, burst: float64(c.Burst)},
	}
	if c.DedupeWindow != nil {
		b.window = c.DedupeWindow.D()
	}
	if c.Secret != "" {
		b.secret = []byte(c.Secret.Value())
	}
	for k, v := range c.Headers {
		b.headers.Set(k, v.Value())
	}
	return b
}

// handle deduplicates, rate limits and sends one event.
func (b *webhookBackend) handle(ctx context.Context, e *events.Event) {
	now := b.now()
	if b.window > 0 {
		k := dedupeKey{e.Rule, e.ClientIP, e.API}
		if g := b.groups[k]; g != nil && now.Before(g.end) {
			if g.count == 0 {
				g.first = e.Time
			}
			g.count++
			g.last = e.Time
			g.event = *e
			b.m.suppressedDedupe.Inc()
			return
		}
		if len(b.groups) >= maxDedupeGroups {
			b.expire(ctx, now)
		}
		if len(b.groups) < maxDedupeGroups {
			b.groups[k] = &dedupeGroup{end: now.Add(b.window)}
		}
	}
	b.deliver(ctx, now, Alert{Type: "event", Title: message(e), Severity: SeverityOf(e).String(), Count: 1, FirstSeen: e.Time, LastSeen: e.Time}, e)
}

// deliver sends an alert if the rate limit allows, and counts it as
// suppressed otherwise.
func (b *webhookBackend) deliver(ctx context.Context, now time.Time, a Alert, e *events.Event) {
	if !b.bucket.allow(now) {
		key := e.Rule
		if key == "" {
			key = string(e.Kind)
		}
		if _, ok := b.suppressed[key]; !ok && len(b.suppressed) >= maxSuppressedKeys {
			key = "other"
		}
		b.suppressed[key] += a.Count
		if b.suppressedN == 0 {
			b.suppressedFirst = a.FirstSeen
		}
		b.suppressedN += a.Count
		b.suppressedLast = a.LastSeen
		b.m.suppressedRate.Inc()
		return
	}
	b.post(ctx, a, e)
}

// tick sends the repeat alerts of the dedupe windows that ended and, at
// most once per summary interval, the summary of rate-limited alerts.
func (b *webhookBackend) tick(ctx context.Context, now time.Time) {
	b.expire(ctx, now)
	if b.suppressedN > 0 && now.Sub(b.lastSummary) >= summaryInterval {
		b.summarize(ctx, now)
	}
}

// expire closes the dedupe windows that ended at now.
func (b *webhookBackend) expire(ctx context.Context, now time.Time) {
	for k, g := range b.groups {
		if now.Before(g.end) {
			continue
		}
		delete(b.groups, k)
		if g.count > 0 {
			e := g.event
			title := fmt.Sprintf("%d more: %s", g.count, message(&e))
			b.deliver(ctx, now, Alert{Type: "repeat", Title: title, Severity: SeverityOf(&e).String(), Count: g.count, FirstSeen: g.first, LastSeen: g.last}, &e)
		}
	}
}

// summarize sends one alert for everything the rate limit held back. It
// bypasses the bucket: it is sent at most once per summary interval.
func (b *webhookBackend) summarize(ctx context.Context, now time.Time) {
	rules := make([]string, 0, len(b.suppressed))
	for r := range b.suppressed {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if b.suppressed[rules[i]] != b.suppressed[rules[j]] {
			return b.suppressed[rules[i]] > b.suppressed[rules[j]]
		}
		return rules[i] < rules[j]
	})
	var top []string
	for i, r := range rules {
		if i == 5 {
			top = append(top, "...")
			break
		}
		top = append(top, fmt.Sprintf("%s ×%d", r, b.suppressed[r]))
	}
	a := Alert{Type: "suppressed", Title: fmt.Sprintf("%d alerts held back by the rate limit: %s", b.suppressedN, strings.Join(top, ", ")),
		Severity: SeverityMedium.String(), Count: b.suppressedN, FirstSeen: b.suppressedFirst, LastSeen: b.suppressedLast, Suppressed: b.suppressed}
	b.suppressed, b.suppressedN = map[string]int{}, 0
	b.lastSummary = now
	b.post(ctx, a, nil)
}

// body encodes an alert in the webhook's format.
func (b *webhookBackend) body(a Alert, e *events.Event) ([]byte, error) {
	switch b.format {
	case "slack":
		return json.Marshal(slackMessage(a, e))
	case "ocsf":
		if e == nil {
			e = &events.Event{Time: a.LastSeen, Kind: events.KindSystem, Guard: "alerts", Rule: "alerts.rate_limited", Verdict: events.VerdictBlock, Detail: a.Title}
		}
		o := ToOCSF(e, b.version)
		if a.Type != "event" {
			o.Count = a.Count
			o.StartTime, o.EndTime = a.FirstSeen.UnixMilli(), a.LastSeen.UnixMilli()
			o.Message = a.Title
			if a.Suppressed != nil {
				o.ActivityID, o.ActivityName, o.TypeUID, o.TypeName = 99, "Other", ocsfClassUID*100+99, ocsfClassName+": Other"
				o.Unmapped["suppressed"] = a.Suppressed
			}
		}
		return json.Marshal(o)
	}
	body := WebhookBody{Alert: a}
	if e != nil {
		c := *e
		c.Time = c.Time.UTC()
		body.Event = &c
	}
	body.Alert.FirstSeen, body.Alert.LastSeen = a.FirstSeen.UTC(), a.LastSeen.UTC()
	return json.Marshal(body)
}

// post sends an alert, retrying network errors, 429 and 5xx with
// exponential backoff and full jitter, at most maxAttempts times.
func (b *webhookBackend) post(ctx context.Context, a Alert, e *events.Event) {
	body, err := b.body(a, e)
	if err != nil {
		b.lastErr = err
		b.m.failed(1)
		return
	}
	delivery := newDeliveryID()
	for attempt := 1; ; attempt++ {
		retryAfter, err := b.attempt(ctx, body, delivery)
		if err == nil {
			b.m.sent.Inc()
			b.lastErr = nil
			return
		}
		b.lastErr = err
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= b.maxAttempts || ctx.Err() != nil {
			b.m.failed(1)
			return
		}
		b.m.retries.Inc()
		wait := b.backoffFor(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, b.maxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			b.m.failed(1)
			return
		case <-t.C:
		}
	}
}

// backoffFor is the delay after the attempt-th failure: a uniform random
// duration up to backoff·2^(attempt-1), capped at maxBackoff.
func (b *webhookBackend) backoffFor(attempt int) time.Duration {
	ceil := b.backoff
	for i := 1; i < attempt && ceil < b.maxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.maxBackoff)
	n, err := rand.Int(rand.Reader, big.NewInt(int64(ceil)+1))
	if err != nil {
		return ceil
	}
	return time.Duration(n.Int64())
}

// permanentError is an answer that retrying will not change (4xx other
// than 429).
type permanentError struct{ status int }

func (e *permanentError) Error() string { return "receiver answered " + strconv.Itoa(e.status) }

// attempt sends the body once. It returns the receiver's Retry-After.
func (b *webhookBackend) attempt(ctx context.Context, body []byte, delivery string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("building the request failed")
	}
	for k, v := range b.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "apiguard/"+b.version)
	req.Header.Set(DeliveryHeader, delivery)
	if b.secret != nil {
		req.Header.Set(SignatureHeader, Sign(b.secret, b.now(), body))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which is a secret: keep the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("posting: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		var ra time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ra = time.Duration(s) * time.Second
		}
		return ra, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return 0, &permanentError{resp.StatusCode}
}

// Sign returns the signature header value of body at time t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>".
// Receivers recompute it and compare in constant time, and refuse old
// time stamps (replays).
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body, accepting time stamps
// within tolerance of now. It is what a Go receiver would run.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("signature: no time stamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature: time stamp outside the tolerance")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("signature: no match")
}

func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (b *webhookBackend) flush(context.Context)       {}
func (b *webhookBackend) tickInterval() time.Duration { return webhookTick }
func (b *webhookBackend) lastError() error            { return b.lastErr }

// close sends what the dedupe windows and the rate limit still hold.
func (b *webhookBackend) close(ctx context.Context) error {
	if ctx.Err() == nil {
		far := b.now().Add(100 * 365 * 24 * time.Hour)
		b.expire(ctx, far)
		if b.suppressedN > 0 {
			b.summarize(ctx, b.now())
		}
	}
	b.client.CloseIdleConnections()
	return nil
}

// slackText escapes the three characters Slack's mrkdwn gives meaning
// to, so that attacker-controlled text (paths, details) cannot mention
// @channel or forge links.
func slackText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackMessage is a Slack incoming-webhook message: a text fallback and
// blocks.
func slackMessage(a Alert, e *events.Event) map[string]any {
	title := fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity), a.Title)
	text := slackText(title)
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + text + "*"}},
	}
	if e != nil {
		var fields []any
		add := func(k, v string) {
			if v != "" && len(fields) < 10 {
				fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + k + "*\n" + slackText(v)})
			}
		}
		add("API", e.API)
		add("Rule", e.Rule)
		if e.Category != "" {
			add("OWASP", e.Category+" "+events.CategoryName(e.Category))
		}
		add("Client", e.ClientIP)
		add("Principal", e.Principal)
		add("Request", strings.TrimSpace(e.Method+" "+e.Path))
		if e.Status != 0 {
			add("Status", strconv.Itoa(e.Status))
		}
		add("Request id", e.RequestID)
		if len(fields) > 0 {
			blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
		}
		if e.Detail != "" {
			blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": slackText(cut(e.Detail, 2900))}})
		}
	}
	ctx := fmt.Sprintf("apiguard · %d event(s) · %s", a.Count, a.LastSeen.UTC().Format(time.RFC3339))
	if a.Count > 1 {
		ctx = fmt.Sprintf("apiguard · %d event(s) from %s to %s", a.Count, a.FirstSeen.UTC().Format(time.RFC3339), a.LastSeen.UTC().Format(time.RFC3339))
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": ctx}}})
	return map[string]any{"text": text, "blocks": blocks}
}
