package errors

import "regexp"

// defaultSignatures are the built-in leak signatures: stack traces of the
// common runtimes, database error texts and absolute file paths. They are
// matched on error answers only, never on the hot path of a 2xx.
var defaultSignatures = []signature{
	{"go_stack", regexp.MustCompile(`goroutine \d+ \[[a-zA-Z ,0-9]+\]:|(?m)^panic: |\.go:\d+ \+0x[0-9a-f]+|runtime/debug\.Stack\(`)},
	{"java_stack", regexp.MustCompile(`(?m)^\s*at [\w$.<>/]+\([\w$ ]+\.(java|kt|scala|groovy):\d+\)|Exception in thread "|\b(java|javax|jakarta|org\.springframework|org\.hibernate)\.[\w.$]+(Exception|Error)\b`)},
	{"python_stack", regexp.MustCompile(`Traceback \(most recent call last\):|File "[^"\n]+", line \d+, in `)},
	{"dotnet_stack", regexp.MustCompile(`(?m)^\s*at [\w.+<>` + "`" + `]+\(.*\) in .+:line \d+|\bSystem\.[\w.]+Exception\b|--- End of inner exception stack trace ---`)},
	{"node_stack", regexp.MustCompile(`(?m)^\s*at (.+ \()?(/|[A-Za-z]:\\|node:|file://)[^)\n]*:\d+:\d+\)?$|at Module\._compile|\(node:internal/`)},
	{"php_error", regexp.MustCompile(`(?i)(fatal error|parse error|warning|notice)(</b>)?:  ?.+ on line (<b>)?\d+|Stack trace:\s*#0 `)},
	{"ruby_stack", regexp.MustCompile(`\.rb:\d+:in [` + "`" + `']`)},
	{"sql_error", regexp.MustCompile(`SQLSTATE\[?[0-9A-Z]{5}|syntax error at or near|You have an error in your SQL syntax|SQLITE_[A-Z]+|SQL logic error|unrecognized token: |near "[^"\n]*": syntax error|\bORA-\d{5}\b|Unclosed quotation mark after the character string|\bpq: |\bPG::\w+|psycopg2?\.(errors\.)?\w+|com\.mysql\.jdbc|org\.postgresql\.util\.PSQLException|\bMySqlException\b|\bSqlException\b|no such (table|column): `)},
	{"file_path", regexp.MustCompile(`(^|[\s"'(=:\[])/(home|root|usr|var|opt|srv|app|etc|tmp|Users|go|src|build|workspace|proc)/[\w.\-@]+/[\w.\-/@]+|\b[A-Za-z]:\\(Users|Windows|inetpub|Program Files|src|app|build)\\`)},
}
