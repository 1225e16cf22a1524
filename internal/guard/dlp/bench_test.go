package dlp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// answer10K is a realistic 10 KiB JSON answer: a page of transactions
// with prose memos, amounts, dates, IBANs and one SSN to mask.
func answer10K(tb testing.TB) []byte {
	type tx struct {
		ID        int      `json:"id"`
		AccountID int      `json:"account_id"`
		Amount    float64  `json:"amount"`
		Currency  string   `json:"currency"`
		Memo      string   `json:"memo"`
		IBAN      string   `json:"counterparty_iban"`
		CreatedAt string   `json:"created_at"`
		Tags      []string `json:"tags"`
	}
	var page struct {
		Items []tx   `json:"items"`
		Owner string `json:"owner_ssn"`
		Next  string `json:"next"`
	}
	page.Owner = "078-05-1120"
	page.Next = "/api/v1/transactions?cursor=eyJpZCI6MTIzfQ"
	for i := 0; len(page.Items) < 200; i++ {
		page.Items = append(page.Items, tx{ID: 100000 + i, AccountID: 101, Amount: float64(i) * 1.25, Currency: "EUR",
			Memo: fmt.Sprintf("Payment %d for invoice INV-2024-%04d, thank you!", i, i), IBAN: "DE89370400440532013000",
			CreatedAt: "2024-05-01T10:00:00Z", Tags: []string{"groceries", "card"}})
		b, _ := json.Marshal(page)
		if len(b) > 10<<10 {
			page.Items = page.Items[:len(page.Items)-1]
			break
		}
	}
	b, err := json.Marshal(page)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkScan10KiB(b *testing.B) {
	body := answer10K(b)
	g := testGuard(b, Config{})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		res := g.scanBody(body, true, g.api)
		if res.total == 0 {
			b.Fatal("nothing found")
		}
	}
}

func BenchmarkScan10KiBClean(b *testing.B) {
	body := answer10K(b)
	g := testGuard(b, Config{Fields: map[string]string{"owner_ssn": "allow"}, Detectors: map[string]string{"iban": "off"}})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if res := g.scanBody(body, true, g.api); res.total != 0 {
			b.Fatal(describe(res))
		}
	}
}

// BenchmarkResponse10KiB is the whole answer step on the 10 KiB answer:
// reading the body, the scan, the masked body swapped in, the events.
// Issue 5's budget is 100 µs; BenchmarkCopy10KiB, reading the same answer
// without the guard, is the baseline in the same run.
func BenchmarkResponse10KiB(b *testing.B) {
	body := answer10K(b)
	g := testGuard(b, Config{})
	g.emit = func(events.Event) {}
	g.now = pipeline.NewServices(pipeline.Services{}).Now
	req := httptest.NewRequest("GET", "/api/v1/transactions", nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		x := pipeline.NewExchange()
		x.Request = req
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		if _, err := g.Response(context.Background(), x, resp); err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		if bytes.Contains(out, []byte("078-05-1120")) {
			b.Fatal("the SSN was not masked")
		}
		x.Release()
	}
}

// BenchmarkCopy10KiB reads the same answer without the guard.
func BenchmarkCopy10KiB(b *testing.B) {
	body := answer10K(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		if out, _ := io.ReadAll(resp.Body); len(out) != len(body) {
			b.Fatal("short read")
		}
	}
}
