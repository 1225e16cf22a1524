package gateway

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpstreamTLS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure upstream")
	}))
	defer up.Close()
	ca := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tls  string
		wantStatus int
		wantEvent  bool
	}{
		{"system roots do not know the test CA", "{}", 502, false},
		{"configured CA", "{ca_file: \"" + ca + "\"}", 200, false},
		{"configured CA and a server name the certificate has", "{ca_file: \"" + ca + "\", server_name: example.com}", 200, false},
		{"configured CA and a wrong server name", "{ca_file: \"" + ca + "\", server_name: other.example}", 502, false},
		{"insecure_skip_verify", "{insecure_skip_verify: true}", 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"], tls: " + tt.tls + "}\n"
			tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
			resp, err := http.Get(tg.url + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if resp.StatusCode == 502 && strings.Contains(string(body), "certificate") {
				t.Errorf("502 answer leaks the TLS error: %s", body)
			}
			if got := len(tg.rec.eventsWithRule("config.insecure_skip_verify")) > 0; got != tt.wantEvent {
				t.Errorf("insecure_skip_verify event = %v, want %v", got, tt.wantEvent)
			}
		})
	}
}
