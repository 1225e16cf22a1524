package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
)

func loadFile(t *testing.T, path string) *config.Loaded {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load() error = %v", err)
	}
	return cfg
}

// Reloads under load: no request fails, traffic moves to the new upstream,
// and an invalid config is refused while the old one keeps serving.
func TestHotReloadUnderLoad(t *testing.T) {
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	dir := t.TempDir()
	file := filepath.Join(dir, "apiguard.yaml")
	cfgFor := func(up string) string {
		return "admin: {listen: \"off\"}\napis:\n  - name: x\n    upstream: {urls: [\"" + up + "\"]}\n"
	}
	writeFile(t, file, cfgFor(a.URL))
	tg := startLoaded(t, loadFile(t, file))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var failed, total atomic.Int64
	var lastFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(tg.url + "/load")
				total.Add(1)
				if err != nil {
					failed.Add(1)
					lastFailure.Store(err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					lastFailure.Store(resp.Status)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		time.Sleep(40 * time.Millisecond)
		up := a.URL
		if i%2 == 0 {
			up = b.URL
		}
		writeFile(t, file, cfgFor(up))
		if err := tg.g.Reload(loadFile(t, file)); err != nil {
			t.Fatalf("Reload() error = %v", err)
		}
	}
	// An invalid config: refused, the last good one keeps serving.
	writeFile(t, file, "apis:\n  - name: x\n    upstream: {urls: [\"ftp://nope\"]}\n")
	if _, err := config.Load(file); err == nil {
		t.Fatal("config.Load(invalid) error = nil")
	}
	badSpec := "admin: {listen: \"off\"}\napis:\n  - name: x\n    spec: missing.yaml\n    upstream: {urls: [\"" + a.URL + "\"]}\n"
	writeFile(t, file, badSpec)
	if err := tg.g.Reload(loadFile(t, file)); err == nil || !strings.Contains(err.Error(), "apis[0].spec") {
		t.Fatalf("Reload(missing spec) error = %v, want apis[0].spec named", err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if total.Load() < 100 {
		t.Fatalf("only %d requests were made under load", total.Load())
	}
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during reloads (last: %v)", f, total.Load(), lastFailure.Load())
	}
	resp, err := http.Get(tg.url + "/after")
	if err != nil {
		t.Fatal(err)
	}
	var got echoed
	getJSON(t, resp, &got)
	if got.Name != "a" { // the 20th reload (i=19) pointed at a
		t.Errorf("after reloads traffic goes to %q, want a", got.Name)
	}
	if n := len(tg.rec.eventsWithRule("config.reload_refused")); n != 1 {
		t.Errorf("config.reload_refused events = %d, want 1", n)
	}
	if n := len(tg.rec.eventsWithRule("config.reloaded")); n != 20 {
		t.Errorf("config.reloaded events = %d, want 20", n)
	}
	t.Logf("%d requests, 0 failed, across 20 reloads", total.Load())
}

func TestWatchFilesReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "apiguard.yaml")
	writeFile(t, file, "x: 1\n")
	changed := make(chan struct{}, 10)
	w, err := WatchFiles(context.Background(), []string{file}, func() { changed <- struct{}{} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, "x: 2\n") // rename over, as editors do
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported within 5s")
	}
	select {
	case <-changed:
		t.Error("one save reported twice (debounce)")
	case <-time.After(2 * watchDebounce):
	}
}

// Shutdown drains a slow in-flight request and refuses new connections.
func TestGracefulShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	slow := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(700 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	}))
	tg := startGateway(t, oneAPI, map[string]string{"UP0": slow})
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(tg.url + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- resp.Status + " " + string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- tg.srv.Shutdown(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", tg.addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	if got := <-result; got != "200 OK done" {
		t.Errorf("in-flight request = %q, want 200 OK done", got)
	}
	if err := <-shutdownDone; err != nil {
		t.Errorf("Shutdown() error = %v", err)
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all ECDSA P-256.
type testPKI struct {
	caFile, certFile, keyFile string
	clientCert                tls.Certificate
	caPool                    *x509.CertPool
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apiguard test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, ip bool) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	pemFile := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvDER, srvKey := issue("127.0.0.1", x509.ExtKeyUsageServerAuth, true)
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	cliDER, cliKey := issue("alice-device", x509.ExtKeyUsageClientAuth, false)
	pki := &testPKI{
		caFile:   pemFile("ca.pem", "CERTIFICATE", caDER),
		certFile: pemFile("server.pem", "CERTIFICATE", srvDER),
		keyFile:  pemFile("server-key.pem", "EC PRIVATE KEY", srvKeyDER),
		caPool:   x509.NewCertPool(),
	}
	pki.caPool.AddCert(ca)
	pki.clientCert = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	return pki
}

func TestTLSAndClientCertificates(t *testing.T) {
	up := echoUpstream(t, "a")
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	tests := []struct {
		name       string
		clientAuth string
		sendCert   bool
		wantErr    bool
		wantCN     string
	}{
		{"require with a certificate", "require", true, false, "alice-device"},
		{"require without a certificate", "require", false, true, ""},
		{"request without a certificate", "request", false, false, ""},
		{"request with a certificate", "request", true, false, "alice-device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `admin: {listen: "off"}
server:
  tls: {cert_file: "` + pki.certFile + `", key_file: "` + pki.keyFile + `", client_ca_file: "` + pki.caFile + `", client_auth: ` + tt.clientAuth + `}
apis:
  - name: a
    upstream: {urls: ["${UP0}"]}
    guards: {testguard: {record_cert: true}}
`
			seenCerts.Lock()
			seenCerts.names = nil
			seenCerts.Unlock()
			tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
			tc := &tls.Config{RootCAs: pki.caPool}
			if tt.sendCert {
				tc.Certificates = []tls.Certificate{pki.clientCert}
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
			resp, err := client.Get(tg.url + "/x")
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request without a client certificate succeeded, want a handshake failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Errorf("answer = %d over HTTP/%d, want 200 over HTTP/2", resp.StatusCode, resp.ProtoMajor)
			}
			seenCerts.Lock()
			got := strings.Join(seenCerts.names, ",")
			seenCerts.Unlock()
			if got != tt.wantCN {
				t.Errorf("client certificate seen by guards = %q, want %q", got, tt.wantCN)
			}
		})
	}
	// TLS 1.1 and below are refused.
	doc := `admin: {listen: "off"}
server: {tls: {cert_file: "` + pki.certFile + `", key_file: "` + pki.keyFile + `"}}
apis:
  - name: a
    upstream: {urls: ["${UP0}"]}
`
	tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.caPool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(tg.url + "/x"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was accepted")
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	doc := "admin: {listen: \"off\"}\napis:\n  - name: a\n    upstream: {urls: [\"https://127.0.0.1:1\"], tls: {insecure_skip_verify: true}}\n"
	tg := startGateway(t, doc, nil)
	if n := len(tg.rec.eventsWithRule("config.insecure_skip_verify")); n != 1 {
		t.Errorf("insecure_skip_verify events = %d, want 1", n)
	}
}

// A client that sends its head too slowly is cut off at read_header.
func TestSlowlorisCutOff(t *testing.T) {
	up := echoUpstream(t, "a")
	doc := "admin: {listen: \"off\"}\nserver: {timeouts: {read_header: 300ms}}\napis:\n  - name: a\n    upstream: {urls: [\"${UP0}\"]}\n"
	tg := startGateway(t, doc, map[string]string{"UP0": up.URL})
	c, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 20; i++ {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c, "X-Slow: a\r\n"); err != nil {
			break
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 512)
	_, err = c.Read(buf)
	if err == nil && !strings.Contains(string(buf), "408") {
		t.Fatalf("slow client got an answer %q, want the connection closed", buf)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("slow client held the connection for %v, want about read_header (300ms)", d)
	}
}
