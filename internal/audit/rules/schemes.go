package rules

import (
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func itoa(i int) string { return strconv.Itoa(i) }

// schemeHits returns a hit for every security scheme for which match
// returns a non-empty evidence string, in name order.
func schemeHits(d *Doc, match func(name string, s *yaml.Node) string) []Hit {
	names := make([]string, 0, len(d.Schemes))
	for n := range d.Schemes {
		names = append(names, n)
	}
	sort.Strings(names)
	var hits []Hit
	for _, n := range names {
		if ev := match(n, d.Schemes[n]); ev != "" {
			hits = append(hits, Hit{Node: d.Schemes[n], Pointer: "/components/securitySchemes/" + Escape(n), Evidence: ev})
		}
	}
	return hits
}

func httpScheme(s *yaml.Node) string {
	if Str(s, "type") != "http" {
		return ""
	}
	return strings.ToLower(Str(s, "scheme"))
}
