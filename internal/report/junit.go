package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Time      string      `xml:"time,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Failures  []junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML: one test suite, one test case per
// check (r.Checks plus any finding rule missing there), failed (one
// failure element listing its findings) when the check found something.
func WriteJUnit(w io.Writer, r *Report) error {
	checks := r.checks()
	byRule := map[string][]Finding{}
	for _, f := range r.Findings {
		byRule[f.Rule] = append(byRule[f.Rule], f)
	}
	suite := junitSuite{Name: firstNonEmpty(r.Tool, "apiguard") + " " + r.Target, Time: "0"}
	if !r.Started.IsZero() {
		suite.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
		if !r.Finished.IsZero() {
			suite.Time = fmt.Sprintf("%.3f", r.Finished.Sub(r.Started).Seconds())
		}
	}
	for _, c := range checks {
		tc := junitCase{Name: c.Rule + ": " + c.Title, Classname: "apiguard." + firstNonEmpty(c.Category, "general")}
		if fs := byRule[c.Rule]; len(fs) > 0 {
			// one failure per test case (many JUnit readers keep only one),
			// listing every finding of the rule
			var text strings.Builder
			for i, f := range fs {
				if i > 0 {
					text.WriteString("\n")
				}
				fmt.Fprintf(&text, "%s\nseverity: %s\ncategory: %s\n", f.Title, f.Severity, f.Category)
				if loc := f.Location.where(); loc != "" {
					fmt.Fprintf(&text, "location: %s\n", loc)
				}
				if f.Gateway != "" {
					fmt.Fprintf(&text, "through apiguard: %s\n", f.Gateway)
				}
				if f.Evidence != "" {
					fmt.Fprintf(&text, "evidence: %s\n", f.Evidence)
				}
				if f.Reproduce != "" {
					fmt.Fprintf(&text, "reproduce: %s\n", f.Reproduce)
				}
				if f.Remediation != "" {
					fmt.Fprintf(&text, "remediation: %s\n", f.Remediation)
				}
			}
			msg := fmt.Sprintf("%d finding(s): %s", len(fs), fs[0].Title)
			if loc := fs[0].Location.where(); loc != "" {
				msg += " at " + loc
			}
			worst := fs[0].Severity
			for _, f := range fs {
				if f.Severity.Rank() > worst.Rank() {
					worst = f.Severity
				}
			}
			tc.Failures = append(tc.Failures, junitFailure{Message: msg, Type: string(worst), Text: text.String()})
		}
		if len(tc.Failures) > 0 {
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	doc := junitSuites{Name: "apiguard", Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("writing junit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("writing junit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("writing junit report: %w", err)
	}
	return nil
}
