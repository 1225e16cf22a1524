package demobank

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	fetchTimeout     = 5 * time.Second
	maxFetchBytes    = 1 << 20
	maxWebhookAnswer = 4 << 10
	maxURLLength     = 2048
	previewBytes     = 200

	maxWebhooksPerUser = 20
)

// errBlockedAddress marks a fetch the fixed variant refused to dial.
var errBlockedAddress = errors.New("destination address not allowed")

// blockedPrefixes are special-purpose ranges (RFC 6890 and friends) that
// netip's predicates do not cover.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// isBlockedAddr reports whether the fixed variant refuses to connect to
// ip: anything not a public unicast address.
func isBlockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkFetchURL applies the fixed variant's URL rules: an absolute https
// URL without credentials, whose host, when an IP literal, is public. The
// address a name resolves to is checked again when dialing.
func checkFetchURL(raw string, blocked func(netip.Addr) bool) (*url.URL, error) {
	if raw == "" || len(raw) > maxURLLength {
		return nil, errors.New("url must be 1 to 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url is invalid")
	}
	if u.Scheme != "https" {
		return nil, errors.New("url must use https")
	}
	if u.Opaque != "" || u.User != nil || u.Host == "" {
		return nil, errors.New("url must be an absolute https URL without credentials")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("url has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("url port is invalid")
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if blocked(ip) {
			return nil, errBlockedAddress
		}
		return u, nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return nil, errBlockedAddress
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return nil, errors.New("url host is invalid")
		}
	}
	return u, nil
}

// client returns the HTTP client for outbound fetches. The vulnerable one
// goes anywhere and follows redirects (DB-15, DB-16); the fixed one checks
// every resolved address at dial time and follows no redirect.
func (s *Server) client() *http.Client {
	if !s.fixed {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: s.tlsRoots}
		return &http.Client{Timeout: fetchTimeout, Transport: tr}
	}
	dialer := &net.Dialer{
		Timeout: fetchTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return fmt.Errorf("%w: network %s", errBlockedAddress, network)
			}
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errBlockedAddress, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || s.blocked(ip) {
				return fmt.Errorf("%w: %s", errBlockedAddress, host)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: s.tlsRoots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    fetchTimeout,
			ResponseHeaderTimeout:  fetchTimeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchError answers a failed outbound request. The vulnerable variant
// tells exactly what happened (port scanning through error messages).
func (s *Server) fetchError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, errBlockedAddress):
		s.fail(w, http.StatusBadRequest, "url not allowed")
	case s.fixed:
		s.fail(w, http.StatusBadGateway, what+" failed")
	default:
		s.fail(w, http.StatusBadGateway, what+" failed: "+err.Error())
	}
}

type urlRequest struct {
	URL string `json:"url"`
}

// handleImportAvatar serves POST /api/v1/users/{userId}/avatar/import.
// Vulnerable: fetches any URL (DB-15) and reflects the first 200 bytes.
func (s *Server) handleImportAvatar(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := pathID(r, "userId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "userId must be a positive integer")
		return
	}
	if id != p.userID && !p.isAdmin() {
		s.fail(w, http.StatusNotFound, "user not found")
		return
	}
	var req urlRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.fixed {
		if _, err := checkFetchURL(req.URL, s.blocked); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	} else if req.URL == "" {
		s.fail(w, http.StatusBadRequest, "url is required")
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "url is invalid")
		return
	}
	out.Header.Set("User-Agent", "demobank-avatar/0.1")
	resp, err := s.client().Do(out)
	if err != nil {
		s.fetchError(w, "avatar fetch", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes+1))
	if err != nil {
		s.fetchError(w, "avatar fetch", err)
		return
	}
	if len(body) > maxFetchBytes {
		s.fail(w, http.StatusBadRequest, "avatar larger than 1 MiB")
		return
	}
	ct := resp.Header.Get("Content-Type")
	if s.fixed {
		mt, _, _ := mime.ParseMediaType(ct)
		if resp.StatusCode != http.StatusOK {
			s.fail(w, http.StatusBadGateway, "avatar fetch failed")
			return
		}
		if !slices.Contains([]string{"image/png", "image/jpeg", "image/gif", "image/webp"}, mt) {
			s.fail(w, http.StatusBadRequest, "avatar must be a PNG, JPEG, GIF or WebP image")
			return
		}
		ct = mt
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET avatar = ?, avatar_content_type = ? WHERE id = ?`, body, ct, id); err != nil {
		s.internalError(w, r, err)
		return
	}
	res := map[string]any{"size": len(body), "content_type": ct}
	if !s.fixed {
		res["status_code"] = resp.StatusCode
		res["preview"] = string(body[:min(len(body), previewBytes)])
	}
	writeJSON(w, http.StatusOK, res)
}

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

var webhookEvents = []string{"transfer.created", "transfer.failed", "user.updated"}

// handleCreateWebhook serves POST /api/v1/webhooks.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, p *principal) {
	var req webhookRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.fixed {
		if _, err := checkFetchURL(req.URL, s.blocked); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if len(req.Events) < 1 || len(req.Events) > len(webhookEvents) {
			s.fail(w, http.StatusBadRequest, "events must list 1 to 3 known events")
			return
		}
		seen := map[string]bool{}
		for _, e := range req.Events {
			if !slices.Contains(webhookEvents, e) || seen[e] {
				s.fail(w, http.StatusBadRequest, "events must list distinct known events")
				return
			}
			seen[e] = true
		}
	} else if req.URL == "" {
		s.fail(w, http.StatusBadRequest, "url is required")
		return
	}
	if req.Events == nil {
		req.Events = []string{}
	}
	events, _ := json.Marshal(req.Events)
	ctx, cancel := queryContext(r)
	defer cancel()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks WHERE owner_id = ?`, p.userID).Scan(&n); err != nil {
		s.internalError(w, r, err)
		return
	}
	if n >= maxWebhooksPerUser {
		s.fail(w, http.StatusBadRequest, "at most 20 webhooks per user")
		return
	}
	at := s.now().UTC().Format(time.RFC3339)
	res, err := s.db.ExecContext(ctx, `INSERT INTO webhooks (owner_id, url, events, created_at) VALUES (?,?,?,?)`, p.userID, req.URL, string(events), at)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	id, _ := res.LastInsertId()
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "url": req.URL, "events": req.Events, "created_at": at})
}

// handleTestWebhook serves POST /api/v1/webhooks/{webhookId}/test: it
// calls the webhook now. Vulnerable: any URL (DB-16), and the callback's
// answer is trusted, stored, applied and reflected (DB-17).
func (s *Server) handleTestWebhook(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := pathID(r, "webhookId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "webhookId must be a positive integer")
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var owner int
	var target string
	err := s.db.QueryRowContext(ctx, `SELECT owner_id, url FROM webhooks WHERE id = ?`, id).Scan(&owner, &target)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != p.userID && !p.isAdmin()) {
		s.fail(w, http.StatusNotFound, "webhook not found")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if s.fixed {
		if _, err := checkFetchURL(target, s.blocked); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	var evt [12]byte
	_, _ = rand.Read(evt[:])
	payload, _ := json.Marshal(map[string]any{
		"id":         "evt_" + base64.RawURLEncoding.EncodeToString(evt[:]),
		"type":       "webhook.test",
		"webhook_id": id,
		"created_at": s.now().UTC().Format(time.RFC3339),
	})
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "webhook url is invalid")
		return
	}
	out.Header.Set("Content-Type", "application/json")
	out.Header.Set("User-Agent", "demobank-webhooks/0.1")
	resp, err := s.client().Do(out)
	if err != nil {
		s.fetchError(w, "webhook delivery", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	limit := int64(maxFetchBytes)
	if s.fixed {
		limit = maxWebhookAnswer
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		s.fetchError(w, "webhook delivery", err)
		return
	}
	delivered := resp.StatusCode >= 200 && resp.StatusCode < 300
	if s.fixed {
		if int64(len(answer)) > limit {
			s.fail(w, http.StatusBadGateway, "webhook answer rejected")
			return
		}
		if delivered && len(answer) > 0 {
			if err := validateWebhookAnswer(answer); err != nil {
				s.fail(w, http.StatusBadGateway, "webhook answer rejected")
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"webhook_id": id, "delivered": delivered, "status_code": resp.StatusCode})
		return
	}

	// Vulnerable: whatever came back is believed.
	var parsed any
	if err := json.Unmarshal(answer, &parsed); err != nil {
		parsed = string(answer)
	}
	if obj, ok := parsed.(map[string]any); ok {
		if u, ok := obj["url"].(string); ok && u != "" {
			// The callback may retarget its own webhook.
			target = u
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE webhooks SET url = ?, last_response = ? WHERE id = ?`, target, string(answer), id); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"webhook_id":  id,
		"delivered":   delivered,
		"status_code": resp.StatusCode,
		"response":    parsed,
	})
}

// validateWebhookAnswer accepts only a JSON object whose sole member is
// "status", a short printable string.
func validateWebhookAnswer(b []byte) error {
	if len(b) > maxWebhookAnswer {
		return errors.New("answer too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a struct {
		Status *string `json:"status"`
	}
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after answer")
	}
	if a.Status == nil {
		return errors.New("answer has no status")
	}
	if *a.Status == "" || len(*a.Status) > 64 || !utf8.ValidString(*a.Status) {
		return errors.New("status must be 1 to 64 characters")
	}
	for _, c := range *a.Status {
		if c < 0x20 || c == 0x7f {
			return errors.New("status has control characters")
		}
	}
	// Duplicate keys ({"status":"a","status":"b"}) are refused too: the
	// object must have exactly one member.
	return countMembers(b)
}

// countMembers fails unless the top-level object has exactly one member,
// named exactly "status" (encoding/json silently keeps the last duplicate
// key and ignores case).
func countMembers(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("answer must be an object")
	}
	n := 0
	for dec.More() {
		// encoding/json matches field names case-insensitively; the key
		// must be exactly "status".
		if k, err := dec.Token(); err != nil || k != "status" {
			return errors.New("answer must be an object with only status")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return errors.New("answer must be an object")
		}
		n++
	}
	if n != 1 {
		return errors.New("answer must be an object with only status")
	}
	return nil
}
