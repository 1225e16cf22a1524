package rules

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

// urlNames are parameter and property names that usually carry a URL the
// server will fetch.
var urlNames = set("url", "uri", "link", "href", "callback", "callbackUrl", "callback_url", "webhook", "webhookUrl", "webhook_url", "redirect", "redirectUrl", "redirect_uri", "redirectUri", "returnUrl", "return_url", "next", "target", "targetUrl", "endpoint", "imageUrl", "image_url", "avatarUrl", "avatar_url", "feed", "feedUrl", "source", "sourceUrl", "fetch", "proxy", "host", "domain", "remote")

// urlLike reports a URL-carrying string schema: by name or by format.
func urlLike(name string, s *yaml.Node) bool {
	if s == nil || (Types(s) != nil && !IsType(s, "string")) {
		return false
	}
	f := strings.ToLower(Str(s, "format"))
	if f == "uri" || f == "url" || f == "iri" {
		return true
	}
	n := norm(name)
	return nameIn(name, urlNames) || strings.HasSuffix(n, "url") || strings.HasSuffix(n, "uri")
}

// schemePrefix matches the start of a pattern that only pins the scheme.
var schemePrefix = regexp.MustCompile(`^\^?(\(?https?\??(\|https?)?\)?)(:|\\:)(//|\\/\\/)`)

// pinsHost reports a pattern that fixes the host: after an anchored
// scheme comes a literal host character, not a wildcard or the end.
func pinsHost(pattern string) bool {
	loc := schemePrefix.FindStringIndex(pattern)
	if loc == nil {
		return false
	}
	rest := pattern[loc[1]:]
	return rest != "" && (rest[0] >= 'a' && rest[0] <= 'z' || rest[0] >= 'A' && rest[0] <= 'Z' || rest[0] >= '0' && rest[0] <= '9')
}

// urlRestricted reports a URL schema limited to known values or hosts:
// enum, const, or a pattern pinning the host. x-apiguard-ssrf marks a
// value the operator checks with guards.ssrf allow_hosts (audit marker).
func urlRestricted(s *yaml.Node) bool {
	return bounded(s) || pinsHost(Str(s, "pattern")) || Has(s, "x-apiguard-ssrf")
}

func init() {
	register(&Rule{
		ID: "audit.ssrf-url-input", Title: "URL input without an allowlist (SSRF risk)", Category: "API7", Severity: report.High, Scope: ScopeItems,
		Description: "A parameter or request property carries a URL (by name or format) with no enum, pattern or allowlist: if the server fetches it, attackers reach internal services and cloud metadata.",
		Remediation: "Restrict the URL to known hosts (pattern/enum), or validate it server-side against an allowlist and block private addresses.",
		Fix:         "format: uri   # apiguard's ssrf guard checks every format: uri value of the spec\n# apiguard config: guards.ssrf: {schemes: [https], allow_hosts: [hooks.example.com]}\nx-apiguard-ssrf: allow_hosts   # audit marker: the value is checked by guards.ssrf.allow_hosts",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				for _, p := range op.Params {
					if p.In != "header" && p.In != "cookie" && urlLike(p.Name, p.Schema) && !urlRestricted(p.Schema) && !Has(p.Node, "x-apiguard-ssrf") {
						hits = append(hits, opHit(op, p.Node, p.Pointer, p.In+" parameter "+p.Name+" takes a URL"))
					}
				}
				if op.Body == nil {
					continue
				}
				schemas, ptrs := BodySchemas(op)
				for i, s := range schemas {
					d.WalkResolved(s, ptrs[i], func(n *yaml.Node, ptr Ptr, prop string) {
						if prop != "" && Str(n, "readOnly") != "true" && urlLike(prop, n) && !urlRestricted(n) {
							hits = append(hits, Hit{Node: n, Pointer: ptr.String(), Operation: op.ID, Evidence: "body property " + prop + " takes a URL"})
						}
					})
				}
			}
			return dedupe(hits)
		},
	})
}
