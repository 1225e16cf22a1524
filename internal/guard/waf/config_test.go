package waf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/pipeline"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"paranoia too high", Config{ParanoiaLevel: 5}, "paranoia_level"},
		{"negative threshold", Config{InboundThreshold: -1}, "inbound_threshold"},
		{"bad rule id", Config{Exclusions: []Exclusion{{Rules: []string{"abc"}}}}, "exclusions[0]: rules"},
		{"empty exclusion", Config{Exclusions: []Exclusion{{Operations: []string{"createTransfer"}}}}, "exclusions[0]: rules, tags or targets"},
		{"bad target regexp", Config{Exclusions: []Exclusion{{Targets: []string{"ARGS:/json.(/"}}}}, "exclusions[0]: targets"},
		{"target without collection", Config{Exclusions: []Exclusion{{Targets: []string{":memo"}}}}, "exclusions[0]: targets"},
		{"missing rules file", Config{RulesFile: "/nonexistent/rules.conf"}, "rules_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newGuard(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newGuard(%+v) error = %v, want one containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestRulesFileAndDetectionOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "extra.conf")
	rule := `SecRule ARGS "@contains forbiddenword" "id:1000,phase:2,pass,log,msg:'house rule',severity:'CRITICAL'"` + "\n"
	if err := os.WriteFile(path, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	// One guard (building the CRS is slow under -race): detection_only
	// from the config, then switched off to see the same rule block.
	g, err := newGuard(Config{RulesFile: path, DetectionOnly: true}, guardForTest(t).spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, detectionOnly := range []bool{true, false} {
		g.observe = detectionOnly
		v := run(t, g, "GET", "/api/v1/search?q=forbiddenword", "", "")
		want := pipeline.Block
		if detectionOnly {
			want = pipeline.Observe
		}
		if v.Action != want || v.Rule != "waf.1000" {
			t.Errorf("detection_only=%v: Request(q=forbiddenword) = %v %q, want %v waf.1000", detectionOnly, v.Action, v.Rule, want)
		}
	}
}

// TestExclusionTargets checks the target forms of exclusions on a real
// false positive: a code snippet in a transfer memo (CRS 942230).
func TestExclusionTargets(t *testing.T) {
	spec := guardForTest(t).spec
	body := `{"from_account_id":101,"to_account_id":202,"amount":5,"currency":"EUR","memo":"Code: ` + "`if (a < b) { return a; }`" + `"}`
	tests := []struct {
		name string
		excl []Exclusion
		want pipeline.Action
	}{
		{"no exclusion", nil, pipeline.Block},
		{"rule on the JSON name", []Exclusion{{Rules: []string{"942230"}, Targets: []string{"ARGS:json.memo"}}}, pipeline.Continue},
		{"rule on the plain name", []Exclusion{{Rules: []string{"942230"}, Targets: []string{"ARGS:memo"}}}, pipeline.Continue},
		{"target alone", []Exclusion{{Targets: []string{"ARGS:memo"}}}, pipeline.Continue},
		{"target alone, regexp", []Exclusion{{Targets: []string{`ARGS:/^json\.mem/`}}}, pipeline.Continue},
		{"target alone, on the operation", []Exclusion{{Operations: []string{"createTransfer"}, Targets: []string{"ARGS:memo"}}}, pipeline.Continue},
		{"target alone, another operation", []Exclusion{{Operations: []string{"search"}, Targets: []string{"ARGS:memo"}}}, pipeline.Block},
		{"another field", []Exclusion{{Targets: []string{"ARGS:currency"}}}, pipeline.Block},
		{"a query argument of that name only", []Exclusion{{Targets: []string{"ARGS_GET:memo"}}}, pipeline.Block},
		{"regexp matching another field", []Exclusion{{Targets: []string{`ARGS:/^json\.cur/`}}}, pipeline.Block},
		{"another rule", []Exclusion{{Rules: []string{"942100"}, Targets: []string{"ARGS:memo"}}}, pipeline.Block},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newGuard(Config{Exclusions: tt.excl}, spec)
			if err != nil {
				t.Fatal(err)
			}
			v := run(t, g, "POST", "/api/v1/transfers", "application/json", body)
			if v.Action != tt.want {
				t.Errorf("exclusions %+v: %v %q %s, want %v", tt.excl, v.Action, v.Rule, v.Detail, tt.want)
			}
		})
	}
}
