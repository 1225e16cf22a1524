package rules

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// serverHits returns a hit for every server (top-level, path-item and
// operation servers are not separated) for which match returns evidence.
func serverHits(d *Doc, match func(url string, s *yaml.Node) string) []Hit {
	var hits []Hit
	servers := Get(d.Root, "servers")
	if servers == nil || servers.Kind != yaml.SequenceNode {
		return nil
	}
	for i, s := range servers.Content {
		if ev := match(Str(s, "url"), s); ev != "" {
			hits = append(hits, Hit{Node: s, Pointer: "/servers/" + strconv.Itoa(i), Evidence: ev})
		}
	}
	return hits
}
