package waf

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestZZLinks(t *testing.T) {
	g := guardForTest(t)
	ops := map[string]int{}
	tr := map[string]int{}
	chains := map[string]int{}
	n := 0
	for _, r := range g.rules {
		if r.severity == "" || r.paranoia > g.pl || optionalCheck(r) {
			continue
		}
		for _, l := range r.links {
			if !l.value {
				continue
			}
			n++
			ops[l.op]++
			chains[strings.Join(l.transforms, ",")+fmt.Sprint(l.multiMatch)]++
			for _, x := range l.transforms {
				tr[x]++
			}
		}
	}
	fmt.Println("value links", n, ops)
	var ks []string
	for k := range tr {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	fmt.Println(ks)
	fmt.Println("chains", len(chains))
	for _, l := range g.argLinks {
		fmt.Printf("live %s mm=%v %v %.60s\n", l.op, l.multiMatch, l.transforms, l.arg)
	}
}
