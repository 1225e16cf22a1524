package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// stdJSON is what encoding/json writes for s, without HTML escaping.
func stdJSON(t testing.TB, s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"line\nfeed\r\ttab", `"line\nfeed\r\ttab"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\b\f", `"\b\f"`},
		{"<html>&", `"<html>&"`},
		{"héllo 世界 🎉", `"héllo 世界 🎉"`},
		{"bad\xffutf8\xc3", `"bad\ufffdutf8\ufffd"`},
		{"sep\u2028\u2029", `"sep\u2028\u2029"`},
		{"\x7f", "\"\x7f\""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := string(appendJSONString(nil, tt.in))
			if got != tt.want {
				t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if std := stdJSON(t, tt.in); got != std {
				t.Errorf("appendJSONString(%q) = %s, want %s (encoding/json)", tt.in, got, std)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff", "\u2028", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(appendJSONString([]byte("x"), s))[1:]
		if want := stdJSON(t, s); got != want {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendAccess(t *testing.T) {
	a := &Access{
		Time:            time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.FixedZone("X", 3600)),
		RequestID:       "req-1",
		API:             "pets",
		Operation:       "getPet",
		Method:          "GET",
		Path:            "/pets/\"1\"",
		Query:           "page=2&access_token=secret1&q=a%20b",
		Proto:           "HTTP/1.1",
		ClientIP:        "192.0.2.1",
		Principal:       "alice",
		Status:          403,
		Latency:         1234567 * time.Nanosecond,
		UpstreamLatency: 2 * time.Millisecond,
		BytesIn:         10,
		BytesOut:        20,
		Upstream:        "backend:8080",
		UserAgent:       "curl/8\n",
		Verdict:         VerdictBlock,
		Guard:           "waf",
		Rule:            "waf.942100",
	}
	line, _ := appendAccess(nil, a, nil)
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("appendAccess() = %q, want one line", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("appendAccess() = %s, not JSON: %v", line, err)
	}
	want := map[string]any{
		"time": "2025-03-04T04:06:07.891Z", "kind": "access", "request_id": "req-1", "api": "pets",
		"operation": "getPet", "method": "GET", "path": "/pets/\"1\"",
		"query": "page=2&access_token=REDACTED&q=a%20b", "proto": "HTTP/1.1",
		"client_ip": "192.0.2.1", "principal": "alice", "status": 403.0,
		"latency_ms": 1.234, "upstream_latency_ms": 2.0, "bytes_in": 10.0, "bytes_out": 20.0,
		"upstream": "backend:8080", "user_agent": "curl/8\n", "verdict": "block",
		"guard": "waf", "rule": "waf.942100",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("appendAccess() field %s = %#v, want %#v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("appendAccess() has %d fields, want %d: %s", len(got), len(want), line)
	}
	if bytes.Contains(line, []byte("secret1")) {
		t.Errorf("appendAccess() = %s, leaks the query secret", line)
	}
}

func TestAppendMillis(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0.000"},
		{-5, "0.000"},
		{999 * time.Nanosecond, "0.000"},
		{1500 * time.Microsecond, "1.500"},
		{12*time.Second + 7*time.Microsecond, "12000.007"},
	}
	for _, tt := range tests {
		if got := string(appendMillis(nil, tt.in)); got != tt.want {
			t.Errorf("appendMillis(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAppendTime(t *testing.T) {
	tests := []time.Time{
		time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("W", -5*3600)),
		time.Date(2000, 2, 29, 0, 0, 0, 0, time.Local),
		time.Unix(0, 0),
		time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, tm := range tests {
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
