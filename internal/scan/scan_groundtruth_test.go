package scan_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard, as in the binary
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
	"github.com/apiguard/apiguard/internal/scan/checks"
)

// The scanner against the ground truth of docs/demobank.md: every planted
// vulnerability found against the vulnerable demobank, each by the
// expected rule and category; none of the rows that
// examples/demobank/apiguard.yaml closes reported through apiguard; and
// nothing above low against the fixed demobank.

// truthRow is one ground-truth row and how the scanner must report it.
type truthRow struct {
	id string
	// rule and category the finding must carry; check is the rule id of
	// the check (in checks.All) that reports it.
	rule, category, check string
	// ops are the operations ("METHOD /template") where the finding may
	// be located; none means any endpoint.
	ops []string
	// open is true for the rows the demobank profile leaves open.
	open bool
}

// groundTruth maps every row of docs/demobank.md to its rule.
var groundTruth = []truthRow{
	{id: "DB-01", rule: "scan.bola", category: "API1", check: "scan.bola", ops: []string{"GET /api/v1/users/{userId}"}},
	{id: "DB-02", rule: "scan.bola", category: "API1", check: "scan.bola", ops: []string{"GET /api/v1/accounts/{accountId}"}},
	{id: "DB-03", rule: "scan.bola", category: "API1", check: "scan.bola", ops: []string{"POST /api/v1/transfers"}},
	{id: "DB-04", rule: "scan.data_exposure", category: "API3", check: "scan.data_exposure", ops: []string{"GET /api/v1/users/{userId}", "GET /api/v1/admin/users", "GET /api/v0/users/{userId}"}},
	{id: "DB-05", rule: "scan.mass_assignment", category: "API3", check: "scan.mass_assignment", ops: []string{"PATCH /api/v1/users/{userId}"}},
	{id: "DB-06", rule: "scan.bola", category: "API1", check: "scan.bola", ops: []string{"PATCH /api/v1/users/{userId}"}},
	{id: "DB-07", rule: "scan.auth.expired_token", category: "API2", check: "scan.auth.expired_token"},
	{id: "DB-08", rule: "scan.auth.alg_none", category: "API2", check: "scan.auth.alg_none"},
	{id: "DB-09", rule: "scan.auth.credentials_in_url", category: "API2", check: "scan.auth.credentials_in_url"},
	{id: "DB-10", rule: "scan.auth.no_lockout", category: "API2", check: "scan.auth.no_lockout", ops: []string{"POST /api/v1/auth/login"}},
	{id: "DB-11", rule: "scan.page-size", category: "API4", check: "scan.resources", ops: []string{"GET /api/v1/transactions"}},
	{id: "DB-12", rule: "scan.business-logic", category: "API6", check: "scan.business-flows", ops: []string{"POST /api/v1/transfers"}},
	{id: "DB-13", rule: "scan.flow-quota", category: "API6", check: "scan.business-flows", ops: []string{"POST /api/v1/transfers"}},
	{id: "DB-14", rule: "scan.bfla", category: "API5", check: "scan.bfla", ops: []string{"GET /api/v1/admin/users"}},
	{id: "DB-15", rule: "scan.ssrf", category: "API7", check: "scan.ssrf", ops: []string{"POST /api/v1/users/{userId}/avatar/import"}},
	{id: "DB-16", rule: "scan.ssrf", category: "API7", check: "scan.ssrf", ops: []string{"POST /api/v1/webhooks", "POST /api/v1/webhooks/{webhookId}/test"}},
	{id: "DB-17", rule: "scan.unsafe-consumption", category: "API10", check: "scan.unsafe-consumption", ops: []string{"POST /api/v1/webhooks/{webhookId}/test"}, open: true},
	{id: "DB-18", rule: "scan.sql-injection", category: "API8", check: "scan.injection", ops: []string{"GET /api/v1/search"}},
	{id: "DB-19", rule: "scan.verbose-errors", category: "API8", check: "scan.misconfiguration", ops: []string{"GET /api/v1/search", "GET /api/v1/transactions", "PATCH /api/v1/users/{userId}"}},
	{id: "DB-20", rule: "scan.deprecated-live", category: "API9", check: "scan.inventory", ops: []string{"GET /api/v0/users/{userId}"}},
	{id: "DB-21", rule: "scan.undocumented-endpoint", category: "API9", check: "scan.inventory"},
	{id: "DB-22", rule: "scan.cors-permissive", category: "API8", check: "scan.misconfiguration"},
	{id: "DB-23", rule: "scan.security-headers", category: "API8", check: "scan.misconfiguration"},
	{id: "DB-24", rule: "scan.rate-limit", category: "API4", check: "scan.resources"},
	{id: "DB-25", rule: "scan.auth.client_token_lifetime", category: "API2", check: "scan.auth.client_token_lifetime", ops: []string{"POST /api/v1/auth/login"}},
}

// registered returns the rule ids of the checks in checks.All.
func registered() map[string]bool {
	out := map[string]bool{}
	for _, c := range checks.All() {
		out[c.Name()] = true
	}
	return out
}

// serveBank runs demobank on a loopback listener.
func serveBank(t *testing.T, fixed bool) string {
	t.Helper()
	bank, err := demobank.New(demobank.Options{Fixed: fixed})
	if err != nil {
		t.Fatalf("demobank.New: %v", err)
	}
	t.Cleanup(func() { _ = bank.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: bank, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// demobankScan scans target with the seeded identities, as the docs'
// short form does, with --allow-destructive.
func demobankScan(t *testing.T, target string) *scan.Result {
	t.Helper()
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		t.Fatal(err)
	}
	opts := scan.Options{
		Spec:   spec,
		Target: target,
		Users: []scan.Credential{
			{Username: "alice", Password: "alice-pass"},
			{Username: "bob", Password: "bob-pass"},
		},
		Admin:            &scan.Credential{Username: "admin", Password: "admin-pass"},
		AllowDestructive: true,
		Checks:           checks.All(),
		Logf:             func(format string, args ...any) { t.Logf(format, args...) },
	}
	start := time.Now()
	res, err := scan.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("scan.Run(%s) = %v", target, err)
	}
	t.Logf("scan of %s: %d requests, %d findings in %s (incomplete %v)", target, res.Requests, len(res.Report.Findings), time.Since(start).Round(time.Millisecond), res.Incomplete)
	for rule, err := range res.Errors {
		t.Errorf("check %s failed: %v", rule, err)
	}
	return res
}

// matches reports whether finding f is row r's: same rule and category,
// at one of its operations.
func matches(spec *openapi.Spec, r truthRow, f report.Finding) bool {
	if f.Rule != r.rule || f.Category != r.category {
		return false
	}
	if len(r.ops) == 0 {
		return true
	}
	for _, want := range r.ops {
		if opOf(spec, f) == want {
			return true
		}
	}
	return false
}

// opOf returns "METHOD /template" of a finding's location.
func opOf(spec *openapi.Spec, f report.Finding) string {
	u, err := url.Parse(f.Location.URL)
	if err != nil {
		return ""
	}
	if strings.Contains(u.Path, "{") {
		return f.Location.Method + " " + u.Path
	}
	for _, o := range spec.Operations {
		if o.ID == f.Location.Operation {
			return o.Method + " " + o.Path
		}
	}
	if op, _, _ := spec.Match(f.Location.Method, u.Path, nil); op != nil {
		return op.Method + " " + op.Path
	}
	return f.Location.Method + " " + u.Path
}

func specOf(t *testing.T) *openapi.Spec {
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestScanFindsDemobankGroundTruth(t *testing.T) {
	target := serveBank(t, false)
	res := demobankScan(t, target)
	spec := specOf(t)
	reg := registered()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-6s %-6s %-34s %s\n", "row", "OWASP", "rule", "found")
	found, required := 0, 0
	for _, row := range groundTruth {
		hit := false
		for _, f := range res.Report.Findings {
			if matches(spec, row, f) {
				hit = true
				break
			}
		}
		state := "no"
		switch {
		case hit:
			state = "yes"
			found++
		case !reg[row.check]:
			state = "pending (" + row.check + " not registered)"
		}
		if reg[row.check] {
			required++
			if !hit {
				var got []string
				for _, f := range res.Report.Findings {
					if f.Category == row.category {
						got = append(got, f.Rule+" at "+opOf(spec, f))
					}
				}
				t.Errorf("%s: no %s (%s) finding at %v; %s findings: %v", row.id, row.rule, row.category, row.ops, row.category, got)
			}
		}
		fmt.Fprintf(&table, "%-6s %-6s %-34s %s\n", row.id, row.category, row.rule, state)
	}
	fmt.Fprintf(&table, "recall: %d of %d rows (%d required by registered checks)", found, len(groundTruth), required)
	t.Log(table.String())
	for _, f := range res.Report.Findings {
		t.Logf("%s %s %s at %s: %s\n    %s", f.Severity, f.Category, f.Rule, opOf(spec, f), f.Evidence, f.Reproduce)
		if f.Reproduce == "" {
			t.Errorf("finding %s at %s has no reproduction", f.Rule, f.Location.URL)
		}
		if strings.Contains(f.Reproduce, "alice-pass") || strings.Contains(f.Evidence, "alice-pass") {
			t.Errorf("finding %s leaks a password: %s", f.Rule, f.Reproduce)
		}
	}
}

func TestScanThroughApiguardReportsNoClosedRow(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{ConfigFile: "../../examples/demobank/apiguard.yaml"})
	res := demobankScan(t, env.URL)
	spec := specOf(t)
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-6s %-34s %s\n", "row", "rule", "through apiguard")
	for _, row := range groundTruth {
		var hits []string
		for _, f := range res.Report.Findings {
			if matches(spec, row, f) {
				hits = append(hits, string(f.Severity)+" "+f.Title)
			}
		}
		state := "closed"
		if len(hits) > 0 {
			state = "open"
		}
		if row.open {
			state += " (the profile leaves it open)"
		} else if len(hits) > 0 {
			t.Errorf("%s (%s) reported through apiguard, which closes it: %v", row.id, row.rule, hits)
		}
		fmt.Fprintf(&table, "%-6s %-34s %s\n", row.id, row.rule, state)
	}
	t.Log(table.String())
	for _, f := range res.Report.Findings {
		t.Logf("through apiguard: %s %s %s at %s: %s", f.Severity, f.Category, f.Rule, opOf(spec, f), f.Evidence)
	}
}

func TestScanFixedDemobankFindsNothingAboveLow(t *testing.T) {
	target := serveBank(t, true)
	res := demobankScan(t, target)
	spec := specOf(t)
	for _, f := range res.Report.Findings {
		if f.Severity.Rank() > report.Low.Rank() {
			t.Errorf("fixed demobank: %s %s (%s) at %s: %s", f.Severity, f.Rule, f.Category, opOf(spec, f), f.Evidence)
		} else {
			t.Logf("fixed demobank, %s: %s at %s: %s", f.Severity, f.Rule, opOf(spec, f), f.Evidence)
		}
	}
}

// TestGroundTruthTableMatchesDocs keeps groundTruth in step with
// docs/demobank.md: every row, with its OWASP category.
func TestGroundTruthTableMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/demobank.md")
	if err != nil {
		t.Fatalf("reading docs/demobank.md: %v", err)
	}
	row := regexp.MustCompile(`(?m)^\|\s*(DB-\d\d)\s*\|\s*(API\d+)\b`)
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2]
	}
	tested := map[string]bool{}
	for _, r := range groundTruth {
		tested[r.id] = true
		if documented[r.id] != r.category {
			t.Errorf("%s: docs/demobank.md category %q, scan table %q", r.id, documented[r.id], r.category)
		}
	}
	for id := range documented {
		if !tested[id] {
			t.Errorf("%s is in docs/demobank.md but not in the scan's ground-truth table", id)
		}
	}
}

// TestDocsDescribeEveryCheck: every check and every rule of the recall
// table is described in docs/scan.md or docs/scan-checks.md.
func TestDocsDescribeEveryCheck(t *testing.T) {
	var docs []byte
	for _, f := range []string{"../../docs/scan.md", "../../docs/scan-checks.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		docs = append(docs, b...)
	}
	for _, c := range checks.All() {
		if !strings.Contains(string(docs), "`"+c.Name()+"`") {
			t.Errorf("check %s (%s) is not described in docs/scan.md or docs/scan-checks.md", c.Name(), c.Category())
		}
	}
	for _, r := range groundTruth {
		if !strings.Contains(string(docs), "`"+r.rule+"`") {
			t.Errorf("rule %s (%s) is not described in docs/scan.md or docs/scan-checks.md", r.rule, r.id)
		}
	}
}
