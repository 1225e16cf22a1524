package denylist

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/guard/authn"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// maxJWTPayload bounds the base64 payload of a token the denylist decodes.
const maxJWTPayload = 8 << 10

// credentials are what a request claims to be, read before authentication.
// They are not verified: the denylist only ever refuses on them, and a
// caller cannot dodge a block by changing a signed claim without failing
// authentication later.
type credentials struct {
	keyID, subject, jti string
}

// credentialsOf reads the API key id (header keyHeader, canonical form),
// and the sub and jti of a bearer JWT; x.Principal, when already set,
// supplies the subject.
func credentialsOf(x *pipeline.Exchange, keyHeader string) credentials {
	var c credentials
	if v := x.Request.Header[keyHeader]; len(v) == 1 {
		if id, _, ok := authn.ParseAPIKey(v[0]); ok {
			c.keyID = id
		}
	}
	if v := x.Request.Header["Authorization"]; len(v) == 1 {
		c.subject, c.jti = tokenClaims(v[0])
	}
	if p := x.Principal; p != nil {
		c.subject = p.Subject
		if j, ok := p.Claims["jti"].(string); ok {
			c.jti = j
		}
	}
	return c
}

// tokenClaims returns the sub and jti of a "Bearer <JWT>" (or DPoP)
// Authorization header value, unverified; empty strings when it is not a
// JWT.
func tokenClaims(auth string) (sub, jti string) {
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP")) {
		return "", ""
	}
	tok = strings.TrimSpace(tok)
	_, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return "", ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || payload == "" || len(payload) > maxJWTPayload {
		return "", ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", ""
	}
	var cl struct {
		Sub json.RawMessage `json:"sub"`
		Jti json.RawMessage `json:"jti"`
	}
	if json.Unmarshal(raw, &cl) != nil {
		return "", ""
	}
	return jsonString(cl.Sub), jsonString(cl.Jti)
}

// jsonString returns the string a JSON value holds, or "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// safeMethod reports whether m may pass a read-only lockdown.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
