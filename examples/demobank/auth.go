package demobank

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	audience       = "demobank"
	tokenLifetime  = 15 * time.Minute
	userScope      = "accounts:read accounts:write transfers:write"
	maxTokenLength = 4096

	lockoutFailures = 5
	lockoutDuration = 15 * time.Minute
	loginPerIPLimit = 10
	loginPerIPEvery = time.Minute
	maxTracked      = 10000
)

// principal is the authenticated caller.
type principal struct {
	userID   int
	username string
	role     string
}

func (p *principal) isAdmin() bool { return p.role == "admin" }

// claims are the access token claims demobank reads.
type claims struct {
	Iss   string   `json:"iss"`
	Sub   string   `json:"sub"`
	Aud   any      `json:"aud"`
	Iat   int64    `json:"iat"`
	Exp   int64    `json:"exp"`
	Jti   string   `json:"jti"`
	Roles []string `json:"roles"`
	Scope string   `json:"scope"`
}

// initKeys generates the instance's ECDSA P-256 signing key; its kid is
// the RFC 7638 thumbprint.
func (s *Server) initKeys() error {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating key: %w", err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		return fmt.Errorf("importing key: %w", err)
	}
	if err := jwk.AssignKeyID(priv); err != nil {
		return fmt.Errorf("assigning kid: %w", err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	kid, _ := priv.KeyID()
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.ES256(), jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(k, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
		if err := priv.Set(k, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return fmt.Errorf("building key set: %w", err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encoding key set: %w", err)
	}
	s.priv, s.pub, s.kid, s.jwks = priv, pub, kid, jwks
	return nil
}

// issue signs an access token for user id with role, issued by iss, valid
// for ttl.
func (s *Server) issue(iss string, id int, role string, ttl time.Duration) (string, error) {
	var j [16]byte
	_, _ = rand.Read(j[:])
	now := s.now()
	scope := userScope
	if role == "admin" {
		scope += " admin"
	}
	payload, err := json.Marshal(claims{
		Iss:   iss,
		Sub:   strconv.Itoa(id),
		Aud:   audience,
		Iat:   now.Unix(),
		Exp:   now.Add(ttl).Unix(),
		Jti:   base64.RawURLEncoding.EncodeToString(j[:]),
		Roles: []string{role},
		Scope: scope,
	})
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, "at+jwt"); err != nil {
		return "", fmt.Errorf("setting typ: %w", err)
	}
	if err := h.Set(jws.KeyIDKey, s.kid); err != nil {
		return "", fmt.Errorf("setting kid: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), s.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return string(tok), nil
}

var (
	errNoToken  = errors.New("no bearer token")
	errBadToken = errors.New("malformed token")
)

// bearerToken extracts the token: the Authorization header, and in the
// vulnerable variant also the access_token query parameter (DB-09).
func (s *Server) bearerToken(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", errBadToken
		}
		return strings.TrimSpace(tok), nil
	}
	if !s.fixed {
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			return tok, nil
		}
	}
	return "", errNoToken
}

type tokenHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// parseToken splits a compact JWS and decodes its header and claims
// without verifying anything.
func parseToken(tok string) (tokenHeader, claims, error) {
	var h tokenHeader
	var c claims
	if len(tok) > maxTokenLength {
		return h, c, errBadToken
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return h, c, errBadToken
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return h, c, errBadToken
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, c, errBadToken
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return h, c, errBadToken
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return h, c, errBadToken
	}
	return h, c, nil
}

// authenticate returns the caller, or nil and the reason.
//
// The vulnerable variant (DB-07, DB-08, DB-09) takes the token from the
// query too, accepts alg "none" unsigned tokens, and checks neither exp
// nor iss nor aud. The fixed variant verifies the ES256 signature with the
// instance key and checks typ, kid, exp, nbf, iss and aud.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	tok, err := s.bearerToken(r)
	if err != nil {
		return nil, err
	}
	h, c, err := parseToken(tok)
	if err != nil {
		return nil, err
	}
	if s.fixed {
		if h.Alg != "ES256" || h.Typ != "at+jwt" || h.Kid != s.kid {
			return nil, errors.New("unexpected token header")
		}
		if _, err := jwt.Parse([]byte(tok),
			jwt.WithKey(jwa.ES256(), s.pub),
			jwt.WithValidate(true),
			jwt.WithClock(jwt.ClockFunc(s.now)),
			jwt.WithIssuer(baseURL(r)),
			jwt.WithAudience(audience),
			jwt.WithRequiredClaim(jwt.ExpirationKey),
			jwt.WithRequiredClaim(jwt.SubjectKey),
		); err != nil {
			return nil, fmt.Errorf("verifying token: %w", err)
		}
	} else if !strings.EqualFold(h.Alg, "none") {
		// DB-08: "none" skips this; DB-07: no claim is validated.
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256(), s.pub)); err != nil {
			return nil, fmt.Errorf("verifying token: %w", err)
		}
	}
	id, err := strconv.Atoi(c.Sub)
	if err != nil || id < 1 {
		return nil, errBadToken
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var p principal
	err = s.db.QueryRowContext(ctx, `SELECT id, username, role FROM users WHERE id = ?`, id).Scan(&p.userID, &p.username, &p.role)
	if err != nil {
		return nil, fmt.Errorf("loading subject: %w", err)
	}
	if !s.fixed {
		// The vulnerable variant trusts the roles in the token.
		p.role = "user"
		if slices.Contains(c.Roles, "admin") {
			p.role = "admin"
		}
	}
	return &p, nil
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// vulnLoginRequest is what the vulnerable login reads: the client may
// choose its token's lifetime, even a negative one (DB-25).
type vulnLoginRequest struct {
	loginRequest
	ExpiresIn *int64 `json:"expires_in,omitempty"`
}

type loginState struct {
	failures    int
	lockedUntil time.Time
	last        time.Time
}

// handleLogin serves POST /api/v1/auth/login. The vulnerable variant has
// no lockout and no rate limit (DB-10).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ *principal) {
	now := s.now()
	if s.fixed {
		if retry, ok := s.allowLoginFrom(clientIP(r), now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			s.fail(w, http.StatusTooManyRequests, "too many login attempts")
			return
		}
	}
	var req loginRequest
	ttl := tokenLifetime
	if s.fixed {
		if err := s.decodeBody(w, r, &req); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		var vreq vulnLoginRequest
		if err := s.decodeBody(w, r, &vreq); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		req = vreq.loginRequest
		if vreq.ExpiresIn != nil && *vreq.ExpiresIn > -1e9 && *vreq.ExpiresIn < 1e9 {
			ttl = time.Duration(*vreq.ExpiresIn) * time.Second
		}
	}
	if req.Username == "" || req.Password == "" || len(req.Username) > 64 || len(req.Password) > 128 {
		s.fail(w, http.StatusBadRequest, "username and password are required")
		return
	}
	if s.fixed {
		if retry, locked := s.lockedOut(req.Username, now); locked {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			s.fail(w, http.StatusTooManyRequests, "account temporarily locked")
			return
		}
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var (
		id         int
		hash, role string
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, password_hash, role FROM users WHERE username = ?`, req.Username).Scan(&id, &hash, &role)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		hash = dummyHash
		id = 0
	case err != nil:
		s.internalError(w, r, fmt.Errorf("login lookup: %w", err))
		return
	}
	if !checkPassword(hash, req.Password) || id == 0 {
		if s.fixed {
			s.recordLoginFailure(req.Username, now)
		}
		s.fail(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	if s.fixed {
		s.mu.Lock()
		delete(s.loginFails, req.Username)
		s.mu.Unlock()
	}
	tok, err := s.issue(baseURL(r), id, role, ttl)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(ttl.Seconds()),
	})
}

// allowLoginFrom applies the per-IP login rate limit (sliding window).
func (s *Server) allowLoginFrom(ip string, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loginByIP) > maxTracked {
		for k, v := range s.loginByIP {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > loginPerIPEvery {
				delete(s.loginByIP, k)
			}
		}
	}
	times := s.loginByIP[ip]
	kept := times[:0]
	for _, t := range times {
		if now.Sub(t) < loginPerIPEvery {
			kept = append(kept, t)
		}
	}
	if len(kept) >= loginPerIPLimit {
		s.loginByIP[ip] = kept
		return loginPerIPEvery - now.Sub(kept[0]), false
	}
	s.loginByIP[ip] = append(kept, now)
	return 0, true
}

func (s *Server) lockedOut(username string, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.loginFails[username]
	if st == nil || !now.Before(st.lockedUntil) {
		return 0, false
	}
	return st.lockedUntil.Sub(now), true
}

func (s *Server) recordLoginFailure(username string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loginFails) > maxTracked {
		for k, v := range s.loginFails {
			if now.Sub(v.last) > lockoutDuration && !now.Before(v.lockedUntil) {
				delete(s.loginFails, k)
			}
		}
	}
	st := s.loginFails[username]
	if st == nil || now.Sub(st.last) > lockoutDuration {
		st = &loginState{}
		s.loginFails[username] = st
	}
	st.failures++
	st.last = now
	if st.failures >= lockoutFailures {
		st.lockedUntil = now.Add(lockoutDuration)
		st.failures = 0
	}
}

// handleJWKS serves the public key set.
func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request, _ *principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.jwks)
}

// handleDiscovery serves the OpenID Provider configuration document.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request, _ *principal) {
	base := baseURL(r)
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"token_endpoint":                        base + "/api/v1/auth/login",
		"response_types_supported":              []string{"token"},
		"grant_types_supported":                 []string{"password"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"accounts:read", "accounts:write", "transfers:write", "admin"},
		"claims_supported":                      []string{"iss", "sub", "aud", "iat", "exp", "jti", "roles", "scope"},
	})
}
