package egress

import (
	"net/http"
	"sort"
	"strings"
)

// Injection patterns looked for in third-party answers, lower case. They
// are deliberately few and specific: an answer from a third party should
// never carry markup that runs, a database's error text, or a JNDI lookup
// (Log4Shell) aimed at whatever logs the value.
var (
	scriptPatterns = []string{"<script", "javascript:", "<iframe", "onerror=", "onload="}
	sqlErrors      = []string{
		"you have an error in your sql syntax",
		"unclosed quotation mark after the character string",
		"quoted string not properly terminated",
		"sqlstate[",
		"syntax error at or near",
		"pg::syntaxerror",
		"sqlite3.operationalerror",
		"sqlite_error",
		"ora-00933",
		"ora-01756",
		"microsoft ole db provider for sql server",
		"mysql_fetch_",
		"warning: mysql",
	}
)

const maxScanDepth = 64

// scanText returns what injection pattern s holds, or "".
func scanText(s string) string {
	l := strings.ToLower(s)
	for _, p := range scriptPatterns {
		if strings.Contains(l, p) {
			return "script pattern " + p
		}
	}
	for _, p := range sqlErrors {
		if strings.Contains(l, p) {
			return "SQL error text (" + p + ")"
		}
	}
	if jndi(l) {
		return "JNDI lookup"
	}
	return ""
}

// jndi reports a ${jndi:...} lookup, including the nested-lookup
// obfuscations (${${lower:j}ndi:...}, ${${::-j}${::-n}di:...}).
func jndi(l string) bool {
	for i := strings.Index(l, "${"); i >= 0; {
		end := min(len(l), i+128)
		win := l[i:end]
		if strings.Contains(win, "jndi") || strings.Contains(win, "${lower:") || strings.Contains(win, "${upper:") || strings.Contains(win, "${::-") || strings.Contains(win, "${env:") {
			return true
		}
		next := strings.Index(l[i+2:], "${")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return false
}

// scanJSON scans every key and string value of a decoded JSON document.
func scanJSON(v any, depth int) string {
	if depth > maxScanDepth {
		return ""
	}
	switch x := v.(type) {
	case string:
		return scanText(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if f := scanText(k); f != "" {
				return f + " in a member name"
			}
			if f := scanJSON(x[k], depth+1); f != "" {
				return f + " at /" + k
			}
		}
	case []any:
		for _, e := range x {
			if f := scanJSON(e, depth+1); f != "" {
				return f
			}
		}
	}
	return ""
}

// scanHeaders looks for CR or LF (raw or percent-encoded) in header
// values, the shape of a response-splitting payload meant for whoever
// copies the value into its own answer, and for JNDI lookups.
func scanHeaders(h http.Header) string {
	for k, vs := range h {
		for _, v := range vs {
			l := strings.ToLower(v)
			if strings.ContainsAny(v, "\r\n") || strings.Contains(l, "%0d") || strings.Contains(l, "%0a") {
				return "CR/LF in header " + k
			}
			if jndi(l) {
				return "JNDI lookup in header " + k
			}
		}
	}
	return ""
}
