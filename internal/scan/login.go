package scan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Credential describes one identity given to the scan: a login recipe
// (Username and Password, logged in with the login operation) or fixed
// headers.
type Credential struct {
	// Name names the identity in reports ("alice"); the username when
	// empty.
	Name string
	// Username and Password log in with the login operation.
	Username, Password string
	// Header holds credentials sent as they are (for example
	// Authorization: Bearer …, X-API-Key: …).
	Header http.Header
}

// loginFields are the names of username- and password-like properties.
var (
	userFields  = []string{"username", "user", "login", "email", "user_name", "userName", "name", "client_id", "clientId"}
	passFields  = []string{"password", "pass", "passwd", "pwd", "secret", "client_secret", "clientSecret"}
	tokenFields = []string{"access_token", "accessToken", "token", "id_token", "idToken", "jwt", "bearer", "auth_token", "authToken"}
)

// FindLoginOp returns the operation identities log in with: the one named
// id, else one marked x-apiguard-login, else a POST whose id or path looks
// like login/token/signin/session with a body that has username- and
// password-like properties. It also returns those two properties.
func FindLoginOp(ops []*Operation, id string) (op *Operation, userField, passField string, err error) {
	fields := func(o *Operation) (string, string) {
		if o.Body == nil {
			return "", ""
		}
		u, p := "", ""
		for _, f := range userFields {
			if o.Body.Prop(f) != nil {
				u = f
				break
			}
		}
		for _, f := range passFields {
			if o.Body.Prop(f) != nil {
				p = f
				break
			}
		}
		return u, p
	}
	if id != "" {
		for _, o := range ops {
			if o.ID == id {
				u, p := fields(o)
				if u == "" || p == "" {
					return nil, "", "", fmt.Errorf("login operation %q: its JSON body has no username- and password-like properties", id)
				}
				return o, u, p, nil
			}
		}
		return nil, "", "", fmt.Errorf("login operation %q: no such operationId in the spec", id)
	}
	var best *Operation
	bestRank := 99
	for _, o := range ops {
		if o.Method != "POST" {
			continue
		}
		u, p := fields(o)
		if u == "" || p == "" {
			continue
		}
		rank := 99
		if _, ok := o.Extensions["x-apiguard-login"]; ok {
			rank = 0
		} else {
			for _, w := range append(words(o.ID), strings.Split(strings.ToLower(o.Path), "/")...) {
				switch w {
				case "login", "signin", "sign-in", "authenticate":
					rank = min(rank, 1)
				case "token", "tokens", "session", "sessions", "auth":
					rank = min(rank, 2)
				}
			}
		}
		if rank < bestRank {
			best, bestRank = o, rank
		}
	}
	if best == nil {
		return nil, "", "", fmt.Errorf("no login operation found in the spec (a POST like /login or /token with username and password properties); name one with --login-op or give identities as headers")
	}
	u, p := fields(best)
	return best, u, p, nil
}

// LoginBody returns the login operation's body for a username and
// password, other required properties from the schema, and extra merged
// in (for probes such as a client-chosen token lifetime).
func (s *Session) LoginBody(username, password string, extra map[string]any) map[string]any {
	body := map[string]any{}
	if s.LoginOp != nil && s.LoginOp.Body != nil {
		for _, r := range s.LoginOp.Body.Required {
			if r != s.LoginUserField && r != s.LoginPassField {
				body[r] = Sample(s.LoginOp.Body.Prop(r), r)
			}
		}
	}
	body[s.LoginUserField] = username
	body[s.LoginPassField] = password
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// LoginRequest returns the request that logs username in (see LoginBody).
func (s *Session) LoginRequest(username, password string, extra map[string]any) *Request {
	return &Request{Op: s.LoginOp, Method: s.LoginOp.Method, JSON: s.LoginBody(username, password, extra)}
}

// TokenFrom returns the token in a login answer: at TokenPath when set,
// else the first token-like member (access_token, token, id_token, …) at
// the top level or one object down.
func (s *Session) TokenFrom(r *Response) string {
	obj := r.Object()
	if obj == nil {
		return ""
	}
	if s.TokenPath != "" {
		var cur any = obj
		for _, part := range strings.Split(strings.TrimPrefix(s.TokenPath, "$."), ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return ""
			}
			cur = m[part]
		}
		t, _ := cur.(string)
		return t
	}
	find := func(m map[string]any) string {
		for _, f := range tokenFields {
			if t, ok := m[f].(string); ok && t != "" {
				return t
			}
		}
		return ""
	}
	if t := find(obj); t != "" {
		return t
	}
	for _, v := range obj {
		if m, ok := v.(map[string]any); ok {
			if t := find(m); t != "" {
				return t
			}
		}
	}
	return ""
}

// login logs a credential in and builds its identity.
func (s *Session) login(ctx context.Context, c Credential, role string) (*Identity, error) {
	id := &Identity{Name: c.Name, Role: role, Header: http.Header{}, Username: c.Username, Password: c.Password}
	if id.Name == "" {
		id.Name = c.Username
	}
	if len(c.Header) > 0 {
		for k, vs := range c.Header {
			for _, v := range vs {
				id.Header.Add(k, v)
				s.AddSecret(v, id.TokenVar())
				if strings.EqualFold(k, "Authorization") {
					if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
						id.Token = strings.TrimSpace(tok)
					}
				}
			}
		}
		if id.Token != "" {
			s.registerToken(id)
		}
		return id, nil
	}
	if s.LoginOp == nil {
		return nil, fmt.Errorf("identity %s: no login operation to log in with", id.Name)
	}
	s.AddSecret(c.Password, "PASSWORD_"+shellName(id.Name))
	// the anonymous identity sends the login, the answer becomes id's
	resp, err := s.Do(ctx, s.anon, s.LoginRequest(c.Username, c.Password, nil))
	if err != nil {
		return nil, fmt.Errorf("logging %s in: %w", id.Name, err)
	}
	if wait, ok := retryAfter(resp); ok && wait <= maxLoginWait {
		// a throttled login (an earlier scan spent the per-client quota):
		// wait once as told
		s.Logf("scan: logging %s in: throttled, retrying in %s", id.Name, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if resp, err = s.Do(ctx, s.anon, s.LoginRequest(c.Username, c.Password, nil)); err != nil {
			return nil, fmt.Errorf("logging %s in: %w", id.Name, err)
		}
	}
	if !resp.OK() {
		return nil, fmt.Errorf("logging %s in: %s %s answered %d", id.Name, resp.Method, s.LoginOp.Path, resp.Status)
	}
	tok := s.TokenFrom(resp)
	if tok == "" {
		// a session cookie instead of a token
		var pairs []string
		for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
			if c.Value != "" {
				pairs = append(pairs, c.Name+"="+c.Value)
				s.AddSecret(c.Value, id.TokenVar())
			}
		}
		if len(pairs) == 0 || s.TokenPath != "" {
			return nil, fmt.Errorf("logging %s in: no token in the answer (name its member with --token-path)", id.Name)
		}
		id.Login = resp
		id.Header.Set("Cookie", strings.Join(pairs, "; "))
		return id, nil
	}
	id.Token, id.Login = tok, resp
	s.registerToken(id)
	id.Header.Set(s.tokenHeader(), s.tokenPrefix()+tok)
	return id, nil
}

// maxLoginWait bounds the wait for a throttled login.
const maxLoginWait = 65 * time.Second

// retryAfter returns the wait a 429 or 503 answer asks for (seconds or an
// HTTP date).
func retryAfter(r *Response) (time.Duration, bool) {
	if r.Status != http.StatusTooManyRequests && r.Status != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(r.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// registerToken records id's token as a secret (and its signature part)
// and decodes its claims and subject.
func (s *Session) registerToken(id *Identity) {
	s.AddSecret(id.Token, id.TokenVar())
	if parts := strings.Split(id.Token, "."); len(parts) == 3 {
		s.AddSecret(parts[2], id.TokenVar()+"_SIG")
		if claims, err := DecodeJWTPart(parts[1]); err == nil {
			id.Claims = claims
			if sub := ScalarString(claims["sub"]); sub != "" && id.Subject == "" {
				id.Subject = sub
			}
		}
	}
}

// tokenHeader and tokenPrefix place a login token as the spec's security
// scheme says: an apiKey header, else Authorization: Bearer.
func (s *Session) tokenHeader() string {
	if sc := s.primaryScheme(); sc != nil && sc.Type == "apiKey" && strings.EqualFold(sc.In, "header") && sc.ParamName != "" {
		return sc.ParamName
	}
	return "Authorization"
}

func (s *Session) tokenPrefix() string {
	if sc := s.primaryScheme(); sc != nil && sc.Type == "apiKey" && strings.EqualFold(sc.In, "header") && sc.ParamName != "" {
		return ""
	}
	return "Bearer "
}

// primaryScheme is the scheme most secured operations name first.
func (s *Session) primaryScheme() *SecurityScheme {
	count := map[string]int{}
	best := ""
	for _, o := range s.Ops {
		if o.Secured() && len(o.Security[0]) > 0 {
			n := o.Security[0][0]
			count[n]++
			if count[n] > count[best] {
				best = n
			}
		}
	}
	return s.Schemes[best]
}

// DecodeJWTPart decodes a base64url JWT header or payload into a map.
func DecodeJWTPart(part string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
	if err != nil {
		return nil, fmt.Errorf("decoding jwt part: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding jwt part: %w", err)
	}
	return m, nil
}

// EncodeJWTPart encodes a JWT header or payload (base64url, no padding).
func EncodeJWTPart(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
