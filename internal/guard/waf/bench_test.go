package waf

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// The benchmark requests: a GET with a few parameters and a 1 KiB JSON
// POST, clean and with an attack.
var benchJSON = `{"from_account_id":101,"to_account_id":202,"amount":12.5,"currency":"EUR","memo":"Dinner with Anna and Bob at the Italian place on Friday","tags":["food","friends","weekend"],"meta":{"device":"iPhone 15","app_version":"3.2.1","locale":"en-GB","note":"Split three ways, paid by card","items":[{"name":"Pizza margherita","qty":2,"price":9.5},{"name":"Tiramisu","qty":1,"price":6},{"name":"Sparkling water","qty":2,"price":3.5}]},"reference":"INV-2024-000123","counterparty":"Trattoria da Mario","category":"restaurants","description":"A long description of the payment that has several words in it for padding the body to a kilobyte, nothing special at all here really, only letters and digits 1234567890","created":"2024-05-01T12:00:00Z","id":"6f1c2b7e-8a4d-4e7b-9c1a-2b3c4d5e6f70","flags":{"recurring":false,"shared":true},"notes":["first note here","second note, a bit longer than the first","third"]}`

type benchReq struct {
	name, method, target, ctype, body string
}

var benchReqs = []benchReq{
	{"GET_clean", "GET", "/api/v1/transactions?limit=20&offset=40", "", ""},
	{"GET_search_clean", "GET", "/api/v1/search?q=coffee+beans", "", ""},
	{"GET_attack", "GET", "/api/v1/search?q=%27+OR+1%3D1--", "", ""},
	{"POST_transfer_clean", "POST", "/api/v1/transfers", "application/json", `{"from_account_id":101,"to_account_id":202,"amount":12.5,"currency":"EUR","memo":"Dinner with Anna, Bob and Chris at Mario's place"}`},
	{"POST_1KiB_clean", "POST", "/api/v1/transfers", "application/json", benchJSON},
	{"POST_1KiB_apostrophe", "POST", "/api/v1/transfers", "application/json", strings.Replace(benchJSON, "Dinner with Anna", "Dinner at O'Brien's", 1)},
	{"POST_1KiB_attack", "POST", "/api/v1/transfers", "application/json", strings.Replace(benchJSON, "Dinner with Anna", "<script>alert(1)</script>", 1)},
	{"POST_order_clean", "POST", "/api/v1/transfer-orders", "application/json", string(demobank.ExampleTransferOrder)},
}

func newBenchRequest(q benchReq) *pipelineRequest {
	r := httptest.NewRequest(q.method, q.target, strings.NewReader(q.body))
	if q.body != "" {
		r.Header.Set("Content-Type", q.ctype)
		r.Header.Set("Content-Length", "1024")
	}
	r.Header.Set("Host", "bank.example")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl")
	return &pipelineRequest{r: r, body: q.body}
}

type pipelineRequest struct {
	r    *httpRequest
	body string
}

// BenchmarkGuard is the guard on the benchmark requests.
func BenchmarkGuard(b *testing.B) {
	g := guardForTest(b)
	for _, q := range benchReqs {
		b.Run(q.name, func(b *testing.B) {
			pr := newBenchRequest(q)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := pr.r.Clone(context.Background())
				r.Body = ioNopCloser(q.body)
				x := pipeline.NewExchange()
				x.Request, x.Path = r, r.URL.Path
				x.Operation, x.PathParams, _ = g.spec.Match(r.Method, r.URL.Path, x.PathParams)
				if _, err := g.Request(context.Background(), x); err != nil {
					b.Fatal(err)
				}
				x.Release()
			}
		})
	}
}

// BenchmarkNaiveCoraza is Coraza with the same CRS at paranoia 1 on the
// same requests, the way a plain middleware runs it: every rule on every
// input, Coraza's own JSON body processor.
func BenchmarkNaiveCoraza(b *testing.B) {
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(`
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900200,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
SecAction "id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4250"
Include @owasp_crs/REQUEST-*.conf
`))
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range benchReqs {
		b.Run(q.name, func(b *testing.B) {
			pr := newBenchRequest(q)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := pr.r
				tx := w.NewTransaction()
				tx.ProcessConnection("10.0.0.1", 40000, "10.0.0.2", 8080)
				tx.ProcessURI(r.URL.RequestURI(), r.Method, "HTTP/1.1")
				tx.AddRequestHeader("Host", "bank.example")
				for k, vs := range r.Header {
					for _, v := range vs {
						tx.AddRequestHeader(k, v)
					}
				}
				tx.ProcessRequestHeaders()
				if q.body != "" {
					_, _, _ = tx.WriteRequestBody([]byte(q.body))
				}
				_, _ = tx.ProcessRequestBody()
				tx.ProcessLogging()
				_ = tx.Close()
			}
		})
	}
}

// BenchmarkGuardFresh is the guard on requests whose free-text values
// differ on every iteration (a search term, a 1 KiB JSON body's texts),
// so the per-value memo cannot answer: the prefilter's cost on text it
// has not seen.
func BenchmarkGuardFresh(b *testing.B) {
	g := guardForTest(b)
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett"}
	text := func(i int) string {
		return words[i%10] + " " + words[(i/10)%10] + " " + words[(i/100)%10] + " " + strconv.Itoa(i)
	}
	cases := []struct {
		name string
		req  func(i int) benchReq
	}{
		{"GET_search", func(i int) benchReq {
			return benchReq{"", "GET", "/api/v1/search?q=" + url.QueryEscape(text(i)), "", ""}
		}},
		{"POST_1KiB", func(i int) benchReq {
			r := strings.NewReplacer("Dinner with Anna", "Dinner with "+text(i), "nothing special", text(i+1),
				"Split three ways", "Split "+text(i+2), "second note", "note "+text(i+3))
			return benchReq{"", "POST", "/api/v1/transfers", "application/json", r.Replace(benchJSON)}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				q := c.req(i + 1000*b.N)
				r := newBenchRequest(q).r
				x := pipeline.NewExchange()
				x.Request, x.Path = r, r.URL.Path
				x.Operation, x.PathParams, _ = g.spec.Match(r.Method, r.URL.Path, x.PathParams)
				v, err := g.Request(context.Background(), x)
				if err != nil || v.Action != pipeline.Continue {
					b.Fatalf("Request(%s) = %v, %v, want a pass", c.name, v, err)
				}
				x.Release()
			}
		})
	}
}
