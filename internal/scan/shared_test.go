package scan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
)

const sharedSpecs = "../../../shared/specs"

// The engine's model and request builder on real-world descriptions:
// every operation gets a request (no panic on recursion, composition,
// form bodies or multi-file trees), and crAPI's login is found.
func TestModelOnSharedSpecs(t *testing.T) {
	if _, err := os.Stat(sharedSpecs); err != nil {
		t.Fatalf("shared specs missing: %v (the checkout's ../shared/specs is required)", err)
	}
	files := []string{"oai-petstore.yaml", "oai-webhook-example.json", "learn-tictactoe.yaml", "readme-security-3.1.yaml", "redocly-museum.yaml",
		"crapi-openapi-spec.json", "twilio-api_v2010.yaml", "box-openapi.json", "openai-openapi.json", "stripe-spec3.json",
		"digitalocean-public-v2/DigitalOcean-public.v2.yaml"}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			spec, err := openapi.Load(filepath.Join(sharedSpecs, f))
			if err != nil {
				t.Fatalf("openapi.Load(%s) = %v", f, err)
			}
			ops, schemes := buildModel(spec)
			if len(ops) != len(spec.Operations) {
				t.Fatalf("%d operations in the model, %d in the spec", len(ops), len(spec.Operations))
			}
			s := &Session{Spec: spec, Ops: ops, Schemes: schemes, state: newState()}
			id := &Identity{Name: "alice", Role: RoleUser, Subject: "1"}
			s.users = []*Identity{id, {Name: "bob", Role: RoleUser, Subject: "2"}}
			bodies, secured, noObject := 0, 0, 0
			for _, op := range ops {
				req, err := s.Build(op, id)
				if req == nil {
					t.Fatalf("Build(%s) = nil request", op.ID)
				}
				if err != nil {
					noObject++
				}
				if req.JSON != nil {
					bodies++
				}
				if op.Secured() {
					secured++
				}
				if _, _, err := req.encodeBody(); err != nil {
					t.Errorf("Build(%s) body does not encode: %v", op.ID, err)
				}
			}
			login, _, _, lerr := FindLoginOp(ops, "")
			name := "none"
			if login != nil {
				name = login.ID
			}
			t.Logf("%s: %d operations (%d secured), %d JSON bodies, %d need objects nobody owns; login: %s %v", f, len(ops), secured, bodies, noObject, name, lerr)
			if f == "crapi-openapi-spec.json" && (login == nil || login.Path != "/identity/api/auth/login") {
				t.Errorf("crAPI login = %v, want /identity/api/auth/login", login)
			}
		})
	}
}
