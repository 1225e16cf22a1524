package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Format is an output format of a report.
type Format string

// Formats.
const (
	FormatText  Format = "text"
	FormatJSON  Format = "json"
	FormatSARIF Format = "sarif"
	FormatJUnit Format = "junit"
	FormatHTML  Format = "html"
)

// Formats lists every format Write accepts.
var Formats = []Format{FormatText, FormatJSON, FormatSARIF, FormatJUnit, FormatHTML}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("parsing format: %q is not one of text, json, sarif, junit, html", s)
}

// Write writes r to w in format f.
func Write(w io.Writer, f Format, r *Report) error {
	switch f {
	case FormatText:
		return WriteText(w, r)
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatSARIF:
		return WriteSARIF(w, r)
	case FormatJUnit:
		return WriteJUnit(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	}
	return fmt.Errorf("writing report: unknown format %q", f)
}

// SortFindings orders findings most severe first, then by rule, file,
// line, pointer and URL, so reports are stable.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Location.File != b.Location.File {
			return a.Location.File < b.Location.File
		}
		if a.Location.Line != b.Location.Line {
			return a.Location.Line < b.Location.Line
		}
		if a.Location.Pointer != b.Location.Pointer {
			return a.Location.Pointer < b.Location.Pointer
		}
		return a.Location.URL < b.Location.URL
	})
}

// GatewayCounts returns the number of findings per Gateway value.
func (r *Report) GatewayCounts() map[string]int {
	m := map[string]int{}
	for _, f := range r.Findings {
		if f.Gateway != "" {
			m[f.Gateway]++
		}
	}
	return m
}

// Counts returns the number of findings per severity.
func (r *Report) Counts() map[Severity]int {
	m := map[Severity]int{}
	for _, f := range r.Findings {
		m[f.Severity]++
	}
	return m
}

// checks returns r.Checks followed by a check for every finding rule not
// among them, in first-seen order.
func (r *Report) checks() []Check {
	out := append([]Check(nil), r.Checks...)
	seen := map[string]bool{}
	for _, c := range out {
		seen[c.Rule] = true
	}
	for _, f := range r.Findings {
		if seen[f.Rule] {
			continue
		}
		seen[f.Rule] = true
		out = append(out, Check{Rule: f.Rule, Title: f.Title, Category: f.Category, Severity: f.Severity, Description: f.Description, Remediation: f.Remediation})
	}
	return out
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	out := *r
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("writing json report: %w", err)
	}
	return nil
}

// where is a one-line location for people.
func (l Location) where() string {
	var parts []string
	if l.File != "" {
		s := l.File
		if l.Line > 0 {
			s += fmt.Sprintf(":%d", l.Line)
		}
		parts = append(parts, s)
	}
	if l.Method != "" || l.URL != "" {
		parts = append(parts, strings.TrimSpace(l.Method+" "+l.URL))
	}
	if l.Pointer != "" {
		parts = append(parts, "#"+l.Pointer)
	}
	if l.Operation != "" {
		parts = append(parts, "("+l.Operation+")")
	}
	return strings.Join(parts, " ")
}

var severitiesDesc = []Severity{Critical, High, Medium, Low, Info}

// WriteText writes r for people: a summary, then the findings grouped by
// severity, most severe first.
func WriteText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("%s %s: %s\n", r.Tool, r.Version, r.Target)
	if r.Score != nil {
		ew.printf("score: %d/100\n", *r.Score)
	}
	counts := r.Counts()
	ew.printf("findings: %d (critical %d, high %d, medium %d, low %d, info %d)\n",
		len(r.Findings), counts[Critical], counts[High], counts[Medium], counts[Low], counts[Info])
	if r.Gateway != "" {
		g := r.GatewayCounts()
		ew.printf("through apiguard (%s): %d closed, %d remaining, %d found only through apiguard\n",
			r.Gateway, g[GatewayClosed], g[GatewayRemaining], g[GatewayOnly])
	}
	for _, sev := range severitiesDesc {
		if counts[sev] == 0 {
			continue
		}
		ew.printf("\n%s (%d)\n", strings.ToUpper(string(sev)), counts[sev])
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			ew.printf("  [%s] %s %s\n", f.Category, f.Rule, f.Title)
			if loc := f.Location.where(); loc != "" {
				ew.printf("    at %s\n", loc)
			}
			if f.Gateway != "" {
				ew.printf("    through apiguard: %s\n", f.Gateway)
			}
			if f.Evidence != "" {
				ew.printf("    evidence: %s\n", oneLine(f.Evidence))
			}
			if f.Reproduce != "" {
				ew.printf("    reproduce: %s\n", f.Reproduce)
			}
			if f.Fix != "" {
				ew.printf("    fix with apiguard:\n")
				for _, l := range strings.Split(strings.TrimRight(f.Fix, "\n"), "\n") {
					ew.printf("      %s\n", l)
				}
			}
		}
	}
	if ew.err != nil {
		return fmt.Errorf("writing text report: %w", ew.err)
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
