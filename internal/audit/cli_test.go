package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/cli"
)

// TestAuditCommand runs `apiguard audit` through the real command tree.
func TestAuditCommand(t *testing.T) {
	fail := filepath.Join("rules", "testdata", "audit.http-server", "fail.json")
	clean := filepath.Join("rules", "testdata", "audit.http-server", "pass.json")
	out := filepath.Join(t.TempDir(), "report.sarif")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"text", []string{"audit", fail}, 0, "audit.http-server"},
		{"fix suggestions", []string{"audit", fail, "--fix-suggestions"}, 0, "FIX SUGGESTIONS"},
		{"json", []string{"audit", fail, "--format", "json"}, 0, `"score"`},
		{"junit", []string{"audit", fail, "--format", "junit"}, 0, "<testsuites"},
		{"html", []string{"audit", fail, "--format", "html"}, 0, "<!DOCTYPE html>"},
		{"sarif to file", []string{"audit", fail, "--format", "sarif", "--output", out}, 0, ""},
		{"below threshold", []string{"audit", fail, "--fail-below", "100"}, 1, "audit.http-server"},
		{"clean above threshold", []string{"audit", clean, "--fail-below", "100"}, 0, "score: 100/100"},
		{"missing file", []string{"audit", "no-such-file.yaml"}, 2, ""},
		{"bad format", []string{"audit", fail, "--format", "xml"}, 2, ""},
		{"bad threshold", []string{"audit", fail, "--fail-below", "101"}, 2, ""},
		{"no file", []string{"audit"}, 2, ""},
		{"disable", []string{"audit", fail, "--disable", "audit.http-server", "--fail-below", "100"}, 0, "score: 100/100"},
		{"severity override", []string{"audit", fail, "--severity", "audit.http-server=low"}, 0, "LOW (1)"},
		{"bad severity", []string{"audit", fail, "--severity", "audit.http-server=huge"}, 2, ""},
		{"unknown rule", []string{"audit", fail, "--disable", "audit.nope"}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("Main(%q) = %d, want %d (stderr %q)", tc.args, code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Errorf("Main(%q) stdout = %q, want it to contain %q", tc.args, stdout.String(), tc.wantOut)
			}
		})
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("reading %s: %v", out, err)
	}
	var log map[string]any
	if err := json.Unmarshal(data, &log); err != nil || log["version"] != "2.1.0" {
		t.Errorf("--output sarif = %v, version %v, want a SARIF 2.1.0 log", err, log["version"])
	}
}
