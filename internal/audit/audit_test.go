package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/audit/rules"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

func TestDemobankScoresHigh(t *testing.T) {
	r, err := Load("../../examples/demobank/openapi.yaml", Options{File: "examples/demobank/openapi.yaml"})
	if err != nil {
		t.Fatalf("Load(demobank) = %v", err)
	}
	var buf bytes.Buffer
	if err := report.WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("demobank:\n%s", buf.String())
	if *r.Score < 75 {
		t.Errorf("demobank score = %d, want >= 75", *r.Score)
	}
	// demobank's planted SSRF (importAvatar, createWebhook: any https URL)
	// is visible in its spec; apiguard closes it with guards.ssrf.
	plantedHigh := map[string]bool{"audit.ssrf-url-input": true}
	for _, f := range r.Findings {
		if f.Severity.Rank() >= report.High.Rank() && !plantedHigh[f.Rule] {
			t.Errorf("demobank finding %s at %s, want no high or critical besides the planted SSRF", f.Rule, f.Location.Pointer)
		}
	}
}

func TestScoreIsMonotoneAndBounded(t *testing.T) {
	sev := map[string]report.Severity{"a": report.High, "b": report.Low, "c": report.Critical}
	scope := map[string]rules.Scope{"a": rules.ScopeItems, "b": rules.ScopeItems, "c": rules.ScopeDocument}
	if got := Score(map[string]int{}, sev, scope, 10); got != 100 {
		t.Errorf("Score(no findings) = %d, want 100", got)
	}
	prev := 101
	for n := 0; n <= 30; n++ {
		got := Score(map[string]int{"a": n, "b": n}, sev, scope, 10)
		if got > prev {
			t.Errorf("Score(n=%d) = %d, want <= %d (monotone)", n, got, prev)
		}
		prev = got
	}
	if got, want := Score(map[string]int{"a": 1000}, sev, scope, 10), 100-8; got != want {
		t.Errorf("Score(a=1000) = %d, want %d (capped at the weight)", got, want)
	}
	if got, want := Score(map[string]int{"a": 1}, sev, scope, 10), 96; got != want {
		t.Errorf("Score(a=1) = %d, want %d", got, want)
	}
	if got, want := Score(map[string]int{"c": 1}, sev, scope, 10), 85; got != want {
		t.Errorf("Score(c=1) = %d, want %d (document rules cost the full weight)", got, want)
	}
}

func TestOptionsOverrideAndDisable(t *testing.T) {
	spec, err := openapi.Load(filepath.Join("rules", "testdata", "audit.http-server", "fail.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := Audit(spec, Options{})
	low := Audit(spec, Options{Severity: map[string]report.Severity{"audit.http-server": report.Low}})
	off := Audit(spec, Options{Disable: map[string]bool{"audit.http-server": true}})
	if !(*base.Score < *low.Score && *low.Score < *off.Score) || *off.Score != 100 {
		t.Errorf("scores base %d, low %d, off %d, want base < low < off = 100", *base.Score, *low.Score, *off.Score)
	}
	if len(low.Findings) != 1 || low.Findings[0].Severity != report.Low {
		t.Errorf("overridden findings = %+v, want one low finding", low.Findings)
	}
}

func TestReportFormats(t *testing.T) {
	r, err := Load(filepath.Join("rules", "testdata", "audit.ssrf-url-input", "fail.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range report.Formats {
		var buf bytes.Buffer
		if err := report.Write(&buf, f, r); err != nil {
			t.Errorf("Write(%s) = %v", f, err)
		}
		if !strings.Contains(buf.String(), "audit.ssrf-url-input") {
			t.Errorf("Write(%s) lacks the finding", f)
		}
	}
	var buf bytes.Buffer
	_ = report.WriteJSON(&buf, r)
	var back report.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Score == nil || len(back.Checks) != len(Rules()) {
		t.Errorf("JSON round trip = %v, score %v, %d checks, want %d", err, back.Score, len(back.Checks), len(Rules()))
	}
}

// bigSpec builds a spec of at least size bytes from stripe-spec3.json by
// copying its paths under renamed prefixes.
func bigSpec(tb testing.TB, size int) []byte {
	raw, err := os.ReadFile(filepath.Join(sharedSpecs, "stripe-spec3.json"))
	if err != nil {
		tb.Skipf("stripe spec not available: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	orig := make(map[string]any, len(paths))
	for k, v := range paths {
		orig[k] = v
	}
	pathBytes, _ := json.Marshal(orig)
	compact, _ := json.Marshal(doc)
	copies := (size-len(compact))/len(pathBytes) + 1
	for i := 1; i <= copies; i++ {
		for k, v := range orig {
			paths["/copy"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+k] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestLargeSpecCompletes(t *testing.T) {
	if testing.Short() {
		t.Skip("large spec in -short mode")
	}
	data := bigSpec(t, 10<<20)
	spec, err := openapi.Parse(data)
	if err != nil {
		t.Fatalf("openapi.Parse(%d bytes) = %v", len(data), err)
	}
	r := Audit(spec, Options{File: "big.json"})
	t.Logf("%d bytes, %d operations: score %d, %d findings in %v", len(data), len(spec.Operations), *r.Score, len(r.Findings), r.Finished.Sub(r.Started))
	if len(r.Findings) == 0 {
		t.Errorf("Audit(big spec) = no findings, want some")
	}
}

func BenchmarkAuditLargeSpec(b *testing.B) {
	data := bigSpec(b, 10<<20)
	spec, err := openapi.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Audit(spec, Options{})
	}
}
