package headers

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
)

// CORSConfig is the cross-origin policy apiguard enforces for an API. The
// upstream's own CORS headers are always removed.
type CORSConfig struct {
	// Origins may read answers from a browser: an exact origin
	// ("https://app.example.com", "http://localhost:3000"), a pattern
	// whose host starts with "*." ("https://*.example.com" matches every
	// subdomain, not the apex), or "*" (any origin, only without
	// credentials). Default none: cross-origin reads are refused.
	Origins []string `yaml:"origins"`
	// Methods a preflight may ask for. Default GET, HEAD, POST.
	Methods []string `yaml:"methods"`
	// Headers a preflight may ask for (case-insensitive). Default
	// Authorization, Content-Type.
	Headers []string `yaml:"headers"`
	// ExposeHeaders are answer headers a page may read. Default none.
	ExposeHeaders []string `yaml:"expose_headers"`
	// Credentials allows cookies and Authorization on cross-origin
	// requests (Access-Control-Allow-Credentials: true). Default false.
	// Not allowed with "*".
	Credentials bool `yaml:"credentials"`
	// MaxAge is how long a browser may cache a preflight. Default 10m.
	MaxAge config.Duration `yaml:"max_age"`
}

// originPattern is one allowed origin: scheme, host (or host suffix for a
// wildcard) and port, all normalized.
type originPattern struct {
	scheme, host, port string
	wildcard           bool // host is a suffix such as ".example.com"
}

// cors is a compiled CORSConfig.
type cors struct {
	any         bool // "*"
	patterns    []originPattern
	methods     []string
	headers     []string // lower case
	allowMeth   string
	allowHdrs   string
	expose      string
	credentials bool
	maxAge      string
}

var safelistedRequestHeaders = []string{"accept", "accept-language", "content-language"}

func compileCORS(c CORSConfig) (*cors, error) {
	out := &cors{credentials: c.Credentials}
	for i, o := range c.Origins {
		o = strings.TrimSpace(o)
		switch {
		case o == "*":
			if c.Credentials {
				return nil, fmt.Errorf("cors.origins[%d]: \"*\" cannot be used with credentials: list the origins", i)
			}
			out.any = true
			continue
		case strings.EqualFold(o, "null"):
			return nil, fmt.Errorf("cors.origins[%d]: the \"null\" origin (sandboxed frames, files) is never allowed", i)
		}
		p, err := parsePattern(o)
		if err != nil {
			return nil, fmt.Errorf("cors.origins[%d]: %w", i, err)
		}
		out.patterns = append(out.patterns, p)
	}
	out.methods = c.Methods
	if out.methods == nil {
		out.methods = []string{"GET", "HEAD", "POST"}
	}
	for i, m := range out.methods {
		if !validName(m) || m != strings.ToUpper(m) {
			return nil, fmt.Errorf("cors.methods[%d]: %q is not an upper-case method name", i, m)
		}
		if m == "TRACE" || m == "TRACK" || m == "CONNECT" {
			return nil, fmt.Errorf("cors.methods[%d]: %s is never allowed", i, m)
		}
	}
	hdrs := c.Headers
	if hdrs == nil {
		hdrs = []string{"Authorization", "Content-Type"}
	}
	for i, h := range hdrs {
		if !validName(h) || h == "*" {
			return nil, fmt.Errorf("cors.headers[%d]: %q is not a header name", i, h)
		}
		out.headers = append(out.headers, strings.ToLower(h))
	}
	for i, h := range c.ExposeHeaders {
		if !validName(h) || h == "*" {
			return nil, fmt.Errorf("cors.expose_headers[%d]: %q is not a header name", i, h)
		}
	}
	out.allowMeth = strings.Join(out.methods, ", ")
	canon := make([]string, len(hdrs))
	for i, h := range hdrs {
		canon[i] = http.CanonicalHeaderKey(h)
	}
	out.allowHdrs = strings.Join(canon, ", ")
	out.expose = strings.Join(c.ExposeHeaders, ", ")
	maxAge := c.MaxAge.D()
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	if maxAge > 24*time.Hour {
		return nil, fmt.Errorf("cors.max_age: must be at most 24h")
	}
	out.maxAge = strconv.Itoa(int(maxAge / time.Second))
	return out, nil
}

// parsePattern parses a configured origin or origin pattern.
func parsePattern(s string) (originPattern, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return originPattern{}, fmt.Errorf("%q must be scheme://host[:port]", s)
	}
	wildcard := strings.HasPrefix(rest, "*.")
	if wildcard {
		rest = "x" + rest[1:] // parse the suffix as a host
	}
	p, ok := parseOrigin(scheme + "://" + rest)
	if !ok {
		return originPattern{}, fmt.Errorf("%q must be scheme://host[:port] with scheme http or https, and no path", s)
	}
	if wildcard {
		p.host = p.host[1:] // ".example.com"
		if strings.Count(p.host, ".") < 2 || strings.HasPrefix(p.host, "[") {
			return originPattern{}, fmt.Errorf("%q: a wildcard needs at least two labels after \"*.\"", s)
		}
		p.wildcard = true
	}
	return p, nil
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// parseOrigin parses an Origin header value as a browser serializes it:
// scheme "://" host [":" port], scheme http or https, a DNS name or an IP
// literal, no path, no userinfo. Host and scheme are lower-cased and a
// default port is dropped.
func parseOrigin(s string) (originPattern, bool) {
	if len(s) > 253+32 {
		return originPattern{}, false
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return originPattern{}, false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return originPattern{}, false
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return originPattern{}, false
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" {
			if port[0] != ':' {
				return originPattern{}, false
			}
			port = port[1:]
		}
		for i := 1; i < len(host)-1; i++ {
			c := host[i]
			if !(isHex(c) || c == ':' || c == '.') {
				return originPattern{}, false
			}
		}
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
		}
		if host == "" {
			return originPattern{}, false
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return originPattern{}, false
			}
		}
		if host[0] == '.' || host[len(host)-1] == '.' || strings.Contains(host, "..") {
			return originPattern{}, false
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return originPattern{}, false
		}
		if port == defaultPort(scheme) {
			port = ""
		}
	}
	return originPattern{scheme: scheme, host: strings.ToLower(host), port: port}, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// allow returns the Access-Control-Allow-Origin value for a request's
// Origin, and whether it is allowed. An allowed origin is echoed only in
// the exact form browsers send (lower case, no default port).
func (c *cors) allow(origin string) (string, bool) {
	if origin == "" {
		return "", false
	}
	if c.any {
		return "*", true
	}
	o, ok := parseOrigin(origin)
	if !ok {
		return "", false
	}
	canon := o.scheme + "://" + o.host
	if o.port != "" {
		canon += ":" + o.port
	}
	if canon != origin {
		return "", false
	}
	for _, p := range c.patterns {
		if p.scheme != o.scheme || p.port != o.port {
			continue
		}
		if p.wildcard {
			if len(o.host) > len(p.host) && strings.HasSuffix(o.host, p.host) {
				return origin, true
			}
		} else if p.host == o.host {
			return origin, true
		}
	}
	return "", false
}

// varies reports whether answers depend on the Origin header.
func (c *cors) varies() bool { return len(c.patterns) > 0 }

// preflight checks a preflight request. It returns the answer headers and
// true when allowed, or a short reason when refused.
func (c *cors) preflight(r *http.Request) (http.Header, string) {
	origin := r.Header.Get("Origin")
	acao, ok := c.allow(origin)
	if !ok {
		return nil, "origin"
	}
	if m := r.Header.Get("Access-Control-Request-Method"); !slices.Contains(c.methods, m) {
		return nil, "method"
	}
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" || slices.Contains(c.headers, h) || slices.Contains(safelistedRequestHeaders, h) {
				continue
			}
			return nil, "headers"
		}
	}
	h := http.Header{}
	h.Set("Access-Control-Allow-Origin", acao)
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", c.allowMeth)
	if c.allowHdrs != "" {
		h.Set("Access-Control-Allow-Headers", c.allowHdrs)
	}
	h.Set("Access-Control-Max-Age", c.maxAge)
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	return h, ""
}

// actual sets the CORS headers of an answer to an actual (not preflight)
// request. The upstream's CORS headers are already removed.
func (c *cors) actual(h http.Header, r *http.Request) {
	if c.varies() {
		addVary(h, "Origin")
	}
	if r == nil {
		return
	}
	acao, ok := c.allow(r.Header.Get("Origin"))
	if !ok {
		return
	}
	h.Set("Access-Control-Allow-Origin", acao)
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if c.expose != "" {
		h.Set("Access-Control-Expose-Headers", c.expose)
	}
}

// addVary adds a field name to Vary unless it is already there.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}
