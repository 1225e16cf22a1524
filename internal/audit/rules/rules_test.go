package rules

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
)

func loadDoc(t *testing.T, path string) *Doc {
	t.Helper()
	spec, err := openapi.Load(path)
	if err != nil {
		t.Fatalf("openapi.Load(%s) = %v", path, err)
	}
	return NewDoc(spec)
}

func TestRulesFixtures(t *testing.T) {
	all := All()
	if len(all) < 40 {
		t.Errorf("len(All()) = %d, want at least 40", len(all))
	}
	for _, r := range all {
		t.Run(r.ID, func(t *testing.T) {
			dir := filepath.Join("testdata", r.ID)
			if hits := r.Check(loadDoc(t, filepath.Join(dir, "fail.json"))); len(hits) == 0 {
				t.Errorf("%s.Check(fail.json) = no hits, want at least one", r.ID)
			} else {
				for _, h := range hits {
					if h.Node == nil || h.Evidence == "" {
						t.Errorf("%s.Check(fail.json) hit = %+v, want a node and evidence", r.ID, h)
					}
				}
			}
			if hits := r.Check(loadDoc(t, filepath.Join(dir, "pass.json"))); len(hits) != 0 {
				t.Errorf("%s.Check(pass.json) = %+v, want no hits", r.ID, hits)
			}
		})
	}
}

var idRE = regexp.MustCompile(`^audit\.[a-z0-9]+(-[a-z0-9]+)*$`)
var catRE = regexp.MustCompile(`^API([1-9]|10)$`)

func TestRulesMetadata(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		if !idRE.MatchString(r.ID) || seen[r.ID] {
			t.Errorf("rule id %q: want unique audit.<kebab-case>", r.ID)
		}
		seen[r.ID] = true
		if !catRE.MatchString(r.Category) || r.Severity.Rank() < 0 || r.Title == "" || r.Description == "" || r.Remediation == "" || r.Fix == "" || r.Check == nil {
			t.Errorf("rule %s = %+v, want category, severity, title, description, remediation, fix and check", r.ID, r)
		}
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !seen[e.Name()] {
			t.Errorf("testdata/%s has no rule", e.Name())
		}
	}
}

// TestCleanFixtureIsClean checks that the passing fixture of a rule that
// changes nothing (the base spec) triggers no rule at all, so the fixtures
// isolate one problem each.
func TestCleanFixtureIsClean(t *testing.T) {
	d := loadDoc(t, filepath.Join("testdata", "audit.array-unbounded", "pass.json"))
	for _, r := range All() {
		if hits := r.Check(d); len(hits) != 0 {
			t.Errorf("%s.Check(base spec) = %+v, want no hits", r.ID, hits)
		}
	}
}

func TestNameHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"id", true}, {"userId", true}, {"account_id", true}, {"ID", true}, {"paid", false}, {"valid", false}} {
		if got := isIDName(tc.in); got != tc.want {
			t.Errorf("isIDName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{{"http://api.example.com", true}, {"http://localhost:8080", false}, {"https://x", false}, {"HTTP://X.COM", true}} {
		if got := insecureURL(tc.in); got != tc.want {
			t.Errorf("insecureURL(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if report.High.Rank() <= report.Low.Rank() {
		t.Fatal("severity ranks")
	}
}

func TestPinsHost(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`^https://`, false},
		{`^https?://`, false},
		{`^https://.*`, false},
		{`^https://hooks\.example\.com/`, true},
		{`^https:\/\/cdn\.example\.com\/`, true},
		{`example\.com`, false},
		{``, false},
	} {
		if got := pinsHost(tc.in); got != tc.want {
			t.Errorf("pinsHost(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestResolvedPointers(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"audit.additional-properties", "/components/schemas/ItemInput"},
		{"audit.ssrf-url-input", "/components/schemas/ItemInput/properties/callbackUrl"},
		{"audit.verbose-errors", "/paths/~1items~1{itemId}/get/responses/500/content/application~1json/schema/properties/stackTrace"},
	} {
		var r *Rule
		for _, x := range All() {
			if x.ID == tc.rule {
				r = x
			}
		}
		hits := r.Check(loadDoc(t, filepath.Join("testdata", tc.rule, "fail.json")))
		if len(hits) != 1 || hits[0].Pointer != tc.want {
			t.Errorf("%s hits = %+v, want one at %s", tc.rule, hits, tc.want)
		}
	}
}
