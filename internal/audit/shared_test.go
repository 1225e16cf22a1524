package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
)

const sharedSpecs = "../../../shared/specs"

func TestSharedSpecs(t *testing.T) {
	if _, err := os.Stat(sharedSpecs); err != nil {
		t.Skipf("shared specs not found: %v", err)
	}
	files := []string{"oai-petstore.yaml", "oai-webhook-example.json", "learn-tictactoe.yaml", "readme-security-3.1.yaml", "redocly-museum.yaml", "crapi-openapi-spec.json", "twilio-api_v2010.yaml", "box-openapi.json", "openai-openapi.json", "stripe-spec3.json", "digitalocean-public-v2/DigitalOcean-public.v2.yaml"}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			spec, err := openapi.Load(filepath.Join(sharedSpecs, f))
			if err != nil {
				t.Fatalf("openapi.Load(%s) = %v, want nil", f, err)
			}
			r := Audit(spec, Options{File: f})
			byRule := map[string]int{}
			for _, fd := range r.Findings {
				byRule[fd.Rule]++
			}
			var ids []string
			for id := range byRule {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			s := ""
			for _, id := range ids {
				s += fmt.Sprintf(" %s=%d", id, byRule[id])
			}
			t.Logf("%s: %d operations, score %d, %d findings in %v:%s", f, len(spec.Operations), *r.Score, len(r.Findings), r.Finished.Sub(r.Started), s)
			if *r.Score < 0 || *r.Score > 100 {
				t.Errorf("score = %d, want 0..100", *r.Score)
			}
		})
	}
	t.Run("swagger2 is refused", func(t *testing.T) {
		if _, err := Load(filepath.Join(sharedSpecs, "oai-petstore-swagger2.json"), Options{}); err == nil {
			t.Errorf("Load(swagger 2.0) = nil error, want an error")
		}
	})
}
