package checks

// Pure decisions of the security-misconfiguration check (API8): security
// headers, version banners and CORS.

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

// headerGaps lists the hardening headers an API answer lacks. A JSON API
// answer should carry X-Content-Type-Options: nosniff, a
// Content-Security-Policy with frame-ancestors or X-Frame-Options
// (answers rendered in a frame), Cache-Control: no-store (or private) when
// it answered an authenticated request, and Strict-Transport-Security
// when it came over https.
func headerGaps(h http.Header, authenticated, https bool) []string {
	var gaps []string
	if !strings.EqualFold(strings.TrimSpace(h.Get("X-Content-Type-Options")), "nosniff") {
		gaps = append(gaps, "X-Content-Type-Options: nosniff")
	}
	csp := strings.ToLower(strings.Join(h.Values("Content-Security-Policy"), ";"))
	if !strings.Contains(csp, "frame-ancestors") && h.Get("X-Frame-Options") == "" {
		gaps = append(gaps, "Content-Security-Policy frame-ancestors or X-Frame-Options")
	}
	if authenticated {
		cc := strings.ToLower(strings.Join(h.Values("Cache-Control"), ","))
		if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
			gaps = append(gaps, "Cache-Control: no-store")
		}
	}
	if https && h.Get("Strict-Transport-Security") == "" {
		gaps = append(gaps, "Strict-Transport-Security")
	}
	return gaps
}

// bannerHeaders are answer headers that name the server software.
var bannerHeaders = []string{
	"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Runtime",
	"X-Version", "X-Generator", "X-Backend-Server", "X-Application-Context", "Via",
}

var versionRE = regexp.MustCompile(`\d+\.\d+|/\s*v?\d+\b|\bv\d+\b`)

// banners returns the banner headers of h as "Name: value", and whether
// any of them states a version.
func banners(h http.Header) (list []string, versioned bool) {
	for _, n := range bannerHeaders {
		v := strings.TrimSpace(h.Get(n))
		if v == "" {
			continue
		}
		list = append(list, n+": "+v)
		if versionRE.MatchString(v) {
			versioned = true
		}
	}
	return list, versioned
}

// corsVerdict judges the CORS answer headers h to a request sent with an
// Origin the API cannot have listed (a random https origin, or "null").
// An arbitrary origin reflected with credentials lets any web page read
// the victim's data with the victim's cookies or browser-held credentials
// (medium); reflected without credentials, or "*" with credentials (which
// browsers refuse), is low; anything else is nothing ("").
func corsVerdict(origin string, h http.Header) (report.Severity, string) {
	acao := strings.TrimSpace(h.Get("Access-Control-Allow-Origin"))
	creds := strings.EqualFold(strings.TrimSpace(h.Get("Access-Control-Allow-Credentials")), "true")
	switch {
	case acao == "":
		return "", ""
	case acao == origin && creds:
		return report.Medium, "the arbitrary origin " + origin + " is reflected in Access-Control-Allow-Origin with Access-Control-Allow-Credentials: true"
	case acao == origin:
		return report.Low, "the arbitrary origin " + origin + " is reflected in Access-Control-Allow-Origin (without credentials)"
	case acao == "*" && creds:
		return report.Low, "Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true"
	}
	return "", ""
}

// plainHTTPVerdict judges the target's scheme: plain HTTP to anything but
// a loopback host exposes credentials on the network (medium); on
// loopback it is only worth an info line.
func plainHTTPVerdict(target *url.URL) report.Severity {
	if target == nil || !strings.EqualFold(target.Scheme, "http") {
		return ""
	}
	if isLoopbackHost(target.Hostname()) {
		return report.Info
	}
	return report.Medium
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// traceEchoes reports whether an answer to TRACE echoes the request (the
// method is enabled: the body starts with the request line).
func traceEchoes(status int, body []byte, path string) bool {
	if status < 200 || status >= 300 {
		return false
	}
	return strings.HasPrefix(string(body), "TRACE "+path) || strings.Contains(string(body), "TRACE "+path+" HTTP/")
}

// isPrivateHost reports whether host is a private, link-local or
// unique-local address literal.
func isPrivateHost(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && (ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
}
