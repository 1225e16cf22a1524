// Package lint finds risky settings in a valid apiguard configuration:
// settings that load and run, but weaken the protection (plain HTTP on a
// public listener, CORS "*", monitor mode everywhere, certificate checks
// off, short HMAC secrets, login operations without a rate limit, ...).
// `apiguard config lint FILE` prints its findings.
package lint

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/openapi"
)

// Severity orders findings.
type Severity int

// Severities, from the least to the most serious.
const (
	Info Severity = iota
	Warning
	Error
)

var severityNames = [...]string{"info", "warning", "error"}

// String returns the severity's name.
func (s Severity) String() string {
	if s >= Info && s <= Error {
		return severityNames[s]
	}
	return "unknown"
}

// ParseSeverity parses info, warning or error.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("severity must be info, warning or error, not %q", s)
}

// Finding is one risky setting.
type Finding struct {
	Severity Severity
	// Rule is a stable id such as "server.plain_http".
	Rule string
	// Field is the config path, such as "apis[0].guards.headers.cors.origins[1]".
	Field string
	// Message explains the risk and the fix.
	Message string
}

// String formats a finding as one line: "severity rule field: message".
func (f Finding) String() string {
	return f.Severity.String() + " " + f.Rule + " " + f.Field + ": " + f.Message
}

// MinHMACSecretBytes is the shortest HMAC (HS256/384/512) secret not
// reported.
const MinHMACSecretBytes = 32

// SpecLoader loads an API's spec; openapi.Load by default.
type SpecLoader func(path string) (*openapi.Spec, error)

// Lint returns the findings of a loaded configuration, in config order.
// loadSpec may be nil.
func Lint(cfg *config.Loaded, loadSpec SpecLoader) []Finding {
	if loadSpec == nil {
		loadSpec = openapi.Load
	}
	l := &linter{}
	c := cfg.Config
	if !config.IsLoopbackListen(c.Server.Listen) && c.Server.TLS.CertFile == "" {
		l.add(Warning, "server.plain_http", "server.listen",
			"%s accepts plain HTTP beyond loopback: tokens and data cross the network in clear; set server.tls.cert_file and key_file, or listen on 127.0.0.1 behind a TLS proxy", c.Server.Listen)
	}
	for i, p := range c.Server.TrustedProxies {
		if pr, err := config.ParsePrefix(p); err == nil && pr.Bits() == 0 {
			l.add(Warning, "server.trusted_proxies_any", fmt.Sprintf("server.trusted_proxies[%d]", i),
				"%s trusts every address: any client can forge X-Forwarded-For and its request id; list your proxies' addresses", p)
		}
	}
	if c.Admin.Listen != "off" && !config.IsLoopbackListen(c.Admin.Listen) {
		// admin.tokens are accepted instead of admin.token (config.Validate);
		// APIGUARD_ADMIN_TOKEN is already in Token once the config is loaded.
		if c.Admin.Token == "" && len(c.Admin.Tokens) == 0 {
			l.add(Error, "admin.exposed_without_token", "admin.token", "the admin listener %s is reachable beyond loopback without a token", c.Admin.Listen)
		} else {
			l.add(Info, "admin.exposed", "admin.listen", "the admin listener %s is reachable beyond loopback; prefer 127.0.0.1 and a tunnel", c.Admin.Listen)
		}
		if c.Admin.Profiling {
			l.add(Warning, "admin.profiling_exposed", "admin.profiling", "runtime profiles are served on %s, reachable beyond loopback; turn profiling on only while profiling, or keep the admin listener on loopback", c.Admin.Listen)
		}
	}
	if c.Egress.Listen != "" && !config.IsLoopbackListen(c.Egress.Listen) {
		if c.Egress.Token == "" {
			l.add(Warning, "egress.exposed", "egress.listen",
				"the egress proxy %s is reachable beyond loopback without authentication: anyone who reaches it can call the configured third-party destinations through it; bind it to 127.0.0.1 or a private interface only the application reaches, or set egress.token", c.Egress.Listen)
		} else {
			l.add(Info, "egress.exposed", "egress.listen",
				"the egress proxy %s is reachable beyond loopback (with egress.token); its leg from the application is plain HTTP, so the token crosses that network in clear", c.Egress.Listen)
		}
	}
	monitored := 0
	for i := range c.APIs {
		a := &c.APIs[i]
		p := fmt.Sprintf("apis[%d]", i)
		if a.Mode == "monitor" {
			monitored++
			l.add(Info, "api.monitor", p+".mode", "API %q is in monitor mode: guards log attacks but block nothing", a.Name)
		}
		if a.Upstream.TLS.InsecureSkipVerify {
			l.add(Warning, "tls.insecure_skip_verify", p+".upstream.tls.insecure_skip_verify",
				"upstream certificates are not verified: anyone on the path can impersonate the upstream; set ca_file instead")
		}
		for j, u := range a.Upstream.URLs {
			if strings.HasPrefix(u, "http://") && !loopbackURL(u) {
				l.add(Info, "upstream.plain_http", fmt.Sprintf("%s.upstream.urls[%d]", p, j), "traffic to the upstream %s is not encrypted", u)
			}
		}
		l.guards(a, p)
		l.login(cfg, a, p, loadSpec)
	}
	if len(c.APIs) > 0 && monitored == len(c.APIs) {
		l.add(Warning, "mode.monitor_everywhere", "apis", "every API is in monitor mode: apiguard blocks nothing")
	}
	return l.out
}

type linter struct{ out []Finding }

func (l *linter) add(s Severity, rule, field, format string, args ...any) {
	l.out = append(l.out, Finding{Severity: s, Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)})
}

func loopbackURL(u string) bool {
	rest := strings.TrimPrefix(u, "http://")
	host, _, _ := strings.Cut(rest, "/")
	if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
		host += ":80"
	}
	return config.IsLoopbackListen(host)
}

// hmacSecretKey matches the names of HMAC secrets in guard sections.
var hmacSecretKey = regexp.MustCompile(`^(secret|hs(256|384|512)?_secret|hmac_secret|jwt_secret|signing_secret)$`)

// guards inspects every guard section generically, as YAML.
func (l *linter) guards(a *config.API, p string) {
	names := make([]string, 0, len(a.Guards))
	for n := range a.Guards {
		names = append(names, n)
	}
	slices.Sort(names)
	sections, monitor := 0, 0
	for _, name := range names {
		n := a.Guards[name]
		gp := p + ".guards." + name
		sections++
		if v := mapGet(&n, "mode"); v != nil && v.Value == "monitor" {
			monitor++
			l.add(Info, "guard.monitor", gp+".mode", "the %s guard is in monitor mode: it blocks nothing", name)
		}
		if v := mapGet(&n, "enabled"); v != nil && v.Value == "false" {
			l.add(Info, "guard.disabled", gp+".enabled", "the %s guard is turned off", name)
		}
		walk(&n, gp, func(path, key string, v *yaml.Node) {
			switch {
			case key == "insecure_skip_verify" && v.Value == "true":
				l.add(Warning, "tls.insecure_skip_verify", path, "certificates are not verified")
			case (key == "origins" || key == "allow_origins" || key == "allowed_origins") && v.Kind == yaml.SequenceNode:
				for i, o := range v.Content {
					if o.Value == "*" {
						l.add(Warning, "cors.wildcard", fmt.Sprintf("%s[%d]", path, i), "CORS \"*\": every web site may read these answers from a visitor's browser; list the origins")
					}
				}
			case hmacSecretKey.MatchString(key) && v.Kind == yaml.ScalarNode && v.Value != "" && len(v.Value) < MinHMACSecretBytes:
				l.add(Warning, "authn.weak_hmac_secret", path,
					"an HMAC secret of %d bytes can be brute-forced offline from one token; use at least %d random bytes", len(v.Value), MinHMACSecretBytes)
			}
		})
	}
	if sections > 0 && monitor == sections && a.Mode != "monitor" {
		l.add(Warning, "mode.monitor_everywhere", p+".guards", "every guard of API %q is in monitor mode: it blocks nothing", a.Name)
	}
}

// login reports login operations that no rate limit covers.
func (l *linter) login(cfg *config.Loaded, a *config.API, p string, loadSpec SpecLoader) {
	if a.Spec == "" {
		return
	}
	path := a.Spec
	if !filepath.IsAbs(path) && cfg.Dir != "" {
		path = filepath.Join(cfg.Dir, path)
	}
	spec, err := loadSpec(path)
	if err != nil {
		l.add(Info, "spec.unreadable", p+".spec", "the spec could not be loaded, login operations were not checked: %v", err)
		return
	}
	rl, hasRL := a.Guards["ratelimit"]
	var mentioned []string
	catchAll := false
	if hasRL {
		walk(&rl, "", func(_, _ string, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode {
				mentioned = append(mentioned, v.Value)
			}
		})
		catchAll = hasUnscopedRule(&rl)
	}
	// The authn guard protects x-apiguard-login operations (and those it
	// lists) itself unless its login part is turned off.
	authnLogin, authnOps := false, []string(nil)
	if an, ok := a.Guards["authn"]; ok {
		ln := mapGet(&an, "login")
		if en := mapGet(ln, "enabled"); en == nil || en.Value != "false" {
			authnLogin = true
			walk(ln, "", func(_, key string, v *yaml.Node) {
				if key == "operation" {
					authnOps = append(authnOps, v.Value)
				}
			})
		}
	}
	for _, op := range spec.Operations {
		if !isLogin(op) {
			continue
		}
		_, marked := op.Extensions["x-apiguard-login"]
		_, rlMarked := op.Extensions["x-apiguard-ratelimit"]
		if authnLogin && (marked || slices.Contains(authnOps, op.ID)) {
			continue
		}
		if hasRL && (catchAll || rlMarked || slices.Contains(mentioned, op.ID) || slices.Contains(mentioned, op.Path) || slices.Contains(mentioned, op.Template)) {
			continue
		}
		l.add(Warning, "ratelimit.login_unprotected", p+".guards.ratelimit",
			"login operation %s (%s %s) has no rate limit: passwords can be brute-forced; add a ratelimit rule for it", op.ID, op.Method, op.Path)
	}
}

// isLogin reports whether an operation logs users in: x-apiguard-login,
// or an operationId or path named login / signin.
func isLogin(op *openapi.Operation) bool {
	if _, ok := op.Extensions["x-apiguard-login"]; ok {
		return true
	}
	id := strings.ToLower(op.ID)
	if id == "login" || id == "signin" || strings.HasSuffix(id, "login") {
		return true
	}
	last := op.Template[strings.LastIndexByte(op.Template, '/')+1:]
	return op.Method == "POST" && (last == "login" || last == "signin" || last == "token")
}

// hasUnscopedRule reports whether a ratelimit section has a rule that is
// not limited to some operations or paths (so it covers every one).
func hasUnscopedRule(n *yaml.Node) bool {
	found := false
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		if found || n == nil {
			return
		}
		switch n.Kind {
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Kind == yaml.MappingNode && isRule(c) && !isScoped(c) {
					found = true
					return
				}
				visit(c)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				visit(n.Content[i])
			}
		}
	}
	visit(n)
	return found
}

func isRule(n *yaml.Node) bool {
	for _, k := range []string{"limits", "limit", "rate", "requests", "per", "burst"} {
		if mapGet(n, k) != nil {
			return true
		}
	}
	return false
}

func isScoped(n *yaml.Node) bool {
	for _, k := range []string{"operations", "operation", "from_spec", "paths", "path", "match", "methods", "routes"} {
		if mapGet(n, k) != nil {
			return true
		}
	}
	return false
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// walk calls fn for every mapping value under n with its path and key.
func walk(n *yaml.Node, path string, fn func(path, key string, v *yaml.Node)) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			p := k
			if path != "" {
				p = path + "." + k
			}
			fn(p, k, v)
			walk(v, p, fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode {
				fn(p, "", c)
			}
			walk(c, p, fn)
		}
	}
}

// Worst returns the highest severity among findings, or -1 when none.
func Worst(fs []Finding) Severity {
	w := Severity(-1)
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}
