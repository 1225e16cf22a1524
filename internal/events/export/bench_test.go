package export

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkExport is what the request path pays per security event with
// a file, a syslog and a webhook exporter configured (filters, queueing;
// the writing happens on the exporters' goroutines). The receivers do not
// exist, so the queues fill and the rest is the drop path.
func BenchmarkExport(b *testing.B) {
	h := New(Options{})
	a := alertsConfig(b, fmt.Sprintf("  file: {path: %q}\n  syslog: [{address: \"127.0.0.1:9\", network: udp}]\n  webhooks: [{url: \"http://127.0.0.1:9/\", allow_private: true, max_attempts: 1}]\n",
		filepath.Join(b.TempDir(), "bench.jsonl")))
	if err := h.Apply(a, ""); err != nil {
		b.Fatal(err)
	}
	defer h.Close(b.Context())
	e := sample()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Export(e)
	}
}

func BenchmarkAppendCEF(b *testing.B) {
	e := sample()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCEF(buf[:0], &e, "1.0.0")
	}
}

func BenchmarkSyslogMessage(b *testing.B) {
	e := sample()
	m := &syslogMessage{facility: 16, hostname: "gw-1", appName: "apiguard", procID: "1", format: "cef", max: 8192, version: "1.0.0"}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.appendRFC5424(buf[:0], &e)
	}
}

func BenchmarkOCSF(b *testing.B) {
	e := sample()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendOCSF(buf[:0], &e, "1.0.0")
	}
}
