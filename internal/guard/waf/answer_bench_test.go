package waf

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// benchAnswers are the answers of the answer step's benchmarks: a
// typical 1 KiB JSON answer (the request benchmarks' 1 KiB document,
// answered back) and the same with a MySQL error in a member.
var benchAnswers = []struct{ name, body string }{
	{"clean", benchJSON},
	{"leak", strings.Replace(benchJSON, "Dinner with Anna and Bob at the Italian place on Friday",
		"You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version", 1)},
}

// BenchmarkResponseClean is the waf.response step on a clean 1 KiB JSON
// answer, as the gateway runs it (body read through the exchange,
// prefilter); "coraza" is a Coraza transaction over the same answer
// (the cost without the prefilter), "prefilter" the prefilter alone.
func BenchmarkResponseClean(b *testing.B) {
	benchAnswer(b, benchAnswers[0].body, pipeline.Continue)
	// The prefilter is one pass over the body: 16 KiB (a page of
	// transactions) costs about 16 times 1 KiB; a demobank account
	// (116 bytes, the load bench's GET) little more than the fixed part.
	big := "[" + strings.Repeat(benchJSON+",", 15) + benchJSON + "]"
	g := answerGuardForTest(b)
	small := `{"id":101,"owner_id":1,"iban":"DE89370400440532013000","balance":"1520.50","currency":"EUR","name":"Alice checking"}`
	for _, c := range []struct{ name, body string }{{"prefilter_16KiB", big}, {"prefilter_116B", small}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for i := 0; i < b.N; i++ {
				if g.filter.mayMatch("200", c.body) {
					b.Fatal("prefilter answer changed")
				}
			}
		})
	}
}

// BenchmarkResponseLeak is the same with a SQL error in the answer: the
// prefilter cannot clear it, Coraza runs the outbound rules, the answer
// is withheld.
func BenchmarkResponseLeak(b *testing.B) { benchAnswer(b, benchAnswers[1].body, pipeline.Block) }

func benchAnswer(b *testing.B, body string, want pipeline.Action) {
	g := answerGuardForTest(b)
	req := httptest.NewRequest("GET", "/api/v1/transactions", nil)
	data := []byte(body)
	b.Run("step", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			x := pipeline.NewExchange()
			x.Request = req
			resp := &http.Response{StatusCode: 200, Proto: "HTTP/1.1", Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(data)), ContentLength: int64(len(data))}
			v, err := g.Response(context.Background(), x, resp)
			if err != nil || v.Action != want {
				b.Fatalf("Response = %v %q, %v; want %v", v.Action, v.Rule, err, want)
			}
			x.Release()
		}
	})
	b.Run("coraza", func(b *testing.B) {
		// What the step would cost without the prefilter: a Coraza
		// transaction over the answer every time.
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			x := pipeline.NewExchange()
			x.Request = req
			resp := &http.Response{StatusCode: 200, Proto: "HTTP/1.1", Header: http.Header{"Content-Type": {"application/json"}}}
			ids, _, _ := g.run(x, resp, "200", data)
			if (len(ids) > 0) != (want != pipeline.Continue) {
				b.Fatalf("Coraza matched %v", ids)
			}
			x.Release()
		}
	})
	b.Run("prefilter", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if g.filter.mayMatch("200", body) != (want != pipeline.Continue) {
				b.Fatal("prefilter answer changed")
			}
		}
	})
}
