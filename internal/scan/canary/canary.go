// Package canary is the HTTP listener `apiguard scan` runs itself so that
// the target API has somewhere harmless to call back: SSRF probes (API7)
// hand the target a per-token canary URL and a recorded hit on that token
// proves the target fetched it; unsafe-consumption probes (API10) arm a
// token with a "malicious mock" behaviour whose answer carries injection
// payloads, a retargeting `url` member, an oversized body, a redirect or
// an HTML/script page, and then look at what the target did with it.
//
// The listener binds 127.0.0.1 on a random port by default: it is meant
// for targets on the same machine. Another bind address (Options.Addr) is
// an explicit choice, e.g. for a target in a container; only registered
// tokens (a URL was handed out for them) are answered and recorded,
// everything else is a 404.
//
// A token's behaviour is selected by its name: "injection.<id>" answers
// the Injection mock, "self-url.<id>" the SelfURL one, and so on (see
// BehaviorOf); any other token answers Plain. The package registers
// itself as the scan engine's canary (scan.RegisterCanary).
//
// Memory is bounded: at most MaxTokens tokens, MaxHitsPerToken hits per
// token, a 512-byte sample of each request body, and the oversized answer
// is streamed from a fixed chunk.
package canary

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/scan"
)

func init() {
	scan.RegisterCanary(func(_ context.Context, cfg scan.CanaryConfig) (scan.Canary, func() error, error) {
		s, err := Start(Options{Addr: cfg.Listen})
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	})
}

// Behavior is what the canary answers on a token's URL.
type Behavior string

// Behaviours a token can be armed with.
const (
	// Plain answers 200 {"status":"ok","canary":"<marker>"}: a well-behaved
	// callback, used to confirm that the target fetches a URL (API7).
	Plain Behavior = "plain"
	// Injection answers a JSON object whose string members carry classic
	// injection payloads (SQL, script, template, command, path traversal),
	// each tagged with the token's marker so a reflection can be found.
	Injection Behavior = "injection"
	// MetadataURL answers a JSON object whose `url` member points at the
	// cloud instance metadata address (169.254.169.254). The canary never
	// calls it; a target adopting it is the finding.
	MetadataURL Behavior = "metadata-url"
	// SelfURL answers a JSON object whose `url` member points at the
	// token's follow-up canary URL (see FollowUp): a hit on the follow-up
	// proves the target adopted a URL from a callback's answer.
	SelfURL Behavior = "self-url"
	// Oversized answers a valid JSON object of Options.OversizeBytes bytes.
	Oversized Behavior = "oversized"
	// Redirect answers 302 to the token's follow-up canary URL.
	Redirect Behavior = "redirect"
	// HTML answers text/html with a script element carrying the marker.
	HTML Behavior = "html"
)

// Behaviors lists every behaviour, for docs and tests.
var Behaviors = []Behavior{Plain, Injection, MetadataURL, SelfURL, Oversized, Redirect, HTML}

// MetadataAddress is the URL the MetadataURL behaviour hands out.
const MetadataAddress = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"

// Defaults and hard limits.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultMaxTokens       = 4096
	DefaultMaxHitsPerToken = 32
	DefaultOversizeBytes   = 2 << 20
	// MaxOversizeBytes caps Options.OversizeBytes.
	MaxOversizeBytes = 16 << 20
	// bodySample is how much of each request body a hit keeps.
	bodySample = 512
	// maxRequestBody is how much of a request body the canary reads.
	maxRequestBody = 64 << 10
	pathPrefix     = "/c/"
)

// Options configure a canary. The zero value is a loopback canary with
// the defaults.
type Options struct {
	// Addr is the listen address; default 127.0.0.1:0 (loopback, random
	// port). A non-loopback address exposes the canary to the network:
	// use it only when the target cannot reach loopback.
	Addr string
	// PublicURL is the base URL handed to the target (scheme://host:port),
	// when it must differ from the listener's address (NAT, containers).
	// Default: http://<listener address>.
	PublicURL string
	// MaxTokens bounds the tokens issued; default 4096.
	MaxTokens int
	// MaxHitsPerToken bounds the hits kept per token; default 32. Later
	// hits are counted (Count) but not kept.
	MaxHitsPerToken int
	// OversizeBytes is the size of the Oversized answer; default 2 MiB,
	// at most 16 MiB.
	OversizeBytes int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Hit is one request the canary received on a registered token: the
// request line, the headers with credentials redacted, the first 512
// bytes of the body with secrets masked, the caller's address and the
// arrival time.
type Hit = scan.Hit

type tokenState struct {
	behavior Behavior
	hits     []Hit
	count    int
}

// Server is a running canary.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	base string

	mu     sync.Mutex
	tokens map[string]*tokenState
	done   chan struct{}
	err    error
}

// ErrTooManyTokens is returned by NewToken once MaxTokens were registered.
var ErrTooManyTokens = errors.New("canary: token limit reached")

// Start listens and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.MaxHitsPerToken <= 0 {
		o.MaxHitsPerToken = DefaultMaxHitsPerToken
	}
	if o.OversizeBytes <= 0 {
		o.OversizeBytes = DefaultOversizeBytes
	}
	if o.OversizeBytes > MaxOversizeBytes {
		return nil, fmt.Errorf("canary: oversize_bytes: must be at most %d", MaxOversizeBytes)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	base := strings.TrimRight(o.PublicURL, "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("canary: public_url: must be an absolute http(s) URL without path, got %q", o.PublicURL)
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("canary: listening on %s: %w", o.Addr, err)
	}
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	s := &Server{opts: o, ln: ln, base: base, tokens: map[string]*tokenState{}, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()
	return s, nil
}

// Addr is the listener's address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// BaseURL is the base URL handed to targets.
func (s *Server) BaseURL() string { return s.base }

// Loopback reports whether the canary listens on a loopback address
// only, so that a target reaching it is on the same host.
func (s *Server) Loopback() bool {
	a, ok := s.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// Close stops the listener and waits for the server to exit.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return err
}

// NewToken issues and registers a fresh random token armed with b:
// "<behaviour>.<24 hex digits>".
func (s *Server) NewToken(b Behavior) (string, error) {
	if !validBehavior(b) {
		return "", fmt.Errorf("canary: unknown behaviour %q", b)
	}
	tok := string(b) + "." + randomToken()
	if !s.register(tok) {
		return "", ErrTooManyTokens
	}
	return tok, nil
}

// register records token (and its follow-up for SelfURL and Redirect);
// false when the token is invalid or the token limit is reached.
func (s *Server) register(token string) bool {
	if !validToken(token) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[token]; ok {
		return true
	}
	b := BehaviorOf(token)
	need := 1
	if b == SelfURL || b == Redirect {
		need = 2
	}
	if len(s.tokens)+need > s.opts.MaxTokens {
		return false
	}
	s.tokens[token] = &tokenState{behavior: b}
	if need == 2 {
		if _, ok := s.tokens[FollowUp(token)]; !ok {
			s.tokens[FollowUp(token)] = &tokenState{behavior: Plain}
		}
	}
	return true
}

func validBehavior(b Behavior) bool {
	for _, x := range Behaviors {
		if x == b {
			return true
		}
	}
	return false
}

// BehaviorOf is the behaviour a token selects: the known behaviour named
// before its first dot ("injection.x1" → Injection), else Plain.
func BehaviorOf(token string) Behavior {
	if i := strings.IndexByte(token, '.'); i > 0 {
		if b := Behavior(token[:i]); validBehavior(b) {
			return b
		}
	}
	return Plain
}

// maxTokenLen bounds a token's length.
const maxTokenLen = 96

// validToken reports a token of 1 to 96 bytes of [A-Za-z0-9._~-].
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// URL registers token and returns its canary URL; any path below it
// counts as a hit on the token too. The token's behaviour is chosen by
// its prefix (see BehaviorOf), so a check picks a malicious mock just by
// naming its token "injection.<id>". A token that is invalid (see
// validToken) or beyond MaxTokens gets a URL that records nothing.
func (s *Server) URL(token string) string {
	s.register(token)
	return s.base + pathPrefix + token
}

// FollowUp is the token a SelfURL or Redirect token's answer points at
// ("next." + token); it is registered with the token and answers Plain.
func FollowUp(token string) string { return "next." + token }

// Marker is the unique string every answer on token carries, to find a
// reflection of the canary's answer in the target's.
func Marker(token string) string { return "apiguard-canary-" + token }

// Hits returns a copy of the hits recorded for token, oldest first.
func (s *Server) Hits(token string) []Hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tokens[token]
	if st == nil || len(st.hits) == 0 {
		return nil
	}
	out := make([]Hit, len(st.hits))
	copy(out, st.hits)
	return out
}

// Count is how many requests reached token, including those beyond
// MaxHitsPerToken.
func (s *Server) Count(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.tokens[token]; st != nil {
		return st.count
	}
	return 0
}

// Wait polls until token has at least one hit or ctx ends, and returns
// the hits. Targets that call back asynchronously (queued webhooks) need
// it; the poll interval is 20 ms.
func (s *Server) Wait(ctx context.Context, token string) []Hit {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if h := s.Hits(token); len(h) > 0 {
			return h
		}
		select {
		case <-ctx.Done():
			return s.Hits(token)
		case <-t.C:
		}
	}
}

// tokenOf extracts the token of a canary path: /c/<token>[/...].
func tokenOf(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, pathPrefix)
	if !ok {
		return "", false
	}
	tok, _, _ := strings.Cut(rest, "/")
	return tok, validToken(tok)
}

// ServeHTTP records a hit on an issued token and answers its behaviour.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := tokenOf(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	hit := Hit{
		Token:  tok,
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  events.RedactQuery(r.URL.RawQuery),
		Header: redactHeader(r.Header),
		Body:   []byte(redactBody(body)),
		Remote: r.RemoteAddr,
		At:     s.opts.Now(),
	}
	s.mu.Lock()
	st := s.tokens[tok]
	if st == nil {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	st.count++
	if len(st.hits) < s.opts.MaxHitsPerToken {
		st.hits = append(st.hits, hit)
	}
	b := st.behavior
	s.mu.Unlock()
	s.answer(w, r, tok, b, FollowUp(tok))
}

// Payloads are the injection strings the Injection behaviour answers;
// each is suffixed with the token's marker in the answer.
var Payloads = map[string]string{
	"sql":       `' OR '1'='1' -- `,
	"script":    `"><script>alert(document.domain)</script>`,
	"template":  `{{7*7}}${7*7}<%= 7*7 %>`,
	"command":   `; cat /etc/passwd #`,
	"traversal": `../../../../etc/passwd`,
	"ldap":      `*)(uid=*))(|(uid=*`,
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, tok string, b Behavior, follow string) {
	marker := Marker(tok)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch b {
	case Injection:
		obj := map[string]any{"status": "ok", "canary": marker}
		for k, p := range Payloads {
			obj[k] = p + " " + marker
		}
		obj["url"] = s.URL(tok) + "/adopted"
		writeJSON(w, obj)
	case MetadataURL:
		writeJSON(w, map[string]any{"status": "ok", "canary": marker, "url": MetadataAddress})
	case SelfURL:
		writeJSON(w, map[string]any{"status": "ok", "canary": marker, "url": s.URL(follow)})
	case Oversized:
		s.writeOversized(w, r, marker)
	case Redirect:
		http.Redirect(w, r, s.URL(follow), http.StatusFound)
	case HTML:
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `<!doctype html><html><head><title>`+marker+`</title></head><body><script>alert("`+marker+`")</script><img src=x onerror=alert(1)></body></html>`)
	default:
		writeJSON(w, map[string]any{"status": "ok", "canary": marker})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "canary: encoding answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// writeOversized streams {"canary":"<marker>","data":"xxx…"} of exactly
// OversizeBytes bytes (or the minimal object when that is smaller).
func (s *Server) writeOversized(w http.ResponseWriter, r *http.Request, marker string) {
	head := `{"canary":"` + marker + `","data":"`
	const tail = `"}`
	pad := s.opts.OversizeBytes - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+pad+len(tail)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("A", 32<<10))
	for pad > 0 {
		n := min(pad, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		pad -= n
	}
	_, _ = io.WriteString(w, tail)
}

// redactBody is the stored sample of a request body: secret-named JSON
// members masked (a webhook payload may carry a signing secret), then
// free-text secrets (JWTs, bearer credentials, name=value pairs).
func redactBody(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) == nil {
		if out, err := json.Marshal(redactJSON(v, 0)); err == nil {
			b = out
		}
	}
	return events.RedactText(string(b), bodySample)
}

func redactJSON(v any, depth int) any {
	if depth > 32 {
		return events.Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if events.IsSecretParam(k) {
				x[k] = events.Redacted
				continue
			}
			x[k] = redactJSON(e, depth+1)
		}
	case []any:
		for i, e := range x {
			x[i] = redactJSON(e, depth+1)
		}
	}
	return v
}

// redactHeader copies h with credential values replaced (see
// events.RedactHeaders).
func redactHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range events.RedactHeaders(h) {
		out[k] = []string{v}
	}
	return out
}
