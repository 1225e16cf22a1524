package lint

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/config"
	_ "github.com/apiguard/apiguard/internal/guard/dlp"
	_ "github.com/apiguard/apiguard/internal/guard/headers"
	"github.com/apiguard/apiguard/internal/pipeline"
)

func init() {
	// Sections of guards written elsewhere, so the fixtures load.
	none := func(pipeline.Build) (any, error) { return nil, nil }
	for step, section := range map[string]string{"ratelimit.ip": "ratelimit", "authn": "authn"} {
		if _, ok := pipeline.Registered(step); !ok {
			pipeline.Register(pipeline.Registration{Name: step, Section: section, New: none})
		}
	}
}

func rules(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file    string
		want    []string // rules that must be reported
		notWant []string // rules that must not be
		field   string   // the field of the first wanted rule
	}{
		{"clean", nil, []string{"server.plain_http", "cors.wildcard", "authn.weak_hmac_secret", "ratelimit.login_unprotected", "mode.monitor_everywhere"}, ""},
		{"plain_http", []string{"server.plain_http"}, nil, "server.listen"},
		{"plain_http_tls", nil, []string{"server.plain_http"}, ""},
		{"trusted_any", []string{"server.trusted_proxies_any"}, nil, "server.trusted_proxies[0]"},
		{"trusted_ok", nil, []string{"server.trusted_proxies_any"}, ""},
		{"cors_star", []string{"cors.wildcard"}, nil, "apis[0].guards.headers.cors.origins[1]"},
		{"monitor_all", []string{"mode.monitor_everywhere", "api.monitor"}, nil, "apis"},
		{"monitor_guards", []string{"mode.monitor_everywhere"}, nil, "apis[0].guards"},
		{"monitor_one", []string{"guard.monitor"}, []string{"mode.monitor_everywhere"}, "apis[0].guards.headers.mode"},
		{"insecure", []string{"tls.insecure_skip_verify"}, nil, "apis[0].upstream.tls.insecure_skip_verify"},
		{"weak_secret", []string{"authn.weak_hmac_secret"}, nil, "apis[0].guards.authn.jwt.hs256_secret"},
		{"login_no_rl", []string{"ratelimit.login_unprotected"}, nil, "apis[0].guards.ratelimit"},
		{"login_rl_other", []string{"ratelimit.login_unprotected"}, nil, "apis[0].guards.ratelimit"},
		{"login_rl_all", nil, []string{"ratelimit.login_unprotected"}, ""},
		{"login_authn", nil, []string{"ratelimit.login_unprotected"}, ""},
		{"login_authn_off", []string{"ratelimit.login_unprotected"}, nil, "apis[0].guards.ratelimit"},
		{"admin_exposed", []string{"admin.exposed"}, []string{"admin.exposed_without_token", "admin.profiling_exposed"}, "admin.listen"},
		{"admin_profiling", []string{"admin.exposed", "admin.profiling_exposed"}, []string{"admin.exposed_without_token"}, "admin.listen"},
		{"admin_tokens", []string{"admin.exposed"}, []string{"admin.exposed_without_token"}, "admin.listen"},
		{"egress_exposed", []string{"egress.exposed"}, nil, "egress.listen"},
		{"egress_loopback", nil, []string{"egress.exposed"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("testdata", tt.file+".yaml"))
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			fs := Lint(cfg, nil)
			got := rules(fs)
			for _, r := range tt.want {
				if !slices.Contains(got, r) {
					t.Errorf("Lint(%s) = %q, want %s", tt.file, got, r)
				}
			}
			for _, r := range tt.notWant {
				if slices.Contains(got, r) {
					t.Errorf("Lint(%s) = %q, want no %s", tt.file, got, r)
				}
			}
			if tt.field != "" {
				i := slices.Index(got, tt.want[0])
				if i >= 0 && fs[i].Field != tt.field {
					t.Errorf("Lint(%s) %s field = %q, want %q", tt.file, tt.want[0], fs[i].Field, tt.field)
				}
			}
			for _, f := range fs {
				if strings.Contains(f.String(), "short-secret") {
					t.Errorf("a finding prints the secret: %s", f)
				}
			}
		})
	}
}

// TestAdminToken builds the configs by hand: config.Validate refuses an
// admin listener beyond loopback with neither admin.token nor admin.tokens.
func TestAdminToken(t *testing.T) {
	named := []config.AdminToken{{Name: "ops", Token: "0123456789abcdef0123", Role: config.RoleAdmin}}
	tests := []struct {
		name    string
		admin   config.Admin
		want    string // the admin rule reported
		notWant string // the admin rule not reported
	}{
		{"no token", config.Admin{Listen: "0.0.0.0:9090"}, "admin.exposed_without_token", "admin.exposed"},
		{"token", config.Admin{Listen: "0.0.0.0:9090", Token: "0123456789abcdef0123"}, "admin.exposed", "admin.exposed_without_token"},
		{"tokens", config.Admin{Listen: "0.0.0.0:9090", Tokens: named}, "admin.exposed", "admin.exposed_without_token"},
		{"token and tokens", config.Admin{Listen: "[::]:9090", Token: "0123456789abcdef0123", Tokens: named}, "admin.exposed", "admin.exposed_without_token"},
		{"loopback", config.Admin{Listen: "127.0.0.1:9090"}, "", "admin.exposed_without_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			c.Admin = tt.admin
			got := rules(Lint(&config.Loaded{Config: c}, nil))
			if tt.want != "" && !slices.Contains(got, tt.want) {
				t.Errorf("Lint(admin.listen %q) = %q, want %s", tt.admin.Listen, got, tt.want)
			}
			if slices.Contains(got, tt.notWant) {
				t.Errorf("Lint(admin.listen %q) = %q, want no %s", tt.admin.Listen, got, tt.notWant)
			}
		})
	}
}

func TestEgressListen(t *testing.T) {
	tests := []struct {
		listen string
		token  config.Secret
		want   bool
	}{
		{"", "", false},
		{"127.0.0.1:8090", "", false},
		{"localhost:8090", "", false},
		{"[::1]:8090", "", false},
		{":8090", "", true},
		{"0.0.0.0:8090", "", true},
		{"[::]:8090", "", true},
		{"10.0.0.5:8090", "", true},
		{"10.0.0.5:8090", "s3cret-egress-token-0123", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+string(tt.token), func(t *testing.T) {
			c := config.Default()
			c.Egress.Listen, c.Egress.Token = tt.listen, tt.token
			fs := Lint(&config.Loaded{Config: c}, nil)
			i := slices.Index(rules(fs), "egress.exposed")
			if (i >= 0) != tt.want {
				t.Fatalf("Lint(egress.listen %q) = %q, want egress.exposed %v", tt.listen, rules(fs), tt.want)
			}
			if i < 0 {
				return
			}
			if tt.token == "" && (fs[i].Severity != Warning || fs[i].Field != "egress.listen" || !strings.Contains(fs[i].Message, "127.0.0.1")) {
				t.Errorf("Lint(egress.listen %q) = %s, want a warning on egress.listen that says to bind it to 127.0.0.1", tt.listen, fs[i])
			}
			if tt.token != "" && (fs[i].Severity != Info || strings.Contains(fs[i].String(), string(tt.token))) {
				t.Errorf("Lint(egress.listen %q with a token) = %s, want an info that does not print the token", tt.listen, fs[i])
			}
		})
	}
}
