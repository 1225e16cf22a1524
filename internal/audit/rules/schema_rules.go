package rules

import "go.yaml.in/yaml/v3"

// schemaHits returns the hits of match over every schema written in the
// document (each visited once).
func schemaHits(d *Doc, match func(s *yaml.Node, prop string, root SchemaRoot) string) []Hit {
	if !d.allDone {
		d.allDone = true
		for i := range d.SchemaRoots {
			r := &d.SchemaRoots[i]
			WalkSchema(r.Node, r.Pointer, func(s *yaml.Node, ptr, prop string) {
				d.all = append(d.all, rootVisit{Visit{Node: s, Pointer: ptr, Prop: prop}, r})
			})
		}
	}
	var hits []Hit
	for _, v := range d.all {
		if ev := match(v.Node, v.Prop, *v.root); ev != "" {
			hits = append(hits, Hit{Node: v.Node, Pointer: v.Pointer, Operation: v.root.Op, Evidence: ev})
		}
	}
	return hits
}

// bounded reports a schema limited to listed values.
func bounded(s *yaml.Node) bool {
	return Has(s, "enum") || Has(s, "const")
}
