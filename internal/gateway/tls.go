package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apiguard/apiguard/internal/config"
)

// modernCipherSuites are the TLS 1.2 suites offered: forward secret AEADs
// only (TLS 1.3 suites are not configurable and all fine).
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// resolvePath makes a config-relative path absolute.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// serverTLSConfig builds the listener's TLS settings, or nil without TLS.
func serverTLSConfig(c config.ServerTLS, dir string) (*tls.Config, error) {
	if c.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(resolvePath(dir, c.CertFile), resolvePath(dir, c.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("server.tls: loading certificate: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: modernCipherSuites,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if c.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	if c.DisableHTTP2 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	if c.ClientCAFile != "" {
		pool, err := loadPool(resolvePath(dir, c.ClientCAFile))
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if c.ClientAuth == "request" {
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg, nil
}

// upstreamTLSConfig builds the client TLS settings for an API's upstreams.
func upstreamTLSConfig(c config.UpstreamTLS, dir string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // warned about at every load
	if c.CAFile != "" {
		pool, err := loadPool(resolvePath(dir, c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(resolvePath(dir, c.CertFile), resolvePath(dir, c.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}
