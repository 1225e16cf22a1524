package checks

// Pure decisions of the inventory check (API9): the bounded word list of
// undocumented paths, version variants of documented paths, and the
// catch-all fingerprint that keeps a single-page app's "200 for every
// path" from looking like a shadow endpoint.

import (
	"crypto/sha256"
	"mime"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// inventoryWords are undocumented paths worth a GET: old and future
// versions, debug and admin consoles, framework endpoints and published
// API descriptions. The list is bounded on purpose.
var inventoryWords = []string{
	"/v0", "/v1", "/v2", "/v3", "/api", "/api/v0", "/api/v1", "/api/v2", "/api/v3", "/api/internal",
	"/internal", "/internal/debug", "/internal/config", "/internal/status",
	"/debug", "/debug/vars", "/debug/pprof/", "/debug/config",
	"/admin", "/admin/config", "/management", "/console",
	"/actuator", "/actuator/env", "/actuator/configprops", "/actuator/mappings",
	"/swagger.json", "/swagger.yaml", "/swagger-ui.html", "/openapi.json", "/openapi.yaml", "/api-docs", "/v2/api-docs", "/v3/api-docs",
	"/.env", "/config", "/config.json", "/env", "/server-status", "/metrics", "/status", "/info",
	"/graphql", "/test", "/old", "/backup", "/beta", "/dev",
}

// prefixWords are appended to each documented API root (such as /api/v1).
var prefixWords = []string{"/internal", "/debug", "/admin", "/config", "/export"}

// specDocPaths are the words that publish an API description: a 2xx there
// is reported as information, not as a shadow endpoint.
var specDocPaths = map[string]bool{
	"/swagger.json": true, "/swagger.yaml": true, "/swagger-ui.html": true, "/openapi.json": true,
	"/openapi.yaml": true, "/api-docs": true, "/v2/api-docs": true, "/v3/api-docs": true,
}

var versionSeg = regexp.MustCompile(`^v(\d{1,3})$`)

// apiRoots returns the distinct roots of the documented paths up to and
// including their version segment (/api/v1 for /api/v1/users/{id}), or
// their first segment when they have none, at most max of them, sorted.
func apiRoots(templates []string, max int) []string {
	set := map[string]bool{}
	for _, t := range templates {
		segs := strings.Split(strings.Trim(t, "/"), "/")
		root := ""
		for i, s := range segs {
			if strings.Contains(s, "{") || i == 3 {
				break
			}
			root += "/" + s
			if versionSeg.MatchString(s) {
				break
			}
		}
		if root != "" && !strings.HasPrefix(root, "/.") {
			set[root] = true
		}
	}
	var out []string
	for r := range set {
		if strings.Count(r, "/") >= 1 {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// versionVariants returns templates that differ from tmpl only by the
// version of its first vN segment: v0 up to vN+1 (at most 4 of them,
// nearest first), excluding tmpl itself.
func versionVariants(tmpl string) []string {
	segs := strings.Split(tmpl, "/")
	for i, s := range segs {
		m := versionSeg.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		var versions []int
		for _, v := range []int{n - 1, n + 1, 0, n - 2} {
			if v >= 0 && v != n && !containsInt(versions, v) {
				versions = append(versions, v)
			}
		}
		var out []string
		for _, v := range versions {
			c := append([]string(nil), segs...)
			c[i] = "v" + strconv.Itoa(v)
			out = append(out, strings.Join(c, "/"))
		}
		return out
	}
	return nil
}

func containsInt(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// fingerprint summarises an answer to compare it with the answer to a
// path that cannot exist: status, media type, body length bucket and a
// hash of the body with the requested path removed (pages that echo the
// path stay equal).
type fingerprint struct {
	status    int
	media     string
	sizeClass int
	sum       [32]byte
}

func fingerprintOf(status int, contentType string, body []byte, path string) fingerprint {
	mt, _, _ := mime.ParseMediaType(contentType)
	b := string(body)
	if path != "" {
		b = strings.ReplaceAll(b, path, "")
		b = strings.ReplaceAll(b, strings.TrimPrefix(path, "/"), "")
	}
	return fingerprint{status: status, media: mt, sizeClass: len(b) / 64, sum: sha256.Sum256([]byte(b))}
}

// sameAsCatchAll reports whether an answer looks like the answer to a
// nonexistent path: the same status and, for a 2xx catch-all (a
// single-page app), the same media type and a body of the same size class
// or the same content.
func sameAsCatchAll(probe, baseline fingerprint) bool {
	if probe.status != baseline.status {
		return false
	}
	if probe.status < 200 || probe.status >= 300 {
		return true
	}
	return probe.media == baseline.media && (probe.sum == baseline.sum || probe.sizeClass == baseline.sizeClass)
}

// substantive reports whether a 2xx answer carries data: a JSON object
// with at least two members, a non-empty list or a non-empty nested
// object, a non-empty JSON array, or any other body of 64 bytes or more.
func substantive(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	if strings.HasSuffix(mt, "json") {
		switch v := decodeJSON(body).(type) {
		case map[string]any:
			if len(v) >= 2 || itemCount(v) > 0 {
				return true
			}
			for _, e := range v {
				if m, ok := e.(map[string]any); ok && len(m) > 0 {
					return true
				}
			}
		case []any:
			return len(v) > 0
		}
		return false
	}
	return len(strings.TrimSpace(string(body))) >= 64
}
