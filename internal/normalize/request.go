package normalize

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// Default header limits.
const (
	// DefaultMaxHeaders is the default maximum number of header field lines.
	DefaultMaxHeaders = 100
	// DefaultMaxHeaderValueBytes is the default maximum length of one header
	// field value (8 KiB).
	DefaultMaxHeaderValueBytes = 8 << 10
)

// Limits are the header limits. The total size of the request head is
// enforced by http.Server.MaxHeaderBytes (Go answers 431 itself).
type Limits struct {
	// MaxHeaders is the maximum number of header field lines (each value of
	// a repeated field counts). Zero or negative means DefaultMaxHeaders (100).
	MaxHeaders int
	// MaxHeaderValueBytes is the maximum length of one header field value.
	// Zero or negative means DefaultMaxHeaderValueBytes (8 KiB).
	MaxHeaderValueBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderValueBytes <= 0 {
		l.MaxHeaderValueBytes = DefaultMaxHeaderValueBytes
	}
	return l
}

// RequestPath returns the escaped path of r exactly as the client wrote it
// on the wire: the part of r.RequestURI before '?'. For a target that is
// not in origin form (absolute or authority form, which Request rejects) it
// falls back to r.URL.EscapedPath(). Give the result to Path.
func RequestPath(r *http.Request) string {
	uri := r.RequestURI
	if len(uri) > 0 && uri[0] == '/' {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			return uri[:i]
		}
		return uri
	}
	return r.URL.EscapedPath()
}

// Request checks a parsed request for ambiguous or dangerous protocol
// shapes and returns a Rejection, or nil when the request is acceptable.
// It does not look at the path (see Path) nor read the body.
//
// When the server's listener is wrapped by Listener and its ConnContext is
// ConnContext, Request also reports the framing shapes that net/http hides
// from handlers (Content-Length with Transfer-Encoding, repeated identical
// Content-Length, obs-fold, bare LF, Transfer-Encoding on HTTP/1.0).
//
// A clean request costs no allocation.
func Request(r *http.Request, lim Limits) *Rejection {
	if ws := wireStateFrom(r.Context()); ws != nil {
		if t := ws.flagged.Load(); t != nil {
			return reject(t)
		}
	}
	if rj := checkProto(r); rj != nil {
		return rj
	}
	if rj := checkMethod(r.Method); rj != nil {
		return rj
	}
	if rj := checkTarget(r); rj != nil {
		return rj
	}
	if rj := checkHeaders(r, lim.withDefaults()); rj != nil {
		return rj
	}
	if r.URL != nil {
		if rj := checkQuery(r.URL.RawQuery); rj != nil {
			return rj
		}
	}
	return nil
}

func checkProto(r *http.Request) *Rejection {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor <= 1,
		r.ProtoMajor == 2 && r.ProtoMinor == 0,
		r.ProtoMajor == 3 && r.ProtoMinor == 0:
		return nil
	}
	return reject(ruleHTTPVersion)
}

// checkMethod accepts the common methods at once; others must be tokens,
// must not be a lower- or mixed-case spelling of a standard method (some
// upstreams upper-case methods, some guards do not), and must not be one
// of the diagnostic or tunnelling methods.
func checkMethod(m string) *Rejection {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodHead, http.MethodOptions:
		return nil
	case "":
		return reject(ruleMethodInvalid)
	}
	if !isToken(m) {
		return reject(ruleMethodInvalid)
	}
	for _, d := range [...]string{"TRACE", "TRACK", "CONNECT", "DEBUG"} {
		if m == d {
			return reject(ruleMethodDisallowed)
		}
		if strings.EqualFold(m, d) {
			return reject(ruleMethodCase)
		}
	}
	for _, s := range [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PRI"} {
		if strings.EqualFold(m, s) {
			if m == "PRI" {
				return reject(ruleMethodDisallowed)
			}
			return reject(ruleMethodCase)
		}
	}
	return nil
}

func checkTarget(r *http.Request) *Rejection {
	uri := r.RequestURI
	if uri == "" && r.URL != nil { // a request not read by a server
		uri = r.URL.RequestURI()
	}
	switch {
	case len(uri) > 0 && uri[0] == '/':
	case uri == "*":
		return reject(ruleAsteriskForm)
	case strings.Contains(uri, "://"):
		return reject(ruleAbsoluteForm)
	default:
		return reject(ruleAuthorityForm)
	}
	if r.URL != nil && r.URL.Host != "" && r.URL.Host != r.Host {
		return reject(ruleHostAmbiguous)
	}
	// net/http moves an HTTP/1 Host header into r.Host; a Host field left in
	// the map comes from HTTP/2 or HTTP/3 next to :authority.
	if hs, ok := r.Header["Host"]; ok && (len(hs) != 1 || hs[0] != r.Host) {
		return reject(ruleHostAmbiguous)
	}
	return nil
}

// Canonical keys of the header fields checked by name.
const (
	hContentLength    = "Content-Length"
	hTransferEncoding = "Transfer-Encoding"
	hConnection       = "Connection"
	hUpgrade          = "Upgrade"
	hHTTP2Settings    = "Http2-Settings"
)

// overrideHeaders are method override fields honoured by common frameworks
// (Rails, Laravel, Symfony, Express method-override, Spring, ASP.NET).
var overrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// pathOverrideHeaders make some upstreams (Symfony, IIS URL Rewrite,
// Zend) route on the header instead of the request line.
var pathOverrideHeaders = [...]string{"X-Original-Url", "X-Rewrite-Url", "X-Override-Url"}

// underscoreSensitive are fields that CGI/WSGI-style upstreams cannot tell
// apart from their underscore spelling, and that the gateway sets or
// trusts.
var underscoreSensitive = [...]string{
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"X-Forwarded-Prefix", "X-Real-Ip", "Forwarded", "Authorization",
}

func checkHeaders(r *http.Request, lim Limits) *Rejection {
	n := 0
	underscore := false
	for k, vs := range r.Header {
		n += len(vs)
		if !isToken(k) {
			return reject(ruleHeaderName)
		}
		if strings.IndexByte(k, '_') >= 0 {
			underscore = true
		}
		for _, v := range vs {
			if len(v) > lim.MaxHeaderValueBytes {
				return reject(ruleHeaderValueLength)
			}
			if !validFieldValue(v) {
				return reject(ruleHeaderValueCtl)
			}
		}
	}
	if n > lim.MaxHeaders {
		return reject(ruleHeaderCount)
	}
	h := r.Header
	for _, k := range overrideHeaders {
		if _, ok := h[k]; ok {
			return reject(ruleMethodOverride)
		}
	}
	for _, k := range pathOverrideHeaders {
		if _, ok := h[k]; ok {
			return reject(rulePathOverride)
		}
	}
	if underscore {
		if rj := checkUnderscores(h); rj != nil {
			return rj
		}
	}
	// Framing. net/http (HTTP/1) removes Transfer-Encoding from the map and
	// keeps it in r.TransferEncoding; HTTP/2 forbids it.
	if _, ok := h[hTransferEncoding]; ok {
		return reject(ruleTEInvalid)
	}
	switch len(r.TransferEncoding) {
	case 0:
	case 1:
		if !strings.EqualFold(r.TransferEncoding[0], "chunked") {
			return reject(ruleTEInvalid)
		}
		if _, ok := h[hContentLength]; ok {
			return reject(ruleCLTE)
		}
	default:
		return reject(ruleTEInvalid)
	}
	if cl, ok := h[hContentLength]; ok {
		if len(cl) != 1 {
			return reject(ruleCLRepeated)
		}
		if !canonicalDigits(trimOWS(cl[0])) {
			return reject(ruleCLInvalid)
		}
	}
	if vs, ok := h[hConnection]; ok {
		for _, v := range vs {
			if rj := checkConnection(v); rj != nil {
				return rj
			}
		}
	}
	if _, ok := h[hHTTP2Settings]; ok {
		return reject(ruleH2CUpgrade)
	}
	for _, v := range h[hUpgrade] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = trimOWS(tok)
			if strings.EqualFold(tok, "h2c") || strings.HasPrefix(strings.ToLower(tok), "h2c/") {
				return reject(ruleH2CUpgrade)
			}
		}
	}
	return nil
}

// checkUnderscores rejects a field spelled with underscores when the
// hyphen spelling is also present, is a method or path override, or is a
// field the gateway sets or trusts: CGI, WSGI and Rack upstreams map both
// spellings to the same variable.
func checkUnderscores(h http.Header) *Rejection {
	for k := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		dash := http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))
		for _, o := range overrideHeaders {
			if dash == o {
				return reject(ruleMethodOverride)
			}
		}
		for _, o := range pathOverrideHeaders {
			if dash == o {
				return reject(rulePathOverride)
			}
		}
		if _, ok := h[dash]; ok {
			return reject(ruleHeaderAmbiguous)
		}
		for _, s := range underscoreSensitive {
			if dash == s {
				return reject(ruleHeaderAmbiguous)
			}
		}
	}
	return nil
}

// checkConnection accepts only the connection options clients need: a
// Connection header naming any other field makes hop-by-hop processing
// (ours or a proxy's) delete that field, so the upstream would not see
// what the guards saw.
func checkConnection(v string) *Rejection {
	for tok := range strings.SplitSeq(v, ",") {
		tok = trimOWS(tok)
		switch {
		case tok == "",
			strings.EqualFold(tok, "close"),
			strings.EqualFold(tok, "keep-alive"),
			strings.EqualFold(tok, "upgrade"),
			strings.EqualFold(tok, "te"):
		case strings.EqualFold(tok, "http2-settings"):
			return reject(ruleH2CUpgrade)
		default:
			return reject(ruleConnectionHeader)
		}
	}
	return nil
}

// checkQuery walks the raw query once: escapes must be valid, the decoded
// bytes must be valid UTF-8 without control characters, ';' must not be
// used raw (Go drops such pairs, other stacks split on it), and no key may
// decode to "_method" (any case).
func checkQuery(q string) *Rejection {
	const key = "_method"
	var (
		pend    [utf8.UTFMax]byte
		np      int
		inKey   = true
		keyPos  = 0
		keyMiss = false
	)
	endKey := func() bool { return inKey && !keyMiss && keyPos == len(key) }
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '&':
			if endKey() {
				return reject(ruleMethodOverride)
			}
			inKey, keyPos, keyMiss = true, 0, false
			if np != 0 {
				return reject(ruleQueryUTF8)
			}
			continue
		case '=':
			if endKey() {
				return reject(ruleMethodOverride)
			}
			inKey = false
			if np != 0 {
				return reject(ruleQueryUTF8)
			}
			continue
		case ';':
			return reject(ruleQuerySemicolon)
		case '#', ' ':
			return reject(ruleQueryEncoding)
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reject(ruleQueryEncoding)
			}
			c = unhex(q[i+1])<<4 | unhex(q[i+2])
			i += 2
		}
		if c < 0x20 || c == 0x7f {
			return reject(ruleQueryControl)
		}
		if inKey && !keyMiss {
			if keyPos < len(key) && lower(c) == key[keyPos] {
				keyPos++
			} else {
				keyMiss = true
			}
		}
		if c < utf8.RuneSelf {
			if np != 0 {
				return reject(ruleQueryUTF8)
			}
			continue
		}
		pend[np] = c
		np++
		if !utf8.FullRune(pend[:np]) {
			continue
		}
		r, size := utf8.DecodeRune(pend[:np])
		if r == utf8.RuneError && size <= 1 || size != np {
			return reject(ruleQueryUTF8)
		}
		if r >= 0x80 && r <= 0x9F {
			return reject(ruleQueryControl)
		}
		np = 0
	}
	if np != 0 {
		return reject(ruleQueryUTF8)
	}
	if endKey() {
		return reject(ruleMethodOverride)
	}
	return nil
}

// tchar per RFC 9110 section 5.6.2.
var tchar = alnumAnd("!#$%&'*+-.^_`|~")

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v has no control characters other than
// HTAB (obs-text, bytes >= 0x80, is allowed as RFC 9110 allows it).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// canonicalDigits reports whether s is a non-empty decimal number without
// sign and without leading zeros ("0" itself is fine), of at most 18
// digits.
func canonicalDigits(s string) bool {
	if s == "" || len(s) > 18 || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
