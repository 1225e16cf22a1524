package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const alertsBase = "apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\n"

func TestAlertsDefaults(t *testing.T) {
	doc := alertsBase + `alerts:
  file: {path: events.jsonl}
  syslog:
    - {address: "siem.example:514"}
    - {name: splunk, address: "siem.example:6514", network: tls, format: json}
  webhooks:
    - {url: "https://hooks.example/x"}
    - {url: "https://hooks.example/y", dedupe_window: 0s}
`
	cfg, err := Parse([]byte(doc), env(nil))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	a := cfg.Alerts
	checks := []struct {
		name      string
		got, want any
	}{
		{"file.format", a.File.Format, "json"},
		{"file.max_size", a.File.MaxSize, ByteSize(100 << 20)},
		{"file.max_files", a.File.MaxFiles, 5},
		{"file.filter.min_severity", a.File.Filter.MinSeverity, "info"},
		{"syslog[0].name", a.Syslog[0].Name, "syslog-0"},
		{"syslog[0].network", a.Syslog[0].Network, "udp"},
		{"syslog[0].format", a.Syslog[0].Format, "cef"},
		{"syslog[0].facility", a.Syslog[0].Facility, "local0"},
		{"syslog[0].max_message_bytes", a.Syslog[0].MaxMessageBytes, ByteSize(2048)},
		{"syslog[1].max_message_bytes", a.Syslog[1].MaxMessageBytes, ByteSize(8 << 10)},
		{"syslog[1].name", a.Syslog[1].Name, "splunk"},
		{"webhooks[0].name", a.Webhooks[0].Name, "webhook-0"},
		{"webhooks[0].format", a.Webhooks[0].Format, "json"},
		{"webhooks[0].dedupe_window", a.Webhooks[0].DedupeWindow.D(), time.Minute},
		{"webhooks[1].dedupe_window", a.Webhooks[1].DedupeWindow.D(), time.Duration(0)},
		{"webhooks[0].rate_per_minute", a.Webhooks[0].RatePerMinute, 30},
		{"webhooks[0].burst", a.Webhooks[0].Burst, 10},
		{"webhooks[0].max_attempts", a.Webhooks[0].MaxAttempts, 5},
		{"webhooks[0].filter.min_severity", a.Webhooks[0].Filter.MinSeverity, "medium"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("alerts.%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The webhook URL is a secret: the redacted config does not show it.
	if s := stringify(cfg.Redacted()); strings.Contains(s, "hooks.example") {
		t.Errorf("Redacted() shows the webhook URL: %s", s)
	}
}

func TestAlertsErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"webhook url", "alerts: {webhooks: [{url: \"ftp://x\"}]}", "alerts.webhooks[0].url: must be an http(s) URL"},
		{"webhook url userinfo", "alerts: {webhooks: [{url: \"https://u:p@x\"}]}", "alerts.webhooks[0].url: must not hold credentials"},
		{"webhook format", "alerts: {webhooks: [{url: \"https://x\", format: teams}]}", "alerts.webhooks[0].format: must be json, ocsf or slack"},
		{"webhook header", "alerts: {webhooks: [{url: \"https://x\", headers: {Content-Type: a}}]}", "alerts.webhooks[0].headers.Content-Type: is set by apiguard"},
		{"webhook secret", "alerts: {webhooks: [{url: \"https://x\", secret: short}]}", "alerts.webhooks[0].secret: must be at least 16 bytes"},
		{"webhook min severity", "alerts: {webhooks: [{url: \"https://x\", filter: {min_severity: urgent}}]}", "alerts.webhooks[0].filter.min_severity: must be info, low, medium or high"},
		{"category", "alerts: {webhooks: [{url: \"https://x\", filter: {categories: [API11]}}]}", "alerts.webhooks[0].filter.categories[0]: must be an OWASP API 2023 id"},
		{"duplicate name", "alerts: {syslog: [{name: s, address: \"h:514\"}], webhooks: [{name: s, url: \"https://x\"}]}", `alerts.webhooks[0].name: "s" is already the name of alerts.syslog[0]`},
		{"syslog address", "alerts: {syslog: [{address: siem}]}", "alerts.syslog[0].address: must be host:port"},
		{"syslog network", "alerts: {syslog: [{address: \"h:514\", network: quic}]}", "alerts.syslog[0].network: must be udp, tcp or tls"},
		{"syslog facility", "alerts: {syslog: [{address: \"h:514\", facility: local9}]}", "alerts.syslog[0].facility: must be a syslog facility name"},
		{"syslog tls on udp", "alerts: {syslog: [{address: \"h:514\", tls: {ca_file: ca.pem}}]}", "alerts.syslog[0].tls: is only for network tls"},
		{"syslog app name", "alerts: {syslog: [{address: \"h:514\", app_name: \"api guard\"}]}", "alerts.syslog[0].app_name: must be 1-48 printable ASCII"},
		{"file format", "alerts: {file: {path: x, format: xml}}", "alerts.file.format: must be json or ocsf"},
		{"file max size", "alerts: {file: {path: x, max_size: 10}}", "alerts.file.max_size: must be at least 4KiB"},
		{"unknown field", "alerts: {webhook: []}", "alerts.webhook: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(alertsBase+tt.doc+"\n"), env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) error = %v, want %q", tt.doc, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "u:p@") {
				t.Errorf("Parse(%s) error repeats the URL: %v", tt.doc, err)
			}
		})
	}
}

func TestAdminTokens(t *testing.T) {
	tok := "0123456789abcdef0123"
	ok := alertsBase + "admin:\n  token: " + tok + "\n  tokens:\n    - {name: ops-alice, token: alice-token-0123456789}\n    - {name: auditor, token: auditor-token-0123456789, role: read-only}\n"
	cfg, err := Parse([]byte(ok), env(nil))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	if got := cfg.Admin.Tokens[0].Role; got != RoleAdmin {
		t.Errorf("admin.tokens[0].role = %q, want the default admin", got)
	}
	if s := stringify(cfg.Redacted()); strings.Contains(s, "alice-token") {
		t.Errorf("Redacted() shows a token: %s", s)
	}
	tests := []struct {
		name, tokens, want string
	}{
		{"reserved name", "[{name: admin, token: another-token-0123456789}]", `admin.tokens[0].name: "admin" is the name of admin.token`},
		{"duplicate name", "[{name: a, token: token-one-0123456789}, {name: a, token: token-two-0123456789}]", `admin.tokens[1].name: "a" is already the name of admin.tokens[0]`},
		{"same token as admin.token", "[{name: a, token: " + tok + "}]", "admin.tokens[0].token: is the same token as admin.token"},
		{"short", "[{name: a, token: short}]", "admin.tokens[0].token: must be at least 16 bytes"},
		{"role", "[{name: a, token: token-one-0123456789, role: root}]", "admin.tokens[0].role: must be admin or read-only"},
		{"bad name", "[{name: \"a b\", token: token-one-0123456789}]", "admin.tokens[0].name: must be 1-64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := alertsBase + "admin:\n  token: " + tok + "\n  tokens: " + tt.tokens + "\n"
			_, err := Parse([]byte(doc), env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(tokens %s) error = %v, want %q", tt.tokens, err, tt.want)
			}
		})
	}
	// Named tokens alone are enough for a non-loopback admin listener.
	doc := alertsBase + "admin:\n  listen: \"0.0.0.0:9090\"\n  tokens: [{name: ops, token: token-one-0123456789}]\n"
	if _, err := Parse([]byte(doc), env(nil)); err != nil {
		t.Errorf("Parse(non-loopback admin with named tokens) error = %v", err)
	}
}

// stringify renders a redacted config as JSON text.
func stringify(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
