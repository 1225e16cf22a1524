package checks

// Pure decisions shared by the resource (API4), business-flow (API6),
// SSRF (API7), consumption (API10) and injection checks: burst
// evaluation, injection oracles and the generic name heuristics that
// find page-size parameters, URL inputs, business flows and amounts.

import (
	"strconv"
	"strings"
	"time"
)

// burstOutcome is what a bounded burst of identical requests met.
type burstOutcome struct {
	// Sent is how many requests went out; OK how many answered 2xx.
	Sent, OK int
	// LimitedAt is the 1-based index of the first 429 (or 503 with
	// Retry-After), 0 when none.
	LimitedAt int
	// RetryAfter is whether the limiting answer carried Retry-After.
	RetryAfter bool
	// Other counts answers that are neither 2xx nor limiting.
	Other int
}

// burstAnswer records one answer of a burst into o; it returns false once
// the burst must stop (first limiting answer).
func (o *burstOutcome) add(status int, retryAfter bool) bool {
	o.Sent++
	switch {
	case status == 429 || status == 503 && retryAfter:
		o.LimitedAt = o.Sent
		o.RetryAfter = retryAfter
		return false
	case status >= 200 && status < 300:
		o.OK++
	default:
		o.Other++
	}
	return true
}

// unlimited reports whether the burst proves there is no limit: no
// limiting answer and at least min requests answered 2xx (other answers,
// such as 401 or 5xx, make the burst inconclusive).
func (o burstOutcome) unlimited(min int) bool {
	return o.LimitedAt == 0 && o.OK >= min && o.Other*10 <= o.Sent
}

// pageSizeNames are query parameters that size a page of results.
var pageSizeNames = map[string]bool{
	"limit": true, "page_size": true, "pagesize": true, "per_page": true, "perpage": true, "size": true,
	"count": true, "max": true, "max_results": true, "maxresults": true, "top": true, "$top": true,
	"take": true, "first": true, "page[size]": true, "page[limit]": true, "rows": true, "num": true,
}

// isPageSizeParam reports whether a query parameter name sizes a page.
func isPageSizeParam(name string) bool {
	return pageSizeNames[strings.ToLower(strings.ReplaceAll(name, "-", "_"))] || strings.EqualFold(name, "pageSize") || strings.EqualFold(name, "perPage")
}

// oversizePage is the page size to ask for when the documented maximum
// is max: far above it (100×) but bounded, so an uncapped API does not
// answer an unbounded body.
func oversizePage(max float64) int {
	n := int(max) * 100
	if n < int(max)+1000 {
		n = int(max) + 1000
	}
	if n > 1_000_000 {
		n = 1_000_000
	}
	return n
}

// urlNames are property and parameter names that carry a URL the API may
// fetch.
var urlNames = []string{
	"url", "uri", "link", "href", "callback", "callback_url", "callbackurl", "webhook", "webhook_url", "webhookurl",
	"avatar_url", "avatarurl", "image_url", "imageurl", "picture_url", "photo_url", "icon_url", "logo_url",
	"redirect", "redirect_uri", "redirect_url", "return_url", "returnurl", "notify_url", "notification_url",
	"endpoint", "target_url", "source_url", "feed", "feed_url", "import_url", "remote_url", "file_url", "download_url",
}

// isURLInput reports whether a property or parameter named name with
// string format format carries a URL.
func isURLInput(name, format string) bool {
	switch strings.ToLower(format) {
	case "uri", "url", "iri", "uri-reference", "iri-reference":
		return true
	}
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	for _, u := range urlNames {
		if n == u {
			return true
		}
	}
	return strings.HasSuffix(n, "_url") || strings.HasSuffix(n, "_uri") || strings.HasSuffix(n, "url") && len(n) > 3 && n != "curl"
}

// flowWords mark business flows in an operation's id or path; moneyWords
// also in its summary (a summary's "register a callback" is not a signup).
var (
	flowWords  = []string{"signup", "sign-up", "register", "invite", "vote", "redeem", "coupon", "voucher", "booking", "reserve"}
	moneyWords = []string{"transfer", "payment", "pay", "checkout", "order", "purchase", "withdraw", "refund", "donate", "deposit", "topup", "top-up"}
)

// flowExtensions are the spec extensions that mark an operation as a
// business flow explicitly.
var flowExtensions = []string{"x-business-flow", "x-apiguard-flow", "x-flow", "x-sensitive-flow"}

// isBusinessFlow reports whether a write operation is a business flow:
// marked by an extension, or its id or path (idPath, lower case) names
// one, or its summary (lower case) names a money movement.
func isBusinessFlow(method, idPath, summary string, ext map[string]any) bool {
	if method != "POST" && method != "PUT" && method != "PATCH" {
		return false
	}
	for _, e := range flowExtensions {
		if v, ok := ext[e]; ok && v != false && v != nil {
			return true
		}
	}
	for _, w := range append(flowWords, moneyWords...) {
		if containsWord(idPath, w) {
			return true
		}
	}
	for _, w := range moneyWords {
		if containsWord(summary, w) {
			return true
		}
	}
	return false
}

// containsWord reports whether text contains w starting at a word
// boundary (so "pay" matches "pay" and "payments" but not "repay"... and
// "order" does not match "border").
func containsWord(text, w string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], w)
		if j < 0 {
			return false
		}
		j += i
		if j == 0 || !isWordByte(text[j-1]) {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// amountNames are numeric properties that carry a quantity of money or
// goods.
var amountNames = []string{"amount", "value", "price", "total", "sum", "quantity", "qty", "units", "credits", "points"}

// isAmountField reports whether a numeric property named name carries an
// amount.
func isAmountField(name string) bool {
	n := strings.ToLower(name)
	for _, a := range amountNames {
		if n == a || strings.HasSuffix(n, "_"+a) || strings.HasPrefix(n, a+"_") {
			return true
		}
	}
	return false
}

// webhookWords mark an operation that registers a URL to be called later.
var webhookWords = []string{"webhook", "callback", "hook", "subscription", "subscribe", "notification", "endpoint"}

// isWebhookRegistration reports whether a write operation registers a
// callback URL (by its id/path/summary text).
func isWebhookRegistration(method, text string) bool {
	if method != "POST" && method != "PUT" {
		return false
	}
	for _, w := range webhookWords {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// triggerWords mark an operation that makes the API call a registered
// callback now.
var triggerWords = []string{"test", "ping", "trigger", "deliver", "redeliver", "send", "fire", "verify"}

// isTrigger reports whether the operation at path (a template) triggers
// a callback registered under regPath: it lives below regPath with a path
// parameter, and its last segment or text names a test/ping/delivery.
func isTrigger(regPath, path, lastSegText string) bool {
	if !strings.HasPrefix(path, strings.TrimRight(regPath, "/")+"/") || !strings.Contains(path[len(regPath):], "{") {
		return false
	}
	for _, w := range triggerWords {
		if strings.Contains(lastSegText, w) {
			return true
		}
	}
	return false
}

// rowsDiffer is the boolean-oracle decision for SQL injection: the
// always-true probe answered 2xx with more rows than both the always-false
// probe and the benign baseline. Counts are itemCount results (-1 when
// the answer had no list); when neither has a list, body sizes decide
// with a margin of a quarter of the larger size.
func rowsDiffer(baseline, truthy, falsy answerShape) bool {
	if !truthy.ok() || !falsy.ok() {
		return false
	}
	if truthy.items >= 0 && falsy.items >= 0 {
		return truthy.items > falsy.items && truthy.items > baseline.items
	}
	if truthy.items < 0 && falsy.items < 0 && baseline.items < 0 {
		margin := max(truthy.size, falsy.size) / 4
		return truthy.size-falsy.size > margin && truthy.size-baseline.size > margin && margin > 0
	}
	return false
}

// answerShape summarises an answer for oracles.
type answerShape struct {
	status, items, size int
	elapsed             time.Duration
}

func (a answerShape) ok() bool { return a.status >= 200 && a.status < 300 }

// errorOracle is the error-based SQL injection decision: the probe with a
// lone quote answered a 5xx or an SQL error message while the baseline
// answered neither, and the doubled quote (an escaped quote, valid SQL)
// did not fail like the lone one. It returns the evidence kind ("" for
// none).
func errorOracle(baseline, quote, doubled answerShape, baseBody, quoteBody, doubledBody string) string {
	if sqlError(baseBody) != "" || baseline.status >= 500 {
		return ""
	}
	kind := sqlError(quoteBody)
	if kind == "" && quote.status < 500 {
		return ""
	}
	if doubled.status >= 500 || sqlError(doubledBody) != "" {
		return ""
	}
	if kind == "" {
		kind = "a " + strconv.Itoa(quote.status) + " answer"
	}
	return kind
}

// timeOracle is the bounded time-based decision: both delayed probes took
// at least delay (less a 10% margin) longer than the slowest baseline.
func timeOracle(baselines []time.Duration, probes []time.Duration, delay time.Duration) bool {
	if len(probes) == 0 || len(baselines) == 0 {
		return false
	}
	var slow time.Duration
	for _, b := range baselines {
		slow = max(slow, b)
	}
	for _, p := range probes {
		if p-slow < delay*9/10 {
			return false
		}
	}
	return true
}

// commandNames are parameter names that may reach a shell.
var commandNames = []string{"cmd", "command", "exec", "host", "hostname", "ip", "addr", "address", "domain", "ping", "file", "filename", "path", "dir", "target"}

// isCommandInput reports whether a string input named name may reach a
// shell command.
func isCommandInput(name string) bool {
	n := strings.ToLower(name)
	for _, c := range commandNames {
		if n == c || strings.HasSuffix(n, "_"+c) {
			return true
		}
	}
	return false
}

// searchNames are parameter names of free-text search inputs, tried first
// by the injection check.
var searchNames = []string{"q", "query", "search", "filter", "term", "keyword", "keywords", "name", "text", "s"}

// isSearchInput reports whether a parameter named name is a search input.
func isSearchInput(name string) bool {
	n := strings.ToLower(name)
	for _, s := range searchNames {
		if n == s {
			return true
		}
	}
	return false
}
