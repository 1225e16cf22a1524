package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, env(map[string]string{"ADMIN_TOKEN": "0123456789abcdef0123"}))
	if err != nil {
		t.Fatalf("Parse(full.yaml) error = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.listen", cfg.Server.Listen, "0.0.0.0:8443"},
		{"server.tls.min_version", cfg.Server.TLS.MinVersion, "1.3"},
		{"server.timeouts.read_header", cfg.Server.Timeouts.ReadHeader.D(), 2 * time.Second},
		{"server.max_header_bytes", cfg.Server.MaxHeaderBytes, ByteSize(16 << 10)},
		{"server.trusted_proxies", len(cfg.Server.TrustedProxies), 3},
		{"admin.token", cfg.Admin.Token.Value(), "0123456789abcdef0123"},
		{"store.retention.max_age", cfg.Store.Retention.MaxAge.D(), 72 * time.Hour},
		{"apis[0].mode", cfg.APIs[0].Mode, "monitor"},
		{"apis[0].limits.max_body_bytes", cfg.APIs[0].Limits.MaxBodyBytes, ByteSize(64 << 10)},
		{"apis[0].limits.operations.uploadReceipt", cfg.APIs[0].Limits.Operations["uploadReceipt"].MaxBodyBytes, ByteSize(10 << 20)},
		{"apis[1].upstream.urls[0]", cfg.APIs[1].Upstream.URLs[0], "http://127.0.0.1:3000"},
		{"apis[1] default path_prefix", cfg.APIs[1].Match.PathPrefix, "/"},
		{"apis[1] default mode", cfg.APIs[1].Mode, "enforce"},
		{"apis[1] default max body", cfg.APIs[1].Limits.MaxBodyBytes, ByteSize(DefaultMaxBody)},
		{"apis[1] default dial timeout", cfg.APIs[1].Upstream.Timeouts.Dial.D(), 5 * time.Second},
		{"apis[1] default max_fails", cfg.APIs[1].Upstream.Health.MaxFails, 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	base := "apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\n"
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		want []string // every one must appear
	}{
		{"empty", "", nil, []string{"config is empty"}},
		{"not yaml", "apis: [", nil, []string{"not valid YAML"}},
		{"no apis", "server: {listen: 127.0.0.1:1}", nil, []string{"apis: at least one API"}},
		{"unknown top field", base + "servr: {}\n", nil, []string{"servr: unknown field (did you mean server?)"}},
		{"unknown nested field", base + "server: {listen: 127.0.0.1:1, tls: {cert: x}}\n", nil, []string{"server.tls.cert: unknown field"}},
		{"unknown api field", "apis:\n  - name: a\n    upstream: {urls: [\"http://x\"], url: y}\n", nil, []string{"apis[0].upstream.url: unknown field"}},
		{"bad scheme", "apis:\n  - name: a\n    upstream: {urls: [\"ftp://x\"]}\n", nil, []string{"apis[0].upstream.urls[0]: must be http or https"}},
		{"userinfo", "apis:\n  - name: a\n    upstream: {urls: [\"http://u:p@x\"]}\n", nil, []string{"apis[0].upstream.urls[0]: must not hold credentials"}},
		{"no urls", "apis:\n  - name: a\n", nil, []string{"apis[0].upstream.urls: at least one"}},
		{"bad name", "apis:\n  - name: 'a b'\n    upstream: {urls: [\"http://x\"]}\n", nil, []string{"apis[0].name: must be"}},
		{"dup name", base + "  - name: a\n    match: {path_prefix: /x}\n    upstream: {urls: [\"http://x\"]}\n", nil, []string{"apis[1].name: \"a\" is already"}},
		{"dup route", base + "  - name: b\n    upstream: {urls: [\"http://x\"]}\n", nil, []string{"apis[1].match: same hosts and path_prefix"}},
		{"bad prefix", "apis:\n  - name: a\n    match: {path_prefix: x}\n    upstream: {urls: [\"http://x\"]}\n", nil, []string{"apis[0].match.path_prefix"}},
		{"bad duration", base + "server: {timeouts: {read: soon}}\n", nil, []string{"server.timeouts.read: must be a duration"}},
		{"bad size", base + "server: {max_header_bytes: lots}\n", nil, []string{"server.max_header_bytes: must be a size"}},
		{"bad listen", base + "server: {listen: nowhere}\n", nil, []string{"server.listen: must be host:port"}},
		{"negative observe interval", base + "log: {observe_event_interval: -1s}\n", nil, []string{"log.observe_event_interval: must not be negative (line 4)"}},
		{"long observe interval", base + "log: {observe_event_interval: 48h}\n", nil, []string{"log.observe_event_interval: must be between 0"}},
		{"bad cidr", base + "server: {trusted_proxies: [10.0.0.0/33]}\n", nil, []string{"server.trusted_proxies[0]: must be an IP or CIDR"}},
		{"cert without key", base + "server: {tls: {cert_file: a.pem}}\n", nil, []string{"server.tls: cert_file and key_file go together"}},
		{"client auth without ca", base + "server: {tls: {client_auth: require}}\n", nil, []string{"server.tls.client_auth: needs client_ca_file"}},
		{"exposed admin without token", base + "admin: {listen: 0.0.0.0:9090}\n", nil, []string{"admin.token: required when admin.listen is not a loopback"}},
		{"short admin token", base + "admin: {token: short}\n", nil, []string{"admin.token: must be at least 16 bytes"}},
		{"bad store driver", base + "store: {driver: mysql}\n", nil, []string{"store.driver: must be sqlite or postgres"}},
		{"postgres without dsn", base + "store: {driver: postgres}\n", nil, []string{"store.dsn: is required for driver postgres"}},
		{"postgres with path", base + "store: {driver: postgres, dsn: \"postgres://h/db\", path: x.db}\n", nil, []string{"store.path: is only for driver sqlite"}},
		{"sqlite with dsn", base + "store: {dsn: \"postgres://h/db\"}\n", nil, []string{"store.dsn: is only for driver postgres"}},
		{"bad mode", "apis:\n  - name: a\n    mode: block\n    upstream: {urls: [\"http://x\"]}\n", nil, []string{"apis[0].mode: must be enforce or monitor"}},
		{"unknown guard", "apis:\n  - name: a\n    upstream: {urls: [\"http://x\"]}\n    guards: {nosuch: {}}\n", nil, []string{"apis[0].guards.nosuch: unknown guard"}},
		{"operation limits without spec", "apis:\n  - name: a\n    upstream: {urls: [\"http://x\"]}\n    limits: {operations: {op: {max_body_bytes: 1}}}\n", nil, []string{"apis[0].limits.operations.op: operations are named by the spec"}},
		{"unset env", "apis:\n  - name: a\n    upstream: {urls: [\"${NOPE}\"]}\n", nil, []string{"apis[0].upstream.urls[0]: environment variable NOPE is not set"}},
		{"bad env name", "apis:\n  - name: a\n    upstream: {urls: [\"${1X}\"]}\n", nil, []string{"not a valid variable name"}},
		{"several errors at once", "server: {listen: x, max_headers: 0}\napis:\n  - name: a\n    upstream: {urls: [\"ftp://x\"]}\n", nil,
			[]string{"server.listen", "server.max_headers", "apis[0].upstream.urls[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), env(tt.env))
			if err == nil {
				t.Fatalf("Parse() error = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	e := env(map[string]string{"HOST": "h", "EMPTY": "", "PORT": "8080"})
	tests := []struct {
		in, want, wantErr string
	}{
		{"plain", "plain", ""},
		{"${HOST}", "h", ""},
		{"http://${HOST}:${PORT}/x", "http://h:8080/x", ""},
		{"${MISSING:-def}", "def", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"${MISSING:-}", "", ""},
		{"$${HOST}", "${HOST}", ""},
		{"cost $5", "cost $5", ""},
		{"${MISSING}", "", "MISSING is not set"},
		{"${HOST", "", "unclosed"},
		{"${}", "", "not a valid variable name"},
	}
	for _, tt := range tests {
		got, err := Substitute(tt.in, e)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Substitute(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A variable's value is data: it cannot add YAML structure.
func TestSubstitutionCannotInjectStructure(t *testing.T) {
	doc := "apis:\n  - name: a\n    upstream: {urls: [\"${U}\"]}\n"
	_, err := Parse([]byte(doc), env(map[string]string{"U": "http://x\"]}\n    mode: monitor\n#"}))
	if err == nil || !strings.Contains(err.Error(), "apis[0].upstream.urls[0]") {
		t.Fatalf("Parse() error = %v, want the injected value refused as a URL", err)
	}
}

func TestSubstitutedNumbersResolve(t *testing.T) {
	doc := "server:\n  max_headers: ${N}\napis:\n  - name: a\n    upstream: {urls: [\"http://x\"]}\n"
	cfg, err := Parse([]byte(doc), env(map[string]string{"N": "42"}))
	if err != nil || cfg.Server.MaxHeaders != 42 {
		t.Fatalf("Parse() = %v, %v; want max_headers 42", cfg, err)
	}
}

func TestAdminTokenFromEnv(t *testing.T) {
	doc := "apis:\n  - name: a\n    upstream: {urls: [\"http://x\"]}\n"
	cfg, err := Parse([]byte(doc), env(map[string]string{"APIGUARD_ADMIN_TOKEN": "from-the-environment-123"}))
	if err != nil || cfg.Admin.Token.Value() != "from-the-environment-123" {
		t.Fatalf("Parse() = %v; want the token from APIGUARD_ADMIN_TOKEN", err)
	}
}

func TestRedacted(t *testing.T) {
	doc := `admin: {token: super-secret-admin-token}
store: {driver: postgres, dsn: "postgres://u:super-secret-pw@db/apiguard"}
apis:
  - name: a
    upstream: {urls: ["http://x"]}
`
	cfg, err := Parse([]byte(doc), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "super-secret") || !strings.Contains(string(out), Redacted) {
		t.Errorf("Redacted() = %s, want the token replaced", out)
	}
	if s := cfg.Admin.Token.String(); s != Redacted {
		t.Errorf("Secret.String() = %q, want %q", s, Redacted)
	}
}

func TestRedactValue(t *testing.T) {
	v := map[string]any{
		"secret": "s", "hs256_secret": "x", "jwks_url": "https://a", "key_file": "/k.pem", "api_keys": []any{"k"},
		"nested": map[string]any{"client_secret": "c", "issuer": "i"},
	}
	redactValue(v)
	want := map[string]any{"secret": Redacted, "hs256_secret": Redacted, "jwks_url": "https://a", "key_file": "/k.pem", "api_keys": Redacted}
	for k, w := range want {
		if got := v[k]; got != w {
			t.Errorf("redactValue()[%s] = %v, want %v", k, got, w)
		}
	}
	n := v["nested"].(map[string]any)
	if n["client_secret"] != Redacted || n["issuer"] != "i" {
		t.Errorf("redactValue() nested = %v", n)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1024", 1024, true}, {"1KiB", 1024, true}, {"1 MiB", 1 << 20, true}, {"2GB", 2e9, true}, {"10B", 10, true},
		{"-1", 0, false}, {"1.5MiB", 0, false}, {"MiB", 0, false}, {"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"apis:\n  - name: a\n    upstream: {urls: [\"http://x\"]}\n", "a: ${X:-1}", "[", "apis: [{guards: {x: 1}}]"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := Parse([]byte(doc), env(nil))
		if err == nil && len(cfg.APIs) == 0 {
			t.Fatalf("Parse(%q) accepted a config with no API", doc)
		}
	})
}

func TestResolveAndStorePath(t *testing.T) {
	tests := []struct {
		dir, dataDir, storePath, want string
	}{
		{"/etc/apiguard", "./apiguard-data", "", "/etc/apiguard/apiguard-data/apiguard.db"},
		{"/etc/apiguard", "/var/lib/apiguard", "", "/var/lib/apiguard/apiguard.db"},
		{"/etc/apiguard", "./data", "events.db", "/etc/apiguard/events.db"},
		{"/etc/apiguard", "./data", "/srv/events.db", "/srv/events.db"},
		{"", "./apiguard-data", "", "apiguard-data/apiguard.db"}, // embedded config: the working directory
	}
	for _, tt := range tests {
		l := &Loaded{Config: Default(), Dir: tt.dir}
		l.DataDir, l.Store.Path = tt.dataDir, tt.storePath
		if got := l.StorePath(); got != tt.want {
			t.Errorf("StorePath(dir %q, data_dir %q, path %q) = %q, want %q", tt.dir, tt.dataDir, tt.storePath, got, tt.want)
		}
	}
}
