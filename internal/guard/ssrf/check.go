package ssrf

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/safehttp"
)

// Rule ids of the guard.
const (
	RuleForbiddenAddress = "ssrf.forbidden_address"
	RuleSchemeNotAllowed = "ssrf.scheme_not_allowed"
	RuleHostNotAllowed   = "ssrf.host_not_allowed"
	RuleAmbiguousURL     = "ssrf.ambiguous_url"
)

// Finding is why a URL is refused.
type Finding struct {
	// Rule is one of the Rule* ids.
	Rule string
	// Reason is a short operator-facing explanation (never sent to clients).
	Reason string
	// Host is the URL's host as parsed ("" when none could be parsed).
	Host string
}

// Kind says what a value is expected to be.
type Kind uint8

const (
	// Absolute values must be absolute URLs (format uri, url, iri).
	Absolute Kind = iota
	// Reference values may also be relative references without an
	// authority (format uri-reference, iri-reference, fields named in
	// config); a network-path reference ("//host/x") is refused.
	Reference
)

// hostPattern is an exact host or a "*.suffix" pattern (any name below
// suffix, not suffix itself).
type hostPattern struct {
	exact  string
	suffix string // ".example.com" for "*.example.com"
}

type hostList []hostPattern

func newHostList(items []string) (hostList, error) {
	out := make(hostList, 0, len(items))
	for _, it := range items {
		h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(it), "."))
		if h == "" || strings.ContainsAny(h, "/:@\\ %") && !strings.HasPrefix(h, "[") {
			return nil, errors.New("bad host pattern " + strconv.Quote(it))
		}
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			a, err := netip.ParseAddr(h[1 : len(h)-1])
			if err != nil {
				return nil, errors.New("bad host pattern " + strconv.Quote(it))
			}
			h = a.String()
		}
		if s, ok := strings.CutPrefix(h, "*."); ok {
			if s == "" || strings.Contains(s, "*") {
				return nil, errors.New("bad host pattern " + strconv.Quote(it))
			}
			out = append(out, hostPattern{suffix: "." + s})
			continue
		}
		if strings.Contains(h, "*") {
			return nil, errors.New("bad host pattern " + strconv.Quote(it) + ": only a leading *. is allowed")
		}
		out = append(out, hostPattern{exact: h})
	}
	return out, nil
}

func (l hostList) match(host string) bool {
	for _, p := range l {
		if p.exact != "" && p.exact == host || p.suffix != "" && strings.HasSuffix(host, p.suffix) {
			return true
		}
	}
	return false
}

// builtinLoopbackName reports names that are loopback by definition
// (RFC 6761) and are refused without a lookup.
func builtinLoopbackName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// Checker decides whether a URL may be given to the upstream. It is safe
// for concurrent use.
type Checker struct {
	// Schemes are the allowed schemes, lower case.
	Schemes []string
	// Allow, when not empty, lists the only hosts allowed.
	Allow hostList
	// Deny lists refused hosts.
	Deny hostList
	// Policy is the address policy (shared with safehttp).
	Policy safehttp.Policy
	// Resolver resolves names; nil means the system resolver.
	Resolver safehttp.Resolver
	// ResolveTimeout bounds one resolution.
	ResolveTimeout time.Duration
	// MaxBytes is the longest URL accepted.
	MaxBytes int
	// CheckNestedOnly, when true, checks URLs nested in a URL's path or
	// query with the same rules; when false (default) a nested URL is
	// refused unless the outer host is on the allow list, and then checked.
	CheckNestedOnly bool
}

const maxNestedDepth = 2

// maxNested bounds how many nested URLs one value may carry.
const maxNested = 4

// Check returns nil when raw may be passed on, or why not.
func (c *Checker) Check(ctx context.Context, raw string, kind Kind) *Finding {
	return c.check(ctx, raw, kind, 0)
}

func ambiguous(host, reason string) *Finding {
	return &Finding{Rule: RuleAmbiguousURL, Reason: reason, Host: host}
}

// parsed is a URL split the strict way.
type parsed struct {
	scheme string
	host   string // lower case, no trailing dot; IPv6 without brackets
	addr   netip.Addr
	isIP   bool
	loose  bool   // a non-canonical IPv4 form
	rest   string // path, query and fragment
}

func (c *Checker) check(ctx context.Context, raw string, kind Kind, depth int) *Finding {
	maxBytes := c.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 4096
	}
	if len(raw) > maxBytes {
		return ambiguous("", "longer than "+strconv.Itoa(maxBytes)+" bytes")
	}
	p, f := c.parse(raw, kind)
	if f != nil || p == nil {
		return f
	}
	if c.Deny.match(p.host) {
		return &Finding{Rule: RuleHostNotAllowed, Reason: "host on the deny list", Host: p.host}
	}
	if !p.isIP && builtinLoopbackName(p.host) {
		return &Finding{Rule: RuleForbiddenAddress, Reason: "localhost name (loopback)", Host: p.host}
	}
	allowed := len(c.Allow) > 0 && c.Allow.match(p.host)
	if len(c.Allow) > 0 && !allowed {
		return &Finding{Rule: RuleHostNotAllowed, Reason: "host not on the allow list", Host: p.host}
	}
	if p.isIP {
		if err := c.Policy.Check(p.addr); err != nil {
			return &Finding{Rule: RuleForbiddenAddress, Reason: reasonOf(err, p.addr), Host: p.host}
		}
		if p.loose {
			return ambiguous(p.host, "non-canonical IPv4 form of "+p.addr.String())
		}
	} else if f := c.resolve(ctx, p.host); f != nil {
		return f
	}
	return c.checkNested(ctx, p, allowed, depth)
}

func reasonOf(err error, a netip.Addr) string {
	var ae *safehttp.AddressError
	if errors.As(err, &ae) {
		return a.String() + " is " + string(ae.Reason)
	}
	return err.Error()
}

func (c *Checker) resolve(ctx context.Context, host string) *Finding {
	timeout := c.ResolveTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := c.Resolver
	if r == nil {
		r = defaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return &Finding{Rule: RuleHostNotAllowed, Reason: "host does not resolve", Host: host}
	}
	for _, a := range addrs {
		if err := c.Policy.Check(a); err != nil {
			return &Finding{Rule: RuleForbiddenAddress, Reason: "resolves to " + reasonOf(err, a), Host: host}
		}
	}
	return nil
}

// parse splits raw strictly. It returns (nil, nil) for a relative
// reference that has no authority (allowed for Reference values).
func (c *Checker) parse(raw string, kind Kind) (*parsed, *Finding) {
	if raw == "" {
		if kind == Reference {
			return nil, nil
		}
		return nil, ambiguous("", "empty URL")
	}
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case b <= ' ' || b == 0x7f:
			return nil, ambiguous("", "whitespace or control character")
		case b == '\\':
			return nil, ambiguous("", "backslash")
		}
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 || !validScheme(raw[:colon]) || strings.ContainsAny(raw[:colon], "/?#") {
		// No scheme: a relative reference.
		if kind == Absolute {
			return nil, ambiguous("", "not an absolute URL")
		}
		if strings.HasPrefix(raw, "//") {
			return nil, ambiguous("", "network-path reference")
		}
		return nil, nil
	}
	scheme := strings.ToLower(raw[:colon])
	if !contains(c.Schemes, scheme) {
		return nil, &Finding{Rule: RuleSchemeNotAllowed, Reason: "scheme " + strconv.Quote(scheme)}
	}
	rest := raw[colon+1:]
	if !strings.HasPrefix(rest, "//") {
		return nil, ambiguous("", "no // after the scheme")
	}
	rest = rest[2:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	// Up to the first slash: '@' there is userinfo to one parser and a
	// query or fragment to another.
	head := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		head = rest[:i]
	}
	if strings.IndexByte(head, '@') >= 0 {
		return nil, ambiguous("", "userinfo (@) in the authority")
	}
	p := &parsed{scheme: scheme, rest: rest[end:]}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return nil, ambiguous("", "unclosed IPv6 literal")
		}
		host, port = authority[1:i], authority[i+1:]
		if port != "" && port[0] != ':' {
			return nil, ambiguous("", "junk after an IPv6 literal")
		}
		if strings.IndexByte(host, '%') >= 0 {
			return nil, ambiguous("", "IPv6 zone or escape in the host")
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return nil, ambiguous("", "bad IPv6 literal")
		}
		p.addr, p.isIP, p.host = a, true, a.String()
	} else {
		if i := strings.IndexByte(authority, ':'); i >= 0 {
			host, port = authority[:i], authority[i:]
		}
		if f := p.setHost(host); f != nil {
			return nil, f
		}
	}
	if port != "" {
		digits := port[1:]
		if digits == "" || len(digits) > 5 || !allDigits(digits, 10) {
			return nil, ambiguous(p.host, "bad port")
		}
		if n, _ := strconv.Atoi(digits); n < 1 || n > 65535 {
			return nil, ambiguous(p.host, "bad port")
		}
	}
	// The upstream's parser (net/url or alike) must read the same host.
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || strings.ToLower(u.Scheme) != scheme {
		return nil, ambiguous(p.host, "URL parsers disagree")
	}
	gh := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if p.isIP {
		a, err := netip.ParseAddr(gh)
		if (err != nil || a != p.addr) && !p.loose {
			return nil, ambiguous(p.host, "URL parsers disagree on the host")
		}
	} else if gh != p.host {
		return nil, ambiguous(p.host, "URL parsers disagree on the host")
	}
	return p, nil
}

// setHost checks a registered name or IPv4 host.
func (p *parsed) setHost(host string) *Finding {
	if host == "" {
		return ambiguous("", "no host")
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return ambiguous("", "non-ASCII host (send IDNs as punycode)")
		}
		if host[i] == '%' {
			return ambiguous("", "percent-encoded host")
		}
	}
	h := strings.ToLower(host)
	h = strings.TrimSuffix(h, ".")
	p.host = h
	if h == "" || strings.HasSuffix(h, ".") {
		return ambiguous(h, "empty label")
	}
	if endsInNumber(h) {
		a, canonical, ok := parseLooseIPv4(h)
		if !ok {
			return ambiguous(h, "numeric host that is not an IPv4 address")
		}
		p.addr, p.isIP, p.loose = a, true, !canonical
		return nil
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return ambiguous(h, "empty or long label")
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
				return ambiguous(h, "character "+strconv.QuoteRune(rune(b))+" in the host")
			}
		}
	}
	if len(h) > 253 {
		return ambiguous(h, "host longer than 253 bytes")
	}
	return nil
}

func validScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		b := s[i]
		if !('a' <= b|0x20 && b|0x20 <= 'z' || '0' <= b && b <= '9' || b == '+' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkNested finds URLs carried inside the path, query or fragment (the
// shape of open redirectors: /redirect?to=http://169.254.169.254/). They
// are refused unless the outer host is allow-listed or the checker only
// checks nested URLs; then each is checked like the outer one.
func (c *Checker) checkNested(ctx context.Context, p *parsed, outerAllowed bool, depth int) *Finding {
	if p.rest == "" {
		return nil
	}
	nested := findNested(p.rest)
	if len(nested) == 0 {
		return nil
	}
	if len(nested) > maxNested || depth >= maxNestedDepth {
		return ambiguous(p.host, "too many nested URLs")
	}
	if !outerAllowed && !c.CheckNestedOnly {
		return ambiguous(p.host, "URL carries another URL (possible redirector)")
	}
	for _, n := range nested {
		if f := c.check(ctx, n, Absolute, depth+1); f != nil {
			f.Reason = "nested URL: " + f.Reason
			if f.Host == "" {
				f.Host = p.host
			}
			return f
		}
	}
	return nil
}

// findNested returns the URLs embedded in s: absolute URLs ("scheme://")
// and network-path references ("//host") starting a query value, after
// up to two rounds of percent-decoding.
func findNested(s string) []string {
	seen := map[string]bool{}
	var out []string
	cur := s
	for round := 0; round < 3; round++ {
		for _, seg := range splitValues(cur) {
			if u, ok := nestedIn(seg); ok && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
		dec, err := url.PathUnescape(cur)
		if err != nil || dec == cur {
			break
		}
		cur = dec
	}
	return out
}

// splitValues splits a path/query/fragment into the pieces a nested URL
// would be one of: query values and path remainders.
func splitValues(s string) []string {
	var out []string
	f := func(r rune) bool { return r == '?' || r == '&' || r == ';' || r == '#' }
	for _, part := range strings.FieldsFunc(s, f) {
		if _, v, ok := strings.Cut(part, "="); ok {
			out = append(out, v)
		}
		out = append(out, part)
	}
	return out
}

// nestedIn returns the nested URL in seg, if any.
func nestedIn(seg string) (string, bool) {
	if strings.HasPrefix(seg, "//") {
		return "http:" + seg, true
	}
	i := strings.Index(seg, "://")
	if i < 0 {
		return "", false
	}
	start := i
	for start > 0 && isSchemeChar(seg[start-1]) {
		start--
	}
	if start == i {
		return "http" + seg[i:], true
	}
	return seg[start:], true
}

func isSchemeChar(b byte) bool {
	return 'a' <= b|0x20 && b|0x20 <= 'z' || '0' <= b && b <= '9' || b == '+' || b == '-' || b == '.'
}
