package checks

// Detectors shared by the resource, misconfiguration, inventory,
// injection and consumption checks: pure functions over answers, so the
// decisions are table-tested without a target.

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// stackTracePatterns recognise a stack trace or an exception dump in an
// answer body, by runtime.
var stackTracePatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"Go stack trace", regexp.MustCompile(`goroutine \d+ \[[a-z ]+\]:|\.go:\d+ \+0x[0-9a-f]+|runtime/debug\.Stack\(`)},
	{"Java stack trace", regexp.MustCompile(`(?m)\bat [a-zA-Z_$][\w$]*(\.[\w$<>]+)+\([\w$]+\.java:\d+\)|Exception in thread "|\bjava\.lang\.[A-Z]\w*(Exception|Error)\b`)},
	{"Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)|File "[^"]+\.py", line \d+`)},
	{".NET stack trace", regexp.MustCompile(`\bat [\w.]+\([^)]*\) in [^\n]+:line \d+|System\.[A-Z]\w*Exception\b`)},
	{"Node.js stack trace", regexp.MustCompile(`\bat (?:[\w.<>]+ )?\(?(?:/|[A-Za-z]:\\|node:)[^)\n]+\.(?:js|ts|mjs|cjs):\d+:\d+\)?`)},
	{"PHP error", regexp.MustCompile(`(?:Fatal error|Parse error|Warning|Notice): .+ in [^\n]+\.php on line \d+|#\d+ [^\n]+\.php\(\d+\)`)},
	{"Ruby backtrace", regexp.MustCompile(`\.rb:\d+:in ` + "`")},
}

// stackTrace names the kind of stack trace body carries ("" for none).
func stackTrace(body string) string {
	for _, p := range stackTracePatterns {
		if p.re.MatchString(body) {
			return p.kind
		}
	}
	return ""
}

// sqlErrorPatterns recognise database error messages and SQL text.
var sqlErrorPatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"SQLite error", regexp.MustCompile(`(?i)SQLITE_ERROR|sqlite3?[._ ]\w*error|SQL logic error|unrecognized token: |near "[^"]*": syntax error|no such (?:column|table): `)},
	{"MySQL error", regexp.MustCompile(`(?i)You have an error in your SQL syntax|mysql_fetch|MySQLSyntaxErrorException|check the manual that corresponds to your (?:MySQL|MariaDB) server version|Error 1064`)},
	{"PostgreSQL error", regexp.MustCompile(`(?i)PG::SyntaxError|pq: syntax error|ERROR:\s+syntax error at or near|unterminated quoted string at or near|SQLSTATE\[?[0-9A-Z]{5}|PSQLException`)},
	{"SQL Server error", regexp.MustCompile(`(?i)Unclosed quotation mark after the character string|Microsoft OLE DB Provider for SQL Server|\[SQL Server\]|SqlException`)},
	{"Oracle error", regexp.MustCompile(`\bORA-\d{5}\b`)},
	{"ODBC/JDBC error", regexp.MustCompile(`(?i)\[ODBC [^\]]*Driver\]|java\.sql\.SQL\w*Exception|SQLSyntaxErrorException`)},
	{"SQL statement", regexp.MustCompile(`(?s)\bSELECT\b[^;]{1,300}?\bFROM\s+\w+|\bINSERT\s+INTO\s+\w+|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\s+\w+`)},
}

// sqlError names the kind of SQL error or fragment body carries ("" for none).
func sqlError(body string) string {
	for _, p := range sqlErrorPatterns {
		if p.re.MatchString(body) {
			return p.kind
		}
	}
	return ""
}

// sensitivePatterns recognise secrets and personal data that no API should
// answer to a caller who is not their owner.
var sensitivePatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"database DSN with a password", regexp.MustCompile(`(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|amqp|mssql|sqlserver|oracle)://[^\s:/@"']+:[^\s@/"']+@`)},
	{"private key", regexp.MustCompile(`-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----`)},
	{"AWS access key id", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"password hash", regexp.MustCompile(`\$(?:2[aby]|argon2(?:id|i|d)|pbkdf2(?:-sha\d+)?|scrypt|6|5|1)\$[./A-Za-z0-9$=,+-]{8,}`)},
	{"US social security number", regexp.MustCompile(`"(?i:ssn|social_security(?:_number)?|socialSecurityNumber)"\s*:\s*"\d{3}-?\d{2}-?\d{4}"`)},
	{"secret in a configuration member", regexp.MustCompile(`"(?i:[a-z_]*(?:password|passwd|secret|api_?key|private_?key|client_secret|dsn))"\s*:\s*"[^"\s]{6,}"`)},
}

// sensitiveData lists the kinds of secrets body carries, sorted.
func sensitiveData(body string) []string {
	var out []string
	for _, p := range sensitivePatterns {
		if p.re.MatchString(body) {
			out = append(out, p.kind)
		}
	}
	sort.Strings(out)
	return out
}

// itemCount is the length of the largest JSON array in v at depth ≤ 2
// (a top-level array, or a member such as items/data/results, or one
// level deeper as in {"data":{"items":[…]}}); a null member counts as an
// empty list; -1 when there is none.
func itemCount(v any) int {
	return largestArray(v, 0)
}

func largestArray(v any, depth int) int {
	best := -1
	switch t := v.(type) {
	case []any:
		return len(t)
	case map[string]any:
		if depth >= 2 {
			return -1
		}
		for _, e := range t {
			n := largestArray(e, depth+1)
			if e == nil {
				n = 0 // {"items": null}: an empty list as many encoders write it
			}
			if n > best {
				best = n
			}
		}
	}
	return best
}

// jsonItems decodes body and returns itemCount of it (-1 when the body is
// not JSON or has no array).
func jsonItems(body []byte) int {
	v := decodeJSON(body)
	if v == nil {
		return -1
	}
	return itemCount(v)
}

// excerpt returns at most n bytes of s around the first occurrence of
// needle (or from the start), on one line, for evidence.
func excerpt(s, needle string, n int) string {
	i := 0
	if needle != "" {
		if j := strings.Index(s, needle); j > n/4 {
			i = j - n/4
		}
	}
	s = s[i:]
	if len(s) > n {
		s = s[:n] + "…"
	}
	if i > 0 {
		s = "…" + s
	}
	return strings.Join(strings.Fields(s), " ")
}

// firstMatch returns the first match of the pattern of kind in body.
func firstMatch(body, kind string) string {
	for _, list := range [][]struct {
		kind string
		re   *regexp.Regexp
	}{stackTracePatterns, sqlErrorPatterns, sensitivePatterns} {
		for _, p := range list {
			if p.kind == kind {
				return p.re.FindString(body)
			}
		}
	}
	return ""
}

// decodeJSON decodes body, nil when it is not JSON.
func decodeJSON(body []byte) any {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil
	}
	return v
}
