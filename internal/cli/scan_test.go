package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

const demobankSpec = "../../examples/demobank/openapi.yaml"

func TestScanUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"scan", "--spec", demobankSpec, "--user", "a:b"}, "--spec and --target are required"},
		{"no user", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1"}, "at least one --user"},
		{"bad user", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1", "--user", "alice"}, "want NAME:PASSWORD"},
		{"bad header user", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1", "--header-user", "alice"}, "want NAME='Header: value'"},
		{"bad format", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1", "--user", "a:b", "--format", "pdf"}, "--format"},
		{"bad fail-on", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1", "--user", "a:b", "--fail-on", "severe"}, "--fail-on"},
		{"unknown check", []string{"scan", "--spec", demobankSpec, "--target", "http://127.0.0.1:1", "--user", "a:b", "--check", "scan.nope"}, "unknown check"},
		{"bad target", []string{"scan", "--spec", demobankSpec, "--target", "ftp://x", "--user", "a:b"}, "want an http(s) base URL"},
		{"missing spec", []string{"scan", "--spec", "nope.yaml", "--target", "http://127.0.0.1:1", "--user", "a:b"}, "nope.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), c.args, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), c.want) {
				t.Errorf("Main(%v) = %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
			}
			if strings.Contains(errb.String(), "alice-pass") {
				t.Errorf("stderr shows a password: %s", errb.String())
			}
		})
	}
}

func TestScanListChecks(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"scan", "--list-checks"}, &out, &errb); code != 0 {
		t.Fatalf("scan --list-checks = %d, stderr %s", code, errb.String())
	}
	for _, rule := range []string{"scan.bola", "scan.auth.alg_none", "scan.mass_assignment", "scan.bfla"} {
		if !strings.Contains(out.String(), rule) {
			t.Errorf("--list-checks output lacks %s:\n%s", rule, out.String())
		}
	}
}

// The command end to end: demobank directly and through apiguard with the
// example profile, compared; JSON report to a file; --fail-on.
func TestScanCompareGateway(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: "../../examples/demobank/apiguard.yaml"})
	out := filepath.Join(t.TempDir(), "report.json")
	args := []string{"scan", "--spec", demobankSpec, "--target", env.BankURL, "--compare-gateway", env.URL,
		"--user", "alice:alice-pass", "--user", "bob:bob-pass", "--admin", "admin:admin-pass",
		"--allow-destructive", "--format", "json", "--output", out, "--fail-on", "critical",
		"--check", "scan.bola", "--check", "scan.auth.alg_none", "--check", "scan.bfla"}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("scan wrote no report (exit %d, stderr %s): %v", code, stderr.String(), err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, data)
	}
	if rep.Gateway != env.URL {
		t.Errorf("report gateway = %q, want %q", rep.Gateway, env.URL)
	}
	closed := map[string]bool{}
	for _, f := range rep.Findings {
		switch f.Gateway {
		case report.GatewayClosed, report.GatewayRemaining, report.GatewayOnly:
		default:
			t.Errorf("finding %s at %s: gateway = %q", f.Rule, f.Location.URL, f.Gateway)
		}
		if f.Gateway == report.GatewayClosed {
			closed[f.Rule] = true
		}
		if strings.Contains(f.Reproduce, "alice-pass") || strings.Contains(string(data), "alice-pass") {
			t.Errorf("the report shows a password")
		}
	}
	for _, rule := range []string{"scan.bola", "scan.auth.alg_none", "scan.bfla"} {
		if !closed[rule] {
			t.Errorf("no %s finding marked closed by apiguard; findings: %s", rule, data)
		}
	}
	wantCode := 0
	for _, f := range scan.Remaining(&rep) {
		if f.Severity.Rank() >= report.Critical.Rank() {
			wantCode = 1
		}
	}
	if code != wantCode {
		t.Errorf("exit code = %d, want %d (stderr %s)", code, wantCode, stderr.String())
	}
	if !strings.Contains(stderr.String(), "through apiguard") || !strings.Contains(stderr.String(), "report in "+out) {
		t.Errorf("stderr = %q, want the progress lines and the summary", stderr.String())
	}
}

// --fail-on against the vulnerable demobank: critical findings exit 1,
// and the text report goes to stdout.
func TestScanFailOn(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	args := []string{"scan", "--spec", demobankSpec, "--target", env.BankURL, "--user", "alice:alice-pass", "--user", "bob:bob-pass",
		"--check", "scan.auth.alg_none", "--fail-on", "high", "--no-progress"}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), args, &stdout, &stderr); code != 1 {
		t.Fatalf("scan --fail-on high = %d, want 1; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "scan.auth.alg_none") || strings.Contains(stderr.String(), "scan: [") {
		t.Errorf("stdout = %q, stderr = %q; want the text report and no progress", stdout.String(), stderr.String())
	}
	args = []string{"scan", "--spec", demobankSpec, "--target", env.BankURL, "--user", "alice:alice-pass", "--user", "bob:bob-pass",
		"--admin", "admin:admin-pass", "--check", "scan.bfla", "--fail-on", "critical", "--no-progress"}
	stdout.Reset()
	stderr.Reset()
	if code := Main(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Errorf("scan without alg_none, --fail-on critical = %d, want 0; stdout %s stderr %s", code, stdout.String(), stderr.String())
	}
}
