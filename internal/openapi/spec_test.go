package openapi

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specsDir holds the shared real-world specs (never edited).
var specsDir = filepath.Join("..", "..", "..", "shared", "specs")

func sharedSpec(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(specsDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared spec %s is missing: %v (the checkout's ../shared/specs is required)", name, err)
	}
	return p
}

func TestLoadRealSpecs(t *testing.T) {
	tests := []struct {
		file    string
		version string
		ops     int
		wantErr string
	}{
		{"oai-petstore.yaml", "3.0.0", 3, ""},
		{"oai-webhook-example.json", "3.1.0", 0, ""},
		{"learn-tictactoe.yaml", "3.1.0", 3, ""},
		{"readme-security-3.1.yaml", "3.1.0", 15, ""},
		{"redocly-museum.yaml", "3.1.0", 8, ""},
		{"crapi-openapi-spec.json", "3.0.1", 44, ""},
		{"twilio-api_v2010.yaml", "3.0.1", 197, ""},
		{"box-openapi.json", "3.0.2", 296, ""},
		{"openai-openapi.json", "3.1.0", 288, ""},
		{"stripe-spec3.json", "3.0.0", 417, ""},
		{"digitalocean-public-v2/DigitalOcean-public.v2.yaml", "3.0.0", 659, ""},
		{"oai-petstore-swagger2.json", "", 0, "Swagger 2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(sharedSpec(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load(%s) error = %v, want %q", tt.file, err, tt.wantErr)
				}
				if !errors.As(err, &Swagger2Error{}) {
					t.Errorf("Load(%s) error type = %T, want Swagger2Error", tt.file, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%s) error = %v", tt.file, err)
			}
			if s.Version != tt.version {
				t.Errorf("Version = %q, want %q", s.Version, tt.version)
			}
			if len(s.Operations) != tt.ops {
				t.Errorf("len(Operations) = %d, want %d", len(s.Operations), tt.ops)
			}
			// Every operation must be found again by its own template.
			for _, op := range s.Operations {
				path := strings.NewReplacer("{", "x", "}", "x").Replace(op.Path)
				got, _, found := s.Match(op.Method, path, nil)
				if got == nil || !found {
					t.Errorf("Match(%s %s) = nil, want an operation", op.Method, path)
				}
			}
		})
	}
}

func TestDigitalOceanOperationRefs(t *testing.T) {
	s, err := Load(sharedSpec(t, "digitalocean-public-v2/DigitalOcean-public.v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var withID int
	for _, op := range s.Operations {
		if !strings.Contains(op.ID, " ") {
			withID++
		}
	}
	// Operations are $refs into other files: their operationIds prove the
	// refs were followed.
	if withID != len(s.Operations) {
		t.Errorf("%d of %d operations have an operationId, want all (operation-level $refs not followed?)", withID, len(s.Operations))
	}
}

const testSpec = `
openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
paths:
  /users/me:
    get: {operationId: getMe}
  /users/{id}:
    get: {operationId: getUser}
    delete: {operationId: deleteUser, deprecated: true, x-apiguard-roles: [admin]}
  /users/{id}/avatar.{ext}:
    get: {operationId: getAvatar}
  /files/{name}.json:
    get: {operationId: getJSONFile}
  /files/{name}:
    get: {operationId: getFile}
  /Admin/:
    post: {operationId: adminRoot}
`

func TestMatch(t *testing.T) {
	s, err := Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		wantOp       string
		wantParams   string
		wantFound    bool
	}{
		{"GET", "/v1/users/me", "getMe", "", true},
		{"GET", "/v1/users/42", "getUser", "id=42", true},
		{"HEAD", "/v1/users/42", "getUser", "id=42", true},
		{"DELETE", "/v1/users/42", "deleteUser", "id=42", true},
		{"DELETE", "/v1/users/me", "deleteUser", "id=me", true}, // the template takes what the literal does not
		{"POST", "/v1/users/42", "", "", true},                  // path found, method not
		{"GET", "/v1/users/42/avatar.png", "getAvatar", "id=42,ext=png", true},
		{"GET", "/v1/files/a.json", "getJSONFile", "name=a", true},
		{"GET", "/v1/files/a.txt", "getFile", "name=a.txt", true},
		{"GET", "/v1/users/", "", "", false},   // trailing slash is another path
		{"GET", "/v1/Users/42", "", "", false}, // case counts
		{"GET", "/users/42", "", "", false},    // the server's base path is required
		{"GET", "/v1/users", "", "", false},
		{"GET", "/v1/users/42/", "", "", false},
		{"GET", "/v1/users//42", "", "", false},
		{"POST", "/v1/Admin/", "adminRoot", "", true},
		{"POST", "/v1/Admin", "", "", false},
		{"GET", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			op, params, found := s.Match(tt.method, tt.path, nil)
			gotOp := ""
			if op != nil {
				gotOp = op.ID
			}
			var ps []string
			for _, p := range params {
				ps = append(ps, p.Name+"="+p.Value)
			}
			if gotOp != tt.wantOp || strings.Join(ps, ",") != tt.wantParams || found != tt.wantFound {
				t.Errorf("Match(%s, %s) = %q, %q, %v; want %q, %q, %v", tt.method, tt.path, gotOp, strings.Join(ps, ","), found, tt.wantOp, tt.wantParams, tt.wantFound)
			}
		})
	}
}

func TestMatchLoose(t *testing.T) {
	s, err := Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"/v1/Users/42", true},
		{"/v1/users/42/", true},
		{"/V1/USERS/ME/", true},
		{"/v1/admin", true},
		{"/v1/other", false},
		{"/v1/users/42/x", false},
	}
	for _, tt := range tests {
		if got := s.MatchLoose(tt.path); got != tt.want {
			t.Errorf("MatchLoose(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestOperationFields(t *testing.T) {
	s, err := Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	op, _, _ := s.Match("DELETE", "/v1/users/1", nil)
	if op == nil || !op.Deprecated || op.Path != "/v1/users/{id}" {
		t.Fatalf("DELETE op = %+v, want deprecated with path /v1/users/{id}", op)
	}
	roles, _ := op.Extensions["x-apiguard-roles"].([]any)
	if len(roles) != 1 || roles[0] != "admin" {
		t.Errorf("Extensions[x-apiguard-roles] = %v, want [admin]", op.Extensions["x-apiguard-roles"])
	}
	if got := s.AllowedMethods("/v1/users/1"); strings.Join(got, ",") != "GET,DELETE,HEAD" && strings.Join(got, ",") != "GET,DELETE" {
		t.Errorf("AllowedMethods = %v, want GET,DELETE (and HEAD)", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", ``, "parsing spec"},
		{"no version", `info: {}`, "no openapi version"},
		{"version 2", `openapi: 2.0.0`, "not 3.0 or 3.1"},
		{"list", `[1, 2]`, "not an object"},
		{"bad path", "openapi: 3.0.0\npaths:\n  users: {get: {}}", "does not start with /"},
		{"external ref without file", "openapi: 3.0.0\npaths:\n  /a: {$ref: other.yaml}", "need a spec loaded from a file"},
		{"ref loop", "openapi: 3.0.0\npaths:\n  /a: {$ref: '#/paths/~1b'}\n  /b: {$ref: '#/paths/~1a'}", "chain longer"},
		{"remote ref", "openapi: 3.0.0\npaths:\n  /a: {$ref: 'https://evil.example/x.yaml'}", "need a spec loaded from a file"},
		{"bad template", "openapi: 3.0.0\npaths:\n  /a/{: {get: {}}", "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadRefusesRemoteRefs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(p, []byte("openapi: 3.0.0\npaths:\n  /a: {$ref: 'https://evil.example/x.yaml'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "only relative file references") {
		t.Errorf("Load() error = %v, want a refusal of the remote $ref", err)
	}
}

func BenchmarkMatch(b *testing.B) {
	s, err := Load(sharedSpec(b, "stripe-spec3.json"))
	if err != nil {
		b.Fatal(err)
	}
	params := make([]Param, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		op, p, _ := s.Match("POST", "/v1/customers/cus_123/sources/src_456", params)
		if op == nil {
			b.Fatal("no match")
		}
		params = p
	}
}

func FuzzMatch(f *testing.F) {
	s, err := Parse([]byte(testSpec))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"/v1/users/1", "/v1/users/1/avatar.png", "/v1/files/.json", "/", "//", "/v1/users/{id}"} {
		f.Add("GET", seed)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		op, params, found := s.Match(method, path, nil)
		if op != nil && !found {
			t.Fatalf("Match(%q, %q) returned an operation with found=false", method, path)
		}
		for _, p := range params {
			if p.Value == "" || strings.Contains(p.Value, "/") {
				t.Fatalf("Match(%q, %q) param %q = %q: empty or spans segments", method, path, p.Name, p.Value)
			}
		}
		s.MatchLoose(path)
		s.AllowedMethods(path)
	})
}
