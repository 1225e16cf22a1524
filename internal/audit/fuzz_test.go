package audit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
)

// FuzzAudit checks that no spec the loader accepts makes a rule panic
// (specs come from pull requests in CI: attacker input).
func FuzzAudit(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("rules", "testdata", "*", "fail.json"))
	for _, s := range seeds[:min(len(seeds), 12)] {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("openapi: 3.1.0\npaths:\n  /a/{id}:\n    get:\n      parameters: [{$ref: '#/x'}]\n      responses: {'200': {$ref: '#/components/responses/a'}}\ncomponents: {responses: {a: {$ref: '#/components/responses/a'}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		spec, err := openapi.Parse(data)
		if err != nil {
			return
		}
		r := Audit(spec, Options{})
		if *r.Score < 0 || *r.Score > 100 {
			t.Errorf("Audit score = %d, want 0..100", *r.Score)
		}
	})
}
