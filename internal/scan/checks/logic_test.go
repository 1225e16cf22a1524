package checks

import (
	"reflect"
	"testing"
	"time"
)

func TestBurstOutcome(t *testing.T) {
	cases := []struct {
		name      string
		statuses  []int
		retry     []bool
		limitedAt int
		unlimited bool
	}{
		{"all 200", rep(200, 250), nil, 0, true},
		{"429 at 201", append(rep(200, 200), 429, 200), nil, 201, false},
		{"503 with Retry-After", append(rep(200, 10), 503), append(make([]bool, 10), true), 11, false},
		{"503 without Retry-After is not a limit", append(rep(200, 240), rep(503, 10)...), nil, 0, true},
		{"mostly 401 is inconclusive", rep(401, 250), nil, 0, false},
		{"too few", rep(200, 10), nil, 0, false},
	}
	for _, c := range cases {
		var o burstOutcome
		for i, s := range c.statuses {
			ra := i < len(c.retry) && c.retry[i]
			if !o.add(s, ra) {
				break
			}
		}
		if o.LimitedAt != c.limitedAt || o.unlimited(200) != c.unlimited {
			t.Errorf("burst(%s) = limitedAt %d unlimited %v, want %d %v", c.name, o.LimitedAt, o.unlimited(200), c.limitedAt, c.unlimited)
		}
	}
}

func rep(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestPageSize(t *testing.T) {
	for _, n := range []string{"limit", "page_size", "pageSize", "per_page", "perPage", "page-size", "$top", "size"} {
		if !isPageSizeParam(n) {
			t.Errorf("isPageSizeParam(%q) = false, want true", n)
		}
	}
	for _, n := range []string{"offset", "page", "cursor", "q", "sort"} {
		if isPageSizeParam(n) {
			t.Errorf("isPageSizeParam(%q) = true, want false", n)
		}
	}
	cases := []struct {
		max  float64
		want int
	}{{100, 10000}, {5, 1005}, {50000, 1_000_000}}
	for _, c := range cases {
		if got := oversizePage(c.max); got != c.want {
			t.Errorf("oversizePage(%v) = %d, want %d", c.max, got, c.want)
		}
	}
}

func TestURLInput(t *testing.T) {
	cases := []struct {
		name, format string
		want         bool
	}{
		{"url", "", true}, {"avatar_url", "", true}, {"callbackUrl", "", true}, {"homepage", "uri", true},
		{"redirect_uri", "", true}, {"webhook", "", true}, {"email", "email", false}, {"curl", "", false},
		{"name", "", false}, {"id", "", false},
	}
	for _, c := range cases {
		if got := isURLInput(c.name, c.format); got != c.want {
			t.Errorf("isURLInput(%q, %q) = %v, want %v", c.name, c.format, got, c.want)
		}
	}
}

func TestBusinessFlow(t *testing.T) {
	cases := []struct {
		method, idPath, summary string
		ext                     map[string]any
		want                    bool
	}{
		{"POST", "createtransfer /api/v1/transfers", "move money", nil, true},
		{"POST", "placeorder /orders", "", nil, true},
		{"POST", "signup /users", "", nil, true},
		{"POST", "createuser /users", "make a payment account", nil, true},
		{"POST", "createwebhook /api/v1/webhooks", "register a callback url for events.", nil, false},
		{"POST", "setborder /ui/border", "", nil, false},
		{"GET", "listtransfers /transfers", "", nil, false},
		{"POST", "x /things", "", map[string]any{"x-business-flow": "limited"}, true},
		{"POST", "x /things", "", map[string]any{"x-business-flow": false}, false},
	}
	for _, c := range cases {
		if got := isBusinessFlow(c.method, c.idPath, c.summary, c.ext); got != c.want {
			t.Errorf("isBusinessFlow(%s, %q, %q, %v) = %v, want %v", c.method, c.idPath, c.summary, c.ext, got, c.want)
		}
	}
}

func TestAmountField(t *testing.T) {
	for _, n := range []string{"amount", "Amount", "total_price", "amount_cents", "quantity"} {
		if !isAmountField(n) {
			t.Errorf("isAmountField(%q) = false, want true", n)
		}
	}
	for _, n := range []string{"from_account_id", "currency", "memo", "id"} {
		if isAmountField(n) {
			t.Errorf("isAmountField(%q) = true, want false", n)
		}
	}
}

func TestWebhookAndTrigger(t *testing.T) {
	if !isWebhookRegistration("POST", "createwebhook /api/v1/webhooks") {
		t.Error("isWebhookRegistration(createWebhook) = false, want true")
	}
	if isWebhookRegistration("GET", "listwebhooks /api/v1/webhooks") {
		t.Error("isWebhookRegistration(GET) = true, want false")
	}
	cases := []struct {
		reg, path, text string
		want            bool
	}{
		{"/api/v1/webhooks", "/api/v1/webhooks/{webhookId}/test", "test", true},
		{"/api/v1/webhooks", "/api/v1/webhooks/{id}/ping", "ping", true},
		{"/api/v1/webhooks", "/api/v1/webhooks/{id}", "updatewebhook", false},
		{"/api/v1/webhooks", "/api/v1/webhookstest", "test", false},
		{"/api/v1/webhooks", "/api/v1/users/{id}/test", "test", false},
	}
	for _, c := range cases {
		if got := isTrigger(c.reg, c.path, c.text); got != c.want {
			t.Errorf("isTrigger(%s, %s, %s) = %v, want %v", c.reg, c.path, c.text, got, c.want)
		}
	}
}

func TestRowsDiffer(t *testing.T) {
	s := func(status, items, size int) answerShape {
		return answerShape{status: status, items: items, size: size}
	}
	cases := []struct {
		name              string
		base, truthy, fal answerShape
		want              bool
	}{
		{"classic", s(200, 0, 12), s(200, 50, 9000), s(200, 0, 12), true},
		{"all equal (parameterised)", s(200, 0, 12), s(200, 0, 12), s(200, 0, 12), false},
		{"false probe errors", s(200, 0, 12), s(200, 50, 9000), s(500, -1, 100), false},
		{"true probe blocked", s(200, 3, 300), s(403, -1, 40), s(403, -1, 40), false},
		{"true equals baseline", s(200, 50, 9000), s(200, 50, 9000), s(200, 0, 12), false},
		{"no lists, sizes differ", s(200, -1, 100), s(200, -1, 5000), s(200, -1, 100), true},
		{"no lists, sizes close", s(200, -1, 100), s(200, -1, 110), s(200, -1, 100), false},
	}
	for _, c := range cases {
		if got := rowsDiffer(c.base, c.truthy, c.fal); got != c.want {
			t.Errorf("rowsDiffer(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestErrorOracle(t *testing.T) {
	s := func(status int) answerShape { return answerShape{status: status} }
	sqlite := `{"error":"SQL logic error: unrecognized token: \"'\""}`
	cases := []struct {
		name                string
		b, q, d             answerShape
		bBody, qBody, dBody string
		want                string
	}{
		{"sql error text", s(200), s(500), s(200), `{"items":[]}`, sqlite, `{"items":[]}`, "SQLite error"},
		{"bare 500", s(200), s(500), s(200), `{}`, `{"error":"internal error"}`, `{}`, "a 500 answer"},
		{"quote handled", s(200), s(200), s(200), `{}`, `{}`, `{}`, ""},
		{"everything fails", s(500), s(500), s(500), `{}`, `{}`, `{}`, ""},
		{"doubled quote fails too", s(200), s(500), s(500), `{}`, `{}`, `{}`, ""},
		{"400 for a quote is validation", s(200), s(400), s(400), `{}`, `{"error":"bad q"}`, `{}`, ""},
	}
	for _, c := range cases {
		if got := errorOracle(c.b, c.q, c.d, c.bBody, c.qBody, c.dBody); got != c.want {
			t.Errorf("errorOracle(%s) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTimeOracle(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	cases := []struct {
		name        string
		base, probe []time.Duration
		want        bool
	}{
		{"both delayed", ms(20, 30), ms(2040, 2100), true},
		{"one delayed", ms(20, 30), ms(2040, 40), false},
		{"slow baseline", ms(20, 1500), ms(2040, 2100), false},
		{"no probes", ms(20), nil, false},
	}
	for _, c := range cases {
		if got := timeOracle(c.base, c.probe, 2*time.Second); got != c.want {
			t.Errorf("timeOracle(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestVersionVariants(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"/api/v1/users/{userId}", []string{"/api/v0/users/{userId}", "/api/v2/users/{userId}"}},
		{"/api/v3/items", []string{"/api/v2/items", "/api/v4/items", "/api/v0/items", "/api/v1/items"}},
		{"/v0/things", []string{"/v1/things"}},
		{"/users/{id}", nil},
	}
	for _, c := range cases {
		if got := versionVariants(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("versionVariants(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAPIRoots(t *testing.T) {
	got := apiRoots([]string{"/api/v1/users/{id}", "/api/v1/accounts", "/api/v0/users/{id}", "/.well-known/jwks.json", "/health", "/{tenant}/x"}, 5)
	want := []string{"/api/v0", "/api/v1", "/health"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("apiRoots = %q, want %q", got, want)
	}
}

func TestCatchAll(t *testing.T) {
	spa := []byte("<!doctype html><html><body><div id=app></div></body></html>")
	base := fingerprintOf(200, "text/html; charset=utf-8", spa, "/apiguard-nope-123")
	cases := []struct {
		name string
		fp   fingerprint
		want bool
	}{
		{"same SPA page", fingerprintOf(200, "text/html", spa, "/admin"), true},
		{"JSON under an SPA", fingerprintOf(200, "application/json", []byte(`{"dsn":"x"}`), "/internal/debug"), false},
		{"404", fingerprintOf(404, "text/html", spa, "/admin"), false},
	}
	for _, c := range cases {
		if got := sameAsCatchAll(c.fp, base); got != c.want {
			t.Errorf("sameAsCatchAll(%s) = %v, want %v", c.name, got, c.want)
		}
	}
	nf := fingerprintOf(404, "application/json", []byte(`{"error":"not found"}`), "/x")
	if !sameAsCatchAll(fingerprintOf(404, "application/json", []byte(`{"error":"not found"}`), "/admin"), nf) {
		t.Error("sameAsCatchAll(404 vs 404 baseline) = false, want true")
	}
}

func TestSubstantive(t *testing.T) {
	cases := []struct {
		ct, body string
		want     bool
	}{
		{"application/json", `{"service":"x","dsn":"y"}`, true},
		{"application/json", `{"status":"ok"}`, false},
		{"application/json", `{"items":[{"id":1}]}`, true},
		{"application/json", `{"config":{"debug":true}}`, true},
		{"application/json", `[]`, false},
		{"text/plain", "ok", false},
		{"text/html", string(make([]byte, 100)) + "x", true},
	}
	for _, c := range cases {
		if got := substantive(c.ct, []byte(c.body)); got != c.want {
			t.Errorf("substantive(%s, %.20q) = %v, want %v", c.ct, c.body, got, c.want)
		}
	}
}

func TestExceedsLimiter(t *testing.T) {
	cases := []struct {
		n       int
		elapsed time.Duration
		want    bool
	}{
		{250, 100 * time.Millisecond, true},  // 2 500/s: no bucket of 200 + 30/s admits it
		{250, 1600 * time.Millisecond, true}, // 156/s: 200 + 48 < 250
		{250, 1700 * time.Millisecond, false},
		{250, 4400 * time.Millisecond, false}, // 57/s: a 200 + 30/s bucket admits 332
		{500, 8800 * time.Millisecond, true},  // 200 + 264 < 500
		{450, 8800 * time.Millisecond, false},
		{750, 13 * time.Second, true},
		{200, 0, false},
	}
	for _, c := range cases {
		if got := exceedsLimiter(c.n, c.elapsed); got != c.want {
			t.Errorf("exceedsLimiter(%d, %s) = %v, want %v", c.n, c.elapsed, got, c.want)
		}
	}
}
