package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

func sampleReports() map[string]*Report {
	score := 72
	start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	audit := &Report{
		Tool: "apiguard audit", Version: "v1.0.0", Target: "specs/bank api.yaml",
		Started: start, Finished: start.Add(1500 * time.Millisecond), Score: &score,
		Checks: []Check{
			{Rule: "audit.no-security-schemes", Title: "No security schemes", Category: "API2", Severity: High, Description: "The spec defines no security scheme.", Remediation: "Define components.securitySchemes."},
			{Rule: "audit.string-unbounded", Title: "String without maxLength", Category: "API4", Severity: Medium},
			{Rule: "audit.http-server", Title: "Plain HTTP server", Category: "API8", Severity: High},
		},
		Findings: []Finding{
			{Rule: "audit.no-security-schemes", Title: "No security schemes", Category: "API2", Severity: High, Location: Location{File: "specs/bank api.yaml", Line: 1, Pointer: "/components"}, Remediation: "Define components.securitySchemes.", Fix: "x-apiguard-roles: [user]"},
			{Rule: "audit.string-unbounded", Title: "String without maxLength", Category: "API4", Severity: Medium, Evidence: `name <script>alert("x")</script> & more`, Location: Location{File: "specs/bank api.yaml", Line: 42, Pointer: "/components/schemas/User/properties/name", Operation: "createUser"}},
		},
	}
	scan := &Report{
		Tool: "apiguard scan", Version: "v1.0.0", Target: "http://127.0.0.1:8081",
		Started: start, Finished: start.Add(30 * time.Second),
		Findings: []Finding{
			{Rule: "scan.bola", Title: "Another user reads the owner's object", Category: "API1", Severity: Critical, Evidence: "bob read alice's account", Location: Location{Method: "GET", URL: "http://127.0.0.1:8081/accounts/1", Operation: "getAccount"}, Reproduce: "curl -H 'Authorization: Bearer …' http://127.0.0.1:8081/accounts/1"},
			{Rule: "scan.headers", Title: "Missing security headers", Category: "API8", Severity: Low},
		},
	}
	empty := &Report{Tool: "apiguard audit", Version: "dev", Target: "clean.yaml", Score: new(int)}
	*empty.Score = 100
	return map[string]*Report{"audit": audit, "scan": scan, "empty": empty}
}

func TestGolden(t *testing.T) {
	for name, r := range sampleReports() {
		for _, f := range []Format{FormatJSON, FormatSARIF, FormatJUnit} {
			t.Run(name+"."+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				if err := Write(&buf, f, r); err != nil {
					t.Fatalf("Write(%s) = %v, want nil", f, err)
				}
				golden := filepath.Join("testdata", name+"."+string(f)+".golden")
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("reading golden file (run with -update): %v", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("Write(%s) = \n%s\nwant\n%s", f, buf.String(), want)
				}
			})
		}
	}
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	schemaFile := filepath.Join("testdata", "sarif-schema-2.1.0.json")
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatalf("compiling the SARIF schema: %v", err)
	}
	for name, r := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSARIF(&buf, r); err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("WriteSARIF(%s) is not valid SARIF 2.1.0: %v", name, err)
			}
		})
	}
	// The schema must be able to fail: a result with a bad level.
	bad := map[string]any{"version": "2.1.0", "runs": []any{map[string]any{
		"tool":    map[string]any{"driver": map[string]any{"name": "x"}},
		"results": []any{map[string]any{"message": map[string]any{"text": "m"}, "level": "fatal"}},
	}}}
	b, _ := json.Marshal(bad)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err := sch.Validate(inst); err == nil {
		t.Errorf("schema.Validate(level fatal) = nil, want an error")
	}
}

func TestSARIFFields(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, sampleReports()["audit"]); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if got := len(run.Tool.Driver.Rules); got != 3 {
		t.Errorf("rules = %d, want 3", got)
	}
	if got := run.Tool.Driver.Rules[0].Properties["security-severity"]; got != "8.0" {
		t.Errorf("security-severity = %v, want 8.0", got)
	}
	res := run.Results[1]
	if res.Level != "warning" || res.Locations[0].PhysicalLocation.Region.StartLine != 42 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI != "specs/bank%20api.yaml" {
		t.Errorf("result = %+v, want level warning, line 42, uri specs/bank%%20api.yaml", res)
	}
}

func TestHTMLIsSelfContainedAndEscaped(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, sampleReports()["audit"]); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script>") {
		t.Errorf("WriteHTML output contains an unescaped <script>")
	}
	if !strings.Contains(out, "&lt;script&gt;") {
		t.Errorf("WriteHTML output lacks the escaped evidence")
	}
	for _, bad := range []string{"http://", "https://", "src=", "<link"} {
		if strings.Contains(out, bad) {
			t.Errorf("WriteHTML output contains %q, want no external resources", bad)
		}
	}
	if !strings.Contains(out, "72") {
		t.Errorf("WriteHTML output lacks the score")
	}
}

func TestTextGroupsBySeverity(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleReports()["scan"]); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	ci, li := strings.Index(out, "CRITICAL (1)"), strings.Index(out, "LOW (1)")
	if ci < 0 || li < 0 || ci > li {
		t.Errorf("WriteText = %q, want CRITICAL before LOW", out)
	}
	if !strings.Contains(out, "reproduce: curl") {
		t.Errorf("WriteText = %q, want the reproduce line", out)
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"sarif", FormatSARIF, true}, {"JSON", FormatJSON, true}, {"xml", "", false}} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %q, %v, want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSortFindings(t *testing.T) {
	fs := []Finding{{Rule: "b", Severity: Low}, {Rule: "a", Severity: High}, {Rule: "a", Severity: Low}}
	SortFindings(fs)
	if fs[0].Severity != High || fs[1].Rule != "a" || fs[2].Rule != "b" {
		t.Errorf("SortFindings = %+v, want high a, low a, low b", fs)
	}
}

func TestJUnitOneFailurePerCheck(t *testing.T) {
	r := sampleReports()["audit"]
	r2 := *r
	r2.Findings = append(append([]Finding(nil), r.Findings...), r.Findings[1])
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, &r2); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if got := strings.Count(out, "<failure "); got != 2 {
		t.Errorf("WriteJUnit failures = %d, want 2 (one per failed check)", got)
	}
	if !strings.Contains(out, `message="2 finding(s): String without maxLength`) {
		t.Errorf("WriteJUnit = %s, want a failure counting 2 findings", out)
	}
	if !strings.Contains(out, `tests="3" failures="2"`) {
		t.Errorf("WriteJUnit = %s, want tests=3 failures=2", out)
	}
}
