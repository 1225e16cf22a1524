package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/audit"
	"github.com/apiguard/apiguard/internal/report"
)

// newAuditCmd is `apiguard audit FILE`: a static security audit of an
// OpenAPI description, with a 0-100 score.
func newAuditCmd() *cobra.Command {
	var (
		format, output string
		failBelow      int
		fixes          bool
		severities     []string
		disable        []string
	)
	cmd := &cobra.Command{
		Use:   "audit FILE",
		Short: "Audit an OpenAPI 3.0/3.1 description for security problems and score it 0-100",
		Long: `Audit an OpenAPI 3.0/3.1 description statically: missing or weak
authentication, unbounded inputs, mass assignment, SSRF-prone URL inputs,
plain HTTP servers, missing rate limits, internal endpoints and more, each
finding tagged with its OWASP API Security Top 10 (2023) category.

The report (text, json, sarif, junit or html) goes to stdout or --output.
--fix-suggestions adds, to the text report, the x-apiguard extension or
apiguard config that closes each finding. Exit codes: 0 ok, 1 when the score
is below --fail-below, 2 on usage or load errors. See docs/audit.md.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &ExitError{Code: 2, Err: fmt.Errorf("audit: want exactly one FILE, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := report.ParseFormat(format)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--format: %w", err)}
			}
			if failBelow < 0 || failBelow > 100 {
				return &ExitError{Code: 2, Err: fmt.Errorf("--fail-below: %d is not within 0..100", failBelow)}
			}
			opts := audit.Options{Version: Version, Severity: map[string]report.Severity{}, Disable: map[string]bool{}}
			known := map[string]bool{}
			for _, r := range audit.Rules() {
				known[r.ID] = true
			}
			for _, kv := range severities {
				id, sev, ok := strings.Cut(kv, "=")
				if !ok || !known[id] || report.Severity(sev).Rank() < 0 {
					return &ExitError{Code: 2, Err: fmt.Errorf("--severity %q: want RULE=info|low|medium|high|critical with a known rule id", kv)}
				}
				opts.Severity[id] = report.Severity(sev)
			}
			for _, id := range disable {
				if !known[id] {
					return &ExitError{Code: 2, Err: fmt.Errorf("--disable %q: unknown rule id", id)}
				}
				opts.Disable[id] = true
			}
			r, err := audit.Load(args[0], opts)
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			var buf bytes.Buffer
			fixOf := map[string]string{}
			for i := range r.Findings {
				fixOf[r.Findings[i].Rule] = r.Findings[i].Fix
				if !fixes || f == report.FormatText {
					// text lists fixes once per rule, below the findings
					r.Findings[i].Fix = ""
				}
			}
			if err := report.Write(&buf, f, r); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			if fixes && f == report.FormatText {
				writeFixSummary(&buf, r, fixOf)
			}
			var w io.Writer = cmd.OutOrStdout()
			if output != "" && output != "-" {
				if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("writing report: %w", err)}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "audit: score %d/100, %d findings, report in %s\n", *r.Score, len(r.Findings), output)
			} else if _, err := w.Write(buf.Bytes()); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("writing report: %w", err)}
			}
			if cmd.Flags().Changed("fail-below") && *r.Score < failBelow {
				return &ExitError{Code: 1, Err: fmt.Errorf("audit: score %d is below %d", *r.Score, failBelow)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "report format: text, json, sarif, junit or html")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the report to this file instead of stdout")
	cmd.Flags().IntVar(&failBelow, "fail-below", 0, "exit 1 when the score is below N (0-100)")
	cmd.Flags().StringArrayVar(&severities, "severity", nil, "override a rule's severity: RULE=info|low|medium|high|critical (repeatable)")
	cmd.Flags().StringArrayVar(&disable, "disable", nil, "do not run this rule (repeatable)")
	cmd.Flags().BoolVar(&fixes, "fix-suggestions", false, "include the x-apiguard extensions or config that close each finding")
	return cmd
}

// writeFixSummary appends one block per rule that fired: the apiguard
// setting that closes its findings.
func writeFixSummary(w io.Writer, r *report.Report, fix map[string]string) {
	n := map[string]int{}
	for _, f := range r.Findings {
		n[f.Rule]++
	}
	if len(n) == 0 {
		return
	}
	ids := make([]string, 0, len(n))
	for id := range n {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(w, "\nFIX SUGGESTIONS (per rule)\n")
	for _, id := range ids {
		fmt.Fprintf(w, "  %s (%d):\n", id, n[id])
		for _, l := range strings.Split(fix[id], "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}
