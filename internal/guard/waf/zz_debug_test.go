package waf

import (
	"fmt"
	"testing"
)

func TestZZDebug(t *testing.T) {
	g := guardForTest(t)
	for _, q := range benchReqs {
		pr := newBenchRequest(q)
		r := pr.r
		r.Body = ioNopCloser(q.body)
		x := exchangeFor(g, corpusCase{Method: q.method, Path: q.target, CType: q.ctype, Body: q.body})
		in, _, _, _ := g.collect(x)
		g.headerInputs(r, &in)
		for _, i := range in {
			if !inSigma(i.value) {
				fmt.Printf("%s: not sigma %s %s=%q\n", q.name, i.col, i.name, i.value)
				continue
			}
			links := g.argLinks
			switch i.col {
			case "ARGS_GET_NAMES", "ARGS_POST_NAMES":
				links = g.nameLinks
			case "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES":
				links = g.cookieLinks
			case "ARGS_PATH", "REQUEST_FILENAME":
				links = g.pathLinks
			}
			for _, l := range links {
				if tr := l.evalValue(i.value); tr != no {
					fmt.Printf("%s: %s %s=%q link op=%s tr=%d transforms=%v arg=%.80s\n", q.name, i.col, i.name, i.value, l.op, tr, l.transforms, l.arg)
				}
			}
		}
		x.Release()
	}
	fmt.Println("argLinks", len(g.argLinks), "pathLinks", len(g.pathLinks), "names", len(g.nameLinks), "allHeader", len(g.allHeaderLinks))
	for k, v := range g.headerLinks {
		fmt.Println("header", k, len(v))
	}
}
