package openapi

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestLocalRefs(t *testing.T) {
	const doc = `
components:
  schemas:
    A: {$ref: '#/components/schemas/B'}
    B: {type: string, title: b}
    "a/b~c": {title: escaped}
    "sp ace": {title: percent}
    Loop1: {$ref: '#/components/schemas/Loop2'}
    Loop2: {$ref: '#/components/schemas/Loop1'}
  list: [{title: zero}, {title: one}]
refs:
  chain: {$ref: '#/components/schemas/A'}
  escaped: {$ref: '#/components/schemas/a~1b~0c'}
  percent: {$ref: '#/components/schemas/sp%20ace'}
  index: {$ref: '#/components/list/1'}
  external: {$ref: 'other.yaml#/x'}
  dangling: {$ref: '#/components/schemas/Nope'}
  badindex: {$ref: '#/components/list/9'}
  loop: {$ref: '#/components/schemas/Loop1'}
  plain: {title: plain}
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	doc0 := root.Content[0]
	r := NewLocalRefs(doc0)
	for _, tt := range []struct{ key, wantTitle string }{
		{"chain", "b"}, {"escaped", "escaped"}, {"percent", "percent"}, {"index", "one"}, {"plain", "plain"},
		{"external", ""}, {"dangling", ""}, {"badindex", ""}, {"loop", ""},
	} {
		got := r.Resolve(MapGet(MapGet(doc0, "refs"), tt.key))
		title := ""
		if got != nil {
			if n := MapGet(got, "title"); n != nil {
				title = n.Value
			}
		}
		if title != tt.wantTitle || (tt.wantTitle == "") != (got == nil) {
			t.Errorf("Resolve(refs.%s) = %q (nil %v), want %q", tt.key, title, got == nil, tt.wantTitle)
		}
	}
	if r.Resolve(nil) != nil {
		t.Error("Resolve(nil) != nil")
	}
}
