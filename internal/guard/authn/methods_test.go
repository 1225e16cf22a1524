package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
	"github.com/apiguard/apiguard/internal/testsvc"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := newClock()
	svc := pipeline.NewServices(pipeline.Services{Store: db, Now: clk.Now})
	defer svc.Close()
	key, id, hash := NewAPIKey()
	if err := db.CreateKey(ctx, store.APIKey{ID: id, Name: "partner", Hash: hash, Roles: []string{"partner"}, Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	e := mustBuild(t, `
apikey:
  query: api_key
  keys:
    - {id: k1, name: mobile, sha256: `+sha("secret-one")+`, roles: [user], scopes: [a]}
    - {id: k2, sha256: `+sha("secret-two")+`, disabled: true}
    - {id: k3, sha256: `+sha("secret-three")+`, expires: "2000-01-01T00:00:00Z"}
`, envOpts{svc: svc})
	req := func(header, query string) *http.Request {
		r := httptest.NewRequest("GET", "/api/v1/accounts", nil)
		if header != "" {
			r.Header.Set("X-API-Key", header)
		}
		if query != "" {
			r.URL.RawQuery = "api_key=" + url.QueryEscape(query)
		}
		return r
	}
	tests := []struct {
		name       string
		r          *http.Request
		want, subj string
	}{
		{"config key", req("secret-one", ""), "", "k1"},
		{"store key", req(key, ""), "", id},
		{"wrong key", req("secret-nope", ""), "authn.bad_api_key", ""},
		{"disabled", req("secret-two", ""), "authn.bad_api_key", ""},
		{"expired", req("secret-three", ""), "authn.expired", ""},
		{"store key, wrong secret", req(key[:len(key)-2]+"xx", ""), "authn.bad_api_key", ""},
		{"query key warns", req("", "secret-one"), "authn.apikey_in_query", "k1"},
		{"none", req("", ""), "authn.missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, p, err := e.run(t, tt.r, "listAccounts")
			if err != nil || rule(v) != tt.want {
				t.Fatalf("Request() = %q (%s), %v, want %q", rule(v), v.Detail, err, tt.want)
			}
			if tt.subj != "" && (p == nil || p.Subject != tt.subj || p.Method != MethodAPIKey) {
				t.Errorf("principal = %+v, want subject %s", p, tt.subj)
			}
		})
	}
	rl, _ := sharedRevocations(svc)
	if err := rl.add(ctx, store.Revocation{ID: "r1", Kind: "key", Value: "k1", Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := e.run(t, req("secret-one", ""), "listAccounts"); rule(v) != "authn.revoked" {
		t.Errorf("revoked config key = %q, want authn.revoked", rule(v))
	}
	if err := db.RevokeKey(ctx, id, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute) // past store_cache_ttl
	if v, _, _ := e.run(t, req(key, ""), "listAccounts"); rule(v) != "authn.revoked" {
		t.Errorf("store key revoked with keys revoke = %q, want authn.revoked", rule(v))
	}
}

func selfSigned(t *testing.T, cn string, dns ...string) *x509.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}},
		DNSNames: dns, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestMTLS(t *testing.T) {
	e := mustBuild(t, `
mtls:
  rules:
    - {common_name: "partner-*", subject: "*O=Acme*", roles: [partner]}
    - {dns: "*.svc.example", subject_from: dns, roles: [service]}
`)
	tests := []struct {
		cert       *x509.Certificate
		want, subj string
	}{
		{selfSigned(t, "partner-1"), "", "partner-1"},
		{selfSigned(t, "x", "billing.svc.example"), "", "billing.svc.example"},
		{selfSigned(t, "intruder"), "authn.bad_client_cert", ""},
		{nil, "authn.missing", ""},
	}
	for _, tt := range tests {
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("GET", "/api/v1/accounts", nil)
		x.Operation = e.op("listAccounts")
		x.ClientCert = tt.cert
		v, err := e.g.Request(context.Background(), x)
		if err != nil || rule(v) != tt.want {
			t.Errorf("Request(cert) = %q, %v, want %q", rule(v), err, tt.want)
		}
		if tt.subj != "" && (x.Principal == nil || x.Principal.Subject != tt.subj) {
			t.Errorf("principal = %+v, want %s", x.Principal, tt.subj)
		}
		x.Release()
	}
}

func TestHMACSigning(t *testing.T) {
	secret := []byte(strings.Repeat("z", 32))
	e := mustBuild(t, `
hmac:
  window: 5m
  keys: [{id: mobile, secret: `+string(secret)+`, roles: [app]}]
`)
	now := e.clock.Now()
	signed := func(method, target, body, nonce string, ts time.Time, sec []byte) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		SignRequest(r, []byte(body), "mobile", sec, ts, nonce)
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"valid", signed("POST", "/api/v1/transfers?b=2&a=1&a=0", `{"amount":1}`, "n1", now, secret), ""},
		{"replay", signed("POST", "/api/v1/transfers?b=2&a=1&a=0", `{"amount":1}`, "n1", now, secret), "authn.hmac_replay"},
		{"stale", signed("GET", "/api/v1/accounts", "", "n2", now.Add(-10*time.Minute), secret), "authn.hmac_stale"},
		{"wrong secret", signed("GET", "/api/v1/accounts", "", "n3", now, []byte(strings.Repeat("y", 32))), "authn.hmac_bad_signature"},
	}
	tampered := signed("POST", "/api/v1/transfers", `{"amount":1}`, "n4", now, secret)
	tampered.Body = io.NopCloser(strings.NewReader(`{"amount":1000}`))
	tests = append(tests, struct {
		name string
		r    *http.Request
		want string
	}{"tampered body", tampered, "authn.hmac_bad_signature"})
	moved := signed("GET", "/api/v1/accounts?x=1", "", "n5", now, secret)
	moved.URL.RawQuery = "x=2"
	tests = append(tests, struct {
		name string
		r    *http.Request
		want string
	}{"tampered query", moved, "authn.hmac_bad_signature"})
	for _, tt := range tests {
		v, p, err := e.run(t, tt.r, "listAccounts")
		if err != nil || rule(v) != tt.want {
			t.Errorf("%s: Request() = %q (%s), %v, want %q", tt.name, rule(v), v.Detail, err, tt.want)
		}
		if tt.want == "" && (p == nil || p.Subject != "mobile" || p.Method != MethodHMAC) {
			t.Errorf("%s: principal = %+v", tt.name, p)
		}
	}
}

func TestHMACNoncesInRedis(t *testing.T) {
	rdb := testsvc.Redis(t)
	secret := []byte(strings.Repeat("z", 32))
	section := "hmac: {keys: [{id: k, secret: " + string(secret) + "}]}"
	clk := newClock()
	svcA := pipeline.NewServices(pipeline.Services{Redis: rdb, Now: clk.Now})
	svcB := pipeline.NewServices(pipeline.Services{Redis: rdb, Now: clk.Now})
	defer svcA.Close()
	defer svcB.Close()
	a, b := mustBuild(t, section, envOpts{svc: svcA}), mustBuild(t, section, envOpts{svc: svcB})
	mk := func() *http.Request {
		r := httptest.NewRequest("GET", "/api/v1/accounts", nil)
		SignRequest(r, nil, "k", secret, clk.Now(), "once")
		return r
	}
	if v, _, err := a.run(t, mk(), "listAccounts"); err != nil || rule(v) != "" {
		t.Fatalf("first use on instance A = %q, %v", rule(v), err)
	}
	if v, _, err := b.run(t, mk(), "listAccounts"); err != nil || rule(v) != "authn.hmac_replay" {
		t.Errorf("replay on instance B = %q, %v, want authn.hmac_replay", rule(v), err)
	}
}

func FuzzHMACAuth(f *testing.F) {
	f.Add(`APIGUARD-HMAC-SHA256 keyId="k", ts="1700000000", nonce="n", sig="` + strings.Repeat("A", 43) + `"`)
	f.Add(`APIGUARD-HMAC-SHA256 keyId=k,keyId=k`)
	f.Add(`apiguard-hmac-sha256 ts=1`)
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseHMACAuth(h)
		if err == nil && (a.keyID == "" || a.nonce == "" || len(a.sig) != 32 || a.ts <= 0) {
			t.Fatalf("parseHMACAuth(%q) = %+v, accepted with missing parts", h, a)
		}
	})
}

func TestJOSEBodies(t *testing.T) {
	sig := newSigner(t, "body")
	pubSet := jwk.NewSet()
	_ = pubSet.AddKey(sig.pub)
	pubJSON, _ := json.Marshal(pubSet)

	encRaw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	encPriv, _ := jwk.Import(encRaw)
	_ = encPriv.Set(jwk.AlgorithmKey, jwa.ECDH_ES_A256KW())
	privSet := jwk.NewSet()
	_ = privSet.AddKey(encPriv)
	privJSON, _ := json.Marshal(privSet)

	e := mustBuild(t, `
apikey: {keys: [{id: k1, sha256: `+sha("s")+`}]}
jose:
  - {operations: [createTransfer], require: jws, jwks: '`+string(pubJSON)+`'}
  - {operations: [updateUser], require: jwe, jwks: '`+string(privJSON)+`'}
`)
	payload := []byte(`{"amount":5}`)
	signed, _ := jws.Sign(payload, jws.WithKey(jwa.ES256(), sig.priv))
	other := newSigner(t, "other")
	forged, _ := jws.Sign(payload, jws.WithKey(jwa.ES256(), other.priv))
	encrypted, err := jwe.Encrypt(payload, jwe.WithKey(jwa.ECDH_ES_A256KW(), &encRaw.PublicKey), jwe.WithContentEncryption(jwa.A256GCM()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op, ct, body, want string
	}{
		{"createTransfer", "application/jose", string(signed), ""},
		{"createTransfer", "application/jose", string(forged), "authn.jose_invalid"},
		{"createTransfer", "application/json", string(payload), "authn.jose_required"},
		{"updateUser", "application/jose", string(encrypted), ""},
		{"updateUser", "application/jose", string(signed), "authn.jose_invalid"},
	}
	for _, tt := range tests {
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
		x.Request.Header.Set("Content-Type", tt.ct)
		x.Request.Header.Set("X-API-Key", "s")
		x.Operation = e.op(tt.op)
		v, err := e.g.Request(context.Background(), x)
		if err != nil || rule(v) != tt.want {
			t.Errorf("%s %s: Request() = %q (%s), %v, want %q", tt.op, tt.ct, rule(v), v.Detail, err, tt.want)
		}
		if tt.want == "" {
			b, _ := x.Body()
			up, _ := io.ReadAll(x.Request.Body)
			j, _ := x.JSON()
			if string(b) != string(payload) || string(up) != string(payload) || x.Request.ContentLength != int64(len(payload)) ||
				x.Request.Header.Get("Content-Type") != "application/json" || j == nil {
				t.Errorf("%s: body passed on = %q / upstream %q / len %d / %q, want the payload", tt.op, b, up, x.Request.ContentLength, x.Request.Header.Get("Content-Type"))
			}
		}
		x.Release()
	}
}

func TestIntrospection(t *testing.T) {
	var hits, down atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "gw" || p != "gw-secret" {
			w.WriteHeader(401)
			return
		}
		_ = r.ParseForm()
		switch r.PostForm.Get("token") {
		case "opaque-good":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "42", "scope": "a b", "exp": time.Now().Add(time.Hour).Unix(), "client_id": "app"})
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"active": false})
		}
	}))
	defer srv.Close()
	e := mustBuild(t, "introspection: {url: "+srv.URL+", client_id: gw, client_secret: gw-secret, cache_ttl: 1m, negative_ttl: 5s}")
	if v, p, err := e.run(t, bearerReq("opaque-good"), "listAccounts"); err != nil || rule(v) != "" || p.Subject != "42" || p.ClientID != "app" || len(p.Scopes) != 2 {
		t.Fatalf("active token = %q, %+v, %v", rule(v), p, err)
	}
	_, _, _ = e.run(t, bearerReq("opaque-good"), "listAccounts")
	if hits.Load() != 1 {
		t.Errorf("introspection calls for a cached active token = %d, want 1", hits.Load())
	}
	if v, _, _ := e.run(t, bearerReq("opaque-bad"), "listAccounts"); rule(v) != "authn.inactive" {
		t.Errorf("inactive token = %q, want authn.inactive", rule(v))
	}
	_, _, _ = e.run(t, bearerReq("opaque-bad"), "listAccounts")
	if hits.Load() != 2 {
		t.Errorf("introspection calls with a negative cache = %d, want 2", hits.Load())
	}
	down.Store(1)
	if _, _, err := e.run(t, bearerReq("opaque-new"), "listAccounts"); err == nil {
		t.Errorf("endpoint down: error = nil, want a guard failure (fail closed)")
	}
	e.clock.Add(2 * time.Minute)
	if _, _, err := e.run(t, bearerReq("opaque-good"), "listAccounts"); err == nil {
		t.Errorf("endpoint down after the cache TTL: error = nil, want a guard failure")
	}
}

func TestRevocationsSharedThroughRedis(t *testing.T) {
	rdb := testsvc.Redis(t)
	svcA := pipeline.NewServices(pipeline.Services{Redis: rdb})
	svcB := pipeline.NewServices(pipeline.Services{Redis: rdb})
	defer svcA.Close()
	defer svcB.Close()
	a, err := sharedRevocations(svcA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sharedRevocations(svcB)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let B's subscription start
	ctx := context.Background()
	if err := a.add(ctx, store.Revocation{ID: "r1", Kind: "sub", Value: "2", Created: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !b.revoked("sub", "2") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !b.revoked("sub", "2") {
		t.Fatal("instance B does not see instance A's revocation")
	}
	// A third instance starting later loads it from Redis.
	svcC := pipeline.NewServices(pipeline.Services{Redis: rdb})
	defer svcC.Close()
	c, _ := sharedRevocations(svcC)
	if !c.revoked("sub", "2") {
		t.Error("a new instance does not load revocations from Redis")
	}
	if ok, err := a.remove(ctx, "r1"); !ok || err != nil {
		t.Fatalf("remove = %v, %v", ok, err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for b.revoked("sub", "2") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if b.revoked("sub", "2") {
		t.Error("instance B still refuses after the revocation was lifted")
	}
}
