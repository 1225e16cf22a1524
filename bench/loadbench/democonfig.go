package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// benchRate replaces the demobank example's request rate limits: far above
// what the machine can serve, so that the bench measures the inspection
// path, not 429 answers.
const benchRate = "1000000/s burst 1000000"

// wafSection is the waf section of docs/waf.md's demobank example, added
// when the example config has none yet.
const wafSection = `paranoia_level: 1
inbound_threshold: 5
exclusions:
  - operations: [createTransfer]
    rules: ["942230"]
    targets: ["ARGS:json.memo"]
`

// benchDemobankConfig returns the demobank example config (src, from
// directory dir) rewritten for a throughput measurement of the full
// protection profile, and a note per change; upstream, when not "",
// replaces every API's upstream URLs (the token issuer stays demobank):
//   - the flows section is removed: its business quota (5 transfers per hour
//     per principal) would answer 429 to all but the first transfers;
//   - every rate limit rule that applies to all operations gets benchRate
//     (rules scoped to some operations, such as login's, are kept);
//   - a waf section is added from docs/waf.md when the example has none;
//   - a relative spec path is made absolute, since the copy lives elsewhere.
//
// Everything else (authn, authz, schema, limits, ssrf, headers, errors,
// dlp) is kept as it is.
func benchDemobankConfig(src []byte, dir, upstream string) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil, fmt.Errorf("demobank bench config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, errors.New("demobank bench config: want a mapping at the top")
	}
	apis := mapValue(doc.Content[0], "apis")
	if apis == nil || apis.Kind != yaml.SequenceNode || len(apis.Content) == 0 {
		return nil, nil, errors.New("demobank bench config: no apis")
	}
	var notes []string
	for i, api := range apis.Content {
		if api.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("demobank bench config: apis[%d]: want a mapping", i)
		}
		if spec := mapValue(api, "spec"); spec != nil && spec.Kind == yaml.ScalarNode && spec.Value != "" && !filepath.IsAbs(spec.Value) {
			spec.Value = filepath.Join(dir, spec.Value)
		}
		if upstream != "" {
			up := mapValue(api, "upstream")
			if up == nil || up.Kind != yaml.MappingNode {
				return nil, nil, fmt.Errorf("demobank bench config: apis[%d]: no upstream", i)
			}
			urls := mapValue(up, "urls")
			if urls == nil {
				return nil, nil, fmt.Errorf("demobank bench config: apis[%d]: no upstream urls", i)
			}
			*urls = yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
				Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: upstream, Style: yaml.DoubleQuotedStyle}}}
		}
		guards := mapValue(api, "guards")
		if guards == nil || guards.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("demobank bench config: apis[%d]: no guards", i)
		}
		if deleteKey(guards, "flows") {
			notes = append(notes, "flows section removed (its quota of 5 transfers per hour per principal would answer 429)")
		}
		if n, err := raiseRateLimits(guards); err != nil {
			return nil, nil, fmt.Errorf("demobank bench config: apis[%d]: %w", i, err)
		} else if n > 0 {
			notes = append(notes, fmt.Sprintf("%d rate limit rule(s) applying to every operation raised to %q", n, benchRate))
		}
		if waf := mapValue(guards, "waf"); waf == nil {
			var sec yaml.Node
			if err := yaml.Unmarshal([]byte(wafSection), &sec); err != nil {
				return nil, nil, fmt.Errorf("demobank bench config: %w", err)
			}
			guards.Content = append(guards.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "waf"}, sec.Content[0])
			notes = append(notes, "the example config has no waf section yet: added docs/waf.md's (paranoia 1, threshold 5, 942230 excluded on createTransfer's memo)")
		} else {
			notes = append(notes, "waf section of the example config kept as it is")
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, fmt.Errorf("demobank bench config: %w", err)
	}
	return out, notes, nil
}

// raiseRateLimits sets the limits of every ratelimit rule without an
// operations list to benchRate and returns how many it changed.
func raiseRateLimits(guards *yaml.Node) (int, error) {
	rl := mapValue(guards, "ratelimit")
	if rl == nil {
		return 0, nil
	}
	rules := mapValue(rl, "rules")
	if rules == nil {
		return 0, nil
	}
	if rules.Kind != yaml.SequenceNode {
		return 0, errors.New("guards.ratelimit.rules: want a list")
	}
	n := 0
	for j, rule := range rules.Content {
		if rule.Kind != yaml.MappingNode {
			return 0, fmt.Errorf("guards.ratelimit.rules[%d]: want a mapping", j)
		}
		if ops := mapValue(rule, "operations"); ops != nil && len(ops.Content) > 0 {
			continue
		}
		limits := mapValue(rule, "limits")
		if limits == nil {
			continue
		}
		*limits = yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: benchRate, Style: yaml.DoubleQuotedStyle}}}
		n++
	}
	return n, nil
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// deleteKey removes key from mapping m and reports whether it was there.
func deleteKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}
