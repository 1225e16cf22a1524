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
		{"empty exclusion", Config{Exclusions: []Exclusion{{Targets: []string{"ARGS:q"}}}}, "exclusions[0]: rules or tags"},
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
