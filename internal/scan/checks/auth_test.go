package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/scan"
)

const tokenSpec = `
openapi: 3.1.0
info: {title: tokens, version: "1"}
security: [{bearer: []}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
paths:
  /auth/token:
    post:
      operationId: issueToken
      security: []
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [username, password], properties: {username: {type: string}, password: {type: string}}}
      responses: {'200': {description: token}}
  /keys:
    get:
      operationId: jwks
      security: []
      responses: {'200': {description: keys}}
  /profile:
    get:
      operationId: profile
      responses: {'200': {description: the caller}}
`

// tokenAPI issues ES256 tokens and verifies them with a configurable
// mistake: "confusion" verifies HS256 tokens with the public key's PEM as
// secret; "weak" issues and verifies HS256 tokens keyed "changeme";
// "sound" only accepts its ES256 signature.
func tokenAPI(t *testing.T, mode string) *httptest.Server {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "k1")
	der, err := x509.MarshalPKIXPublicKey(&raw.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, _ := json.Marshal(set)
	hs := func(in string, key []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.Password != in.Username+"-pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		claims, _ := json.Marshal(map[string]any{"sub": in.Username, "exp": 4102444800})
		var tok string
		if mode == "weak" {
			in := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(claims)
			tok = in + "." + hs(in, []byte("changeme"))
		} else {
			b, err := jws.Sign(claims, jws.WithKey(jwa.ES256(), priv))
			if err != nil {
				t.Error(err)
			}
			tok = string(b)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) })
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h, _ := scan.DecodeJWTPart(parts[0])
		c, err := scan.DecodeJWTPart(parts[1])
		ok := false
		switch {
		case err != nil:
		case h["alg"] == "HS256" && mode == "confusion":
			ok = hmac.Equal([]byte(parts[2]), []byte(hs(parts[0]+"."+parts[1], pemKey)))
		case h["alg"] == "HS256" && mode == "weak":
			ok = hmac.Equal([]byte(parts[2]), []byte(hs(parts[0]+"."+parts[1], []byte("changeme"))))
		case h["alg"] == "ES256" && mode != "weak":
			_, verr := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256(), pub))
			ok = verr == nil
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"user": c["sub"], "plan": "gold-" + c["sub"].(string)})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTokenChecks(t *testing.T) {
	cases := []struct {
		mode string
		want []string
	}{
		{"sound", nil},
		{"confusion", []string{"scan.auth.key_confusion"}},
		{"weak", []string{"scan.auth.weak_jwt_secret"}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			srv := tokenAPI(t, c.mode)
			spec, err := openapi.Parse([]byte(tokenSpec))
			if err != nil {
				t.Fatal(err)
			}
			res, err := scan.Run(context.Background(), scan.Options{
				Spec: spec, Target: srv.URL, Rate: 500, NoCanary: true,
				Users: []scan.Credential{{Username: "amy", Password: "amy-pw"}, {Username: "bo", Password: "bo-pw"}},
				Checks: []scan.Check{newUnauthenticated(), newAlgNone(), newStrippedSignature(), newTamperedToken(), newKeyConfusion(),
					newWeakSecret(), newCredentialsInURL(), newTokenLifetime(), newExpiredToken(), newNoLockout()},
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Report.Findings {
				if f.Rule == "scan.auth.no_lockout" {
					continue // the mock has no lockout in any mode
				}
				got = append(got, f.Rule)
				if strings.Contains(f.Reproduce, "amy-pw") {
					t.Errorf("reproduction shows the password: %s", f.Reproduce)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("%s API: findings %v, want %v", c.mode, got, c.want)
			}
			lockout := false
			for _, f := range res.Report.Findings {
				lockout = lockout || f.Rule == "scan.auth.no_lockout"
			}
			if !lockout {
				t.Errorf("%s API: no scan.auth.no_lockout finding for a login without lockout", c.mode)
			}
		})
	}
}
