package scan

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

// secret is a value that never appears in a report: it is replaced by a
// shell variable.
type secret struct {
	value, variable string
}

// AddSecret registers value (a token, password, key or a part of one) so
// that reports show $variable instead. Values shorter than 6 bytes are
// ignored (they would redact ordinary text).
func (s *Session) AddSecret(value, variable string) {
	if len(value) < 6 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range s.secrets {
		if sec.value == value {
			return
		}
	}
	s.secrets = append(s.secrets, secret{value: value, variable: variable})
	// longest first, so a token is replaced before its signature part
	sort.SliceStable(s.secrets, func(i, j int) bool { return len(s.secrets[i].value) > len(s.secrets[j].value) })
}

// Redact replaces every registered secret in text by its $VARIABLE.
func (s *Session) Redact(text string) string {
	s.mu.Lock()
	secs := append([]secret(nil), s.secrets...)
	s.mu.Unlock()
	for _, sec := range secs {
		if strings.Contains(text, sec.value) {
			text = strings.ReplaceAll(text, sec.value, "$"+sec.variable)
		}
		if esc := url.QueryEscape(sec.value); esc != sec.value && strings.Contains(text, esc) {
			text = strings.ReplaceAll(text, esc, "$"+sec.variable)
		}
	}
	return text
}

// Report records a finding. It fills the rule and category from the
// running check when empty, the location and the curl reproduction from
// the exchange, redacts secrets, and drops duplicates (same rule,
// method, operation and key); a duplicate of higher severity replaces the
// earlier one.
func (s *Session) Report(f Finding) {
	s.mu.Lock()
	chk := s.check
	s.mu.Unlock()
	if f.Rule == "" && chk != nil {
		f.Rule = chk.Name()
	}
	if f.Category == "" && chk != nil {
		f.Category = chk.Category()
	}
	if f.Severity == "" {
		f.Severity = report.Medium
		if d, ok := chk.(Describer); ok {
			f.Severity = d.Severity()
		}
	}
	if f.Remediation == "" {
		if d, ok := chk.(Describer); ok {
			f.Remediation = d.Remediation()
		}
	}
	op := f.Op
	if op == nil && f.Exchange != nil && f.Exchange.Request != nil {
		op = f.Exchange.Request.Op
	}
	rf := report.Finding{Rule: f.Rule, Title: f.Title, Category: f.Category, Severity: f.Severity,
		Description: f.Description, Evidence: f.Evidence, Remediation: f.Remediation}
	key := f.Rule + "\x00" + f.Key
	if op != nil {
		rf.Location = report.Location{Method: op.Method, URL: s.Target.Scheme + "://" + s.Target.Host + strings.TrimRight(s.Target.Path, "/") + op.Path, Operation: op.ID}
		key += "\x00" + op.Method + " " + op.Path
	}
	if f.Exchange != nil {
		rf.Location.Method = f.Exchange.Method
		if op == nil {
			u := f.Exchange.URL
			if i := strings.IndexByte(u, '?'); i >= 0 {
				u = u[:i]
			}
			rf.Location.URL = u
			key += "\x00" + f.Exchange.Method + " " + u
		}
		var lines []string
		for _, st := range f.Steps {
			if st != nil {
				lines = append(lines, s.Curl(st))
			}
		}
		lines = append(lines, s.Curl(f.Exchange))
		rf.Reproduce = strings.Join(lines, "\n")
	}
	if rf.Reproduce == "" {
		// no exchange: show where it is (the target, or the operation's path)
		u := rf.Location.URL
		if u == "" {
			u = s.Target.String()
		}
		parts := []string{"curl", "-si"}
		if m := rf.Location.Method; m != "" && m != http.MethodGet {
			parts = append(parts, "-X", m)
		}
		rf.Reproduce = strings.Join(append(parts, s.shellWord(u)), " ")
	}
	rf.Title = s.Redact(rf.Title)
	rf.Evidence = s.Redact(rf.Evidence)
	rf.Description = s.Redact(rf.Description)
	rf.Location.URL = s.Redact(rf.Location.URL)

	s.mu.Lock()
	defer s.mu.Unlock()
	if i, dup := s.seen[key]; dup {
		if rf.Severity.Rank() > s.findings[i].Severity.Rank() {
			s.findings[i] = rf
		}
		return
	}
	s.seen[key] = len(s.findings)
	s.findings = append(s.findings, rf)
}

// Findings returns the findings reported so far.
func (s *Session) Findings() []report.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Finding(nil), s.findings...)
}

// reproHeaders are the request headers a curl reproduction keeps.
var reproSkip = map[string]bool{"User-Agent": true, "Accept-Encoding": true, "Content-Length": true}

// Curl returns a shell command that sends the exchange's request again,
// with every secret replaced by a shell variable ($TOKEN_ALICE).
func (s *Session) Curl(r *Response) string {
	parts := []string{"curl", "-si"}
	if r.Method != http.MethodGet || len(r.SentBody) > 0 {
		if !(r.Method == http.MethodPost && len(r.SentBody) > 0) {
			parts = append(parts, "-X", r.Method)
		}
	}
	keys := make([]string, 0, len(r.SentHeader))
	for k := range r.SentHeader {
		if !reproSkip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "Accept" && r.SentHeader.Get(k) == "application/json" {
			continue
		}
		for _, v := range r.SentHeader[k] {
			parts = append(parts, "-H", s.shellWord(k+": "+v))
		}
	}
	if len(r.SentBody) > 0 {
		body := string(r.SentBody)
		if len(body) > 4096 {
			// a bounded oversize body: reproduce its shape, not its bytes
			parts = append(parts, "--data-binary", "@body.bin")
		} else {
			parts = append(parts, "--data-raw", s.shellWord(body))
		}
	}
	parts = append(parts, s.shellWord(r.URL))
	return strings.Join(parts, " ")
}

// shellWord quotes text for a POSIX shell, with registered secrets
// turned into "$VARIABLE" expansions.
func (s *Session) shellWord(text string) string {
	red := s.Redact(text)
	if red == text {
		return shellQuote(text)
	}
	// split at $VARIABLE occurrences produced by Redact
	s.mu.Lock()
	vars := map[string]bool{}
	for _, sec := range s.secrets {
		vars[sec.variable] = true
	}
	s.mu.Unlock()
	var b strings.Builder
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			b.WriteString(shellQuote(lit.String()))
			lit.Reset()
		}
	}
	for i := 0; i < len(red); {
		if red[i] == '$' {
			j := i + 1
			for j < len(red) && (red[j] == '_' || red[j] >= 'A' && red[j] <= 'Z' || red[j] >= '0' && red[j] <= '9') {
				j++
			}
			// longest registered variable that prefixes the run
			name := ""
			for k := j; k > i+1; k-- {
				if vars[red[i+1:k]] {
					name = red[i+1 : k]
					break
				}
			}
			if name != "" {
				flush()
				b.WriteString(`"${` + name + `}"`)
				i += 1 + len(name)
				continue
			}
		}
		lit.WriteByte(red[i])
		i++
	}
	flush()
	return b.String()
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@,+%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellName turns an identity name into the upper-case part of a shell
// variable name.
func shellName(name string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(name) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "X"
	}
	return b.String()
}
