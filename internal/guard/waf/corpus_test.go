package waf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

type corpusCase struct {
	Class   string            `json:"cls"`
	Place   string            `json:"place"`
	Enc     string            `json:"enc"`
	Attack  bool              `json:"attack"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	CType   string            `json:"ctype"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

func loadCorpus(t testing.TB) []corpusCase {
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("corpus line %d: %v", len(out)+1, err)
		}
		out = append(out, c)
	}
	return out
}

// exchangeFor builds the exchange the gateway would give the guard.
func exchangeFor(g *Guard, c corpusCase) *pipeline.Exchange {
	r := httptest.NewRequest(c.Method, c.Path, strings.NewReader(c.Body))
	if c.Body == "" {
		r = httptest.NewRequest(c.Method, c.Path, nil)
	}
	if c.CType != "" {
		r.Header.Set("Content-Type", c.CType)
	}
	r.Header.Set("User-Agent", "demo-client/1.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl")
	for k, v := range c.Headers {
		r.Header.Set(k, v)
	}
	x := pipeline.NewExchange()
	x.Request = r
	x.Path = r.URL.Path
	x.Operation, x.PathParams, _ = g.spec.Match(r.Method, r.URL.Path, nil)
	return x
}

// TestCorpus runs the detection corpus through the guard at paranoia 1,
// prints true- and false-positive rates per class and placement, and
// checks the fast path against Coraza on every request: when the
// prefilter lets a request through without Coraza, Coraza on the whole
// request must let it through too.
func TestCorpus(t *testing.T) {
	g := guardForTest(t)
	cases := loadCorpus(t)
	type cell struct{ n, hit int }
	table := map[string]*cell{}
	var tp, attacks, fp, benign, fast, checked int
	for idx, c := range cases {
		x := exchangeFor(g, c)
		v, err := g.Request(context.Background(), x)
		x.Release()
		if err != nil {
			t.Fatalf("Request(%s %s) error = %v", c.Method, c.Path, err)
		}
		hit := v.Action != pipeline.Continue
		for _, key := range []string{c.Class + " / " + c.Place + " / " + c.Enc, "class " + c.Class, "placement " + c.Place + " (" + kind(c.Attack) + ")"} {
			if table[key] == nil {
				table[key] = &cell{}
			}
			table[key].n++
			if hit {
				table[key].hit++
			}
		}
		if c.Attack {
			attacks++
			if hit {
				tp++
			} else {
				t.Logf("missed %s %s: %s %s %.80q", c.Class, c.Place, c.Method, c.Path, c.Body)
			}
		} else {
			benign++
			if hit {
				fp++
				t.Logf("false positive %s: %s %s %.80q: %s %s", c.Place, c.Method, c.Path, c.Body, v.Rule, v.Detail)
			}
		}
		// Differential check of the prefilter against Coraza (under the
		// race detector, where Coraza is slow, on every 8th case).
		if raceEnabled && idx%8 != 0 {
			continue
		}
		checked++
		x = exchangeFor(g, c)
		full := g.fullOnly(x)
		fastOnly := g.fastDecided(x)
		x.Release()
		if fastOnly {
			fast++
			if full.Action != pipeline.Continue && !hit {
				t.Errorf("prefilter cleared %s %s %.80q but Coraza blocks it: %s", c.Method, c.Path, c.Body, full.Detail)
			}
		}
	}
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "\n| class / placement / encoding | requests | flagged | rate |\n|---|---:|---:|---:|\n")
	for _, k := range keys {
		c := table[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f %% |\n", k, c.n, c.hit, 100*float64(c.hit)/float64(c.n))
	}
	tpr := 100 * float64(tp) / float64(attacks)
	fpr := 100 * float64(fp) / float64(benign)
	fmt.Fprintf(&b, "\nattacks %d, detected %d (TP %.1f %%); legitimate %d, flagged %d (FP %.2f %%); decided by the prefilter without Coraza: %d of %d checked against Coraza\n",
		attacks, tp, tpr, benign, fp, fpr, fast, checked)
	t.Log(b.String())
	if tpr < 95 {
		t.Errorf("true-positive rate = %.1f %%, want >= 95 %%", tpr)
	}
	// No class of attack and no placement may hide behind the others.
	for _, k := range keys {
		c := table[k]
		if (strings.HasPrefix(k, "class ") && k != "class benign" || strings.HasSuffix(k, "(attacks)")) && c.hit*100 < 90*c.n {
			t.Errorf("%s: %d of %d detected, want >= 90 %%", k, c.hit, c.n)
		}
	}
	if fpr > 1 {
		t.Errorf("false-positive rate = %.2f %%, want <= 1 %%", fpr)
	}
}

func kind(attack bool) string {
	if attack {
		return "attacks"
	}
	return "legitimate"
}
