package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProfiling checks that the runtime profiles are served only when
// admin.profiling is on, and then only to tokens with the admin role.
func TestProfiling(t *testing.T) {
	const reader = "test-reader-token-0123456789"
	tests := []struct {
		name      string
		profiling bool
		path      string
		auth      string
		want      int
		wantBody  string
	}{
		{"off: admin token gets 404", false, "/debug/pprof/", token, 404, ""},
		{"off: no token gets 401", false, "/debug/pprof/heap", "", 401, ""},
		{"on: no token", true, "/debug/pprof/", "", 401, ""},
		{"on: wrong token", true, "/debug/pprof/goroutine?debug=1", "wrong-token-0123456789", 401, ""},
		{"on: read-only token", true, "/debug/pprof/goroutine?debug=1", reader, 403, ""},
		{"on: index", true, "/debug/pprof/", token, 200, "goroutine"},
		{"on: goroutine dump", true, "/debug/pprof/goroutine?debug=1", token, 200, "goroutine profile:"},
		{"on: heap", true, "/debug/pprof/heap?debug=1", token, 200, "heap profile:"},
		{"on: cmdline", true, "/debug/pprof/cmdline", token, 200, ""},
		{"on: cpu profile for a second", true, "/debug/pprof/profile?seconds=1", token, 200, ""},
		{"on: unknown profile", true, "/debug/pprof/nothing", token, 404, ""},
		{"on: /debug alone needs the token", true, "/debug", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Options{Token: token, Tokens: []Token{{Name: "monitor", Token: reader, Role: RoleReadOnly}}, Profiling: tt.profiling})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(a)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", "Bearer "+tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d %.200s, want %d", tt.path, resp.StatusCode, body, tt.want)
			}
			if tt.wantBody != "" && !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s body = %.300s, want it to contain %q", tt.path, body, tt.wantBody)
			}
			if tt.want == 200 && strings.HasSuffix(tt.path, "seconds=1") && len(body) == 0 {
				t.Errorf("GET %s: empty CPU profile", tt.path)
			}
		})
	}
}
