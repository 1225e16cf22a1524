package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
	"github.com/apiguard/apiguard/internal/scan/checks"
)

// scanFlags are the flags of `apiguard scan`.
type scanFlags struct {
	spec, target, gateway            string
	users, headerUsers               []string
	admin, headerAdmin               string
	loginOp, tokenPath               string
	rate                             float64
	budget                           int
	timeout                          time.Duration
	destructive                      bool
	format, output, failOn           string
	only, skip                       []string
	canaryListen                     string
	noCanary, noProgress, listChecks bool
}

// newScanCmd is `apiguard scan`: an active scan of a running API.
func newScanCmd() *cobra.Command {
	var fl scanFlags
	cmd := &cobra.Command{
		Use:   "scan --spec FILE --target URL --user NAME:PASSWORD --user NAME:PASSWORD [flags]",
		Short: "Attack a running API with several identities and report OWASP API Top 10 findings",
		Long: `Scan a running API described by an OpenAPI 3.0/3.1 file: log the identities
in, learn which objects each owns, then attack it (broken object and function
level authorization, broken authentication and tokens, mass assignment and data
exposure, resource limits, business flows, SSRF, misconfiguration, inventory,
unsafe consumption, injection). Each finding has its OWASP category, a severity,
the evidence and a curl line that reproduces it (tokens and passwords appear as
$TOKEN_<NAME> and $PASSWORD_<NAME>).

Only the target's scheme, host and port are contacted (plus the scan's own
loopback canary, which the target is asked to call); requests are capped by
--rate, --budget and --timeout; POST, PUT, PATCH and DELETE (other than the
login) are sent only with --allow-destructive.

Exit codes: 0 no finding at or above --fail-on, 1 such findings, 2 usage,
spec, login or network errors. See docs/scan.md.`,
		Example: `  apiguard scan --spec examples/demobank/openapi.yaml --target http://127.0.0.1:8081 \
    --user alice:alice-pass --user bob:bob-pass --admin admin:admin-pass \
    --allow-destructive --format sarif --output report.sarif --fail-on high`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.listChecks {
				for _, c := range checks.All() {
					title := ""
					if d, ok := c.(scan.Describer); ok {
						title = string(d.Severity()) + "  " + d.Title()
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%-28s %-6s %s\n", c.Name(), c.Category(), title)
				}
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runScan(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.spec, "spec", "", "the API's OpenAPI 3.0/3.1 file (required)")
	f.StringVar(&fl.target, "target", "", "the API's base URL, e.g. http://127.0.0.1:8081 (required)")
	f.StringArrayVar(&fl.users, "user", nil, "an ordinary user, NAME:PASSWORD, logged in with the login operation (repeatable; two or more for the cross-user checks)")
	f.StringArrayVar(&fl.headerUsers, "header-user", nil, "an ordinary user given as a header, NAME='Header: value' (repeatable)")
	f.StringVar(&fl.admin, "admin", "", "an admin identity, NAME:PASSWORD")
	f.StringVar(&fl.headerAdmin, "header-admin", "", "an admin identity given as a header, NAME='Header: value'")
	f.StringVar(&fl.loginOp, "login-op", "", "operationId of the login operation (found in the spec when empty)")
	f.StringVar(&fl.tokenPath, "token-path", "", "where the token is in the login answer, e.g. access_token or data.token (found when empty)")
	f.Float64Var(&fl.rate, "rate", scan.DefaultRate, "requests per second at most (bursts of rate-limit checks excepted, within --budget)")
	f.IntVar(&fl.budget, "budget", scan.DefaultBudget, "requests at most, in total")
	f.DurationVar(&fl.timeout, "timeout", scan.DefaultTimeout, "time bound of the scan (each of the two with --compare-gateway)")
	f.BoolVar(&fl.destructive, "allow-destructive", false, "send POST, PUT, PATCH and DELETE (writes, transfers, mass assignment, SSRF probes); never against production data")
	f.StringVar(&fl.format, "format", "text", "report format: text, json, sarif, junit or html")
	f.StringVarP(&fl.output, "output", "o", "", "write the report to this file instead of stdout")
	f.StringVar(&fl.failOn, "fail-on", "", "exit 1 when a finding has this severity or higher: info, low, medium, high or critical")
	f.StringVar(&fl.gateway, "compare-gateway", "", "also scan the API through apiguard at this URL and mark each finding closed or remaining")
	f.StringArrayVar(&fl.only, "check", nil, "run only this check (rule id, repeatable; see --list-checks)")
	f.StringArrayVar(&fl.skip, "skip", nil, "do not run this check (rule id, repeatable)")
	f.StringVar(&fl.canaryListen, "canary-listen", "127.0.0.1:0", "address of the scan's canary listener (SSRF and callback checks)")
	f.BoolVar(&fl.noCanary, "no-canary", false, "do not start the canary listener (SSRF and callback checks are skipped)")
	f.BoolVar(&fl.noProgress, "no-progress", false, "no progress output on stderr")
	f.BoolVar(&fl.listChecks, "list-checks", false, "list the checks and exit")
	return cmd
}

func usageErr(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf("scan: "+format, args...)}
}

// parseCredential reads NAME:PASSWORD.
func parseCredential(flag, v string) (scan.Credential, error) {
	name, pass, ok := strings.Cut(v, ":")
	if !ok || name == "" || pass == "" {
		return scan.Credential{}, usageErr("--%s %q: want NAME:PASSWORD", flag, redactAfterColon(v))
	}
	return scan.Credential{Name: name, Username: name, Password: pass}, nil
}

// parseHeaderCredential reads NAME=Header: value.
func parseHeaderCredential(flag, v string) (scan.Credential, error) {
	name, hv, ok := strings.Cut(v, "=")
	hname, hval, ok2 := strings.Cut(hv, ":")
	if !ok || !ok2 || name == "" || strings.TrimSpace(hname) == "" || strings.TrimSpace(hval) == "" {
		return scan.Credential{}, usageErr("--%s: want NAME='Header: value'", flag)
	}
	h := http.Header{}
	h.Set(strings.TrimSpace(hname), strings.TrimSpace(hval))
	return scan.Credential{Name: name, Header: h}, nil
}

func redactAfterColon(v string) string {
	if name, _, ok := strings.Cut(v, ":"); ok {
		return name + ":…"
	}
	return v
}

func runScan(ctx context.Context, stdout, stderr io.Writer, fl scanFlags) error {
	if fl.spec == "" || fl.target == "" {
		return usageErr("--spec and --target are required")
	}
	format, err := report.ParseFormat(fl.format)
	if err != nil {
		return usageErr("--format: %w", err)
	}
	var failOn report.Severity
	if fl.failOn != "" {
		failOn = report.Severity(strings.ToLower(fl.failOn))
		if failOn.Rank() < 0 {
			return usageErr("--fail-on %q: want info, low, medium, high or critical", fl.failOn)
		}
	}
	if fl.rate <= 0 || fl.budget <= 0 || fl.timeout <= 0 {
		return usageErr("--rate, --budget and --timeout must be positive")
	}
	var users []scan.Credential
	for _, u := range fl.users {
		c, err := parseCredential("user", u)
		if err != nil {
			return err
		}
		users = append(users, c)
	}
	for _, u := range fl.headerUsers {
		c, err := parseHeaderCredential("header-user", u)
		if err != nil {
			return err
		}
		users = append(users, c)
	}
	if len(users) == 0 {
		return usageErr("give at least one --user or --header-user (two for the cross-user checks)")
	}
	var admin *scan.Credential
	switch {
	case fl.admin != "" && fl.headerAdmin != "":
		return usageErr("--admin and --header-admin exclude each other")
	case fl.admin != "":
		c, err := parseCredential("admin", fl.admin)
		if err != nil {
			return err
		}
		admin = &c
	case fl.headerAdmin != "":
		c, err := parseHeaderCredential("header-admin", fl.headerAdmin)
		if err != nil {
			return err
		}
		admin = &c
	}
	selected, err := selectChecks(fl.only, fl.skip)
	if err != nil {
		return err
	}
	spec, err := openapi.Load(fl.spec)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}

	var progress io.Writer
	tty := false
	if !fl.noProgress {
		progress = stderr
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				tty = true
			}
		}
	}
	opts := func(target string) scan.Options {
		return scan.Options{Spec: spec, Target: target, Users: users, Admin: admin, LoginOp: fl.loginOp, TokenPath: fl.tokenPath,
			Rate: fl.rate, Budget: fl.budget, Timeout: fl.timeout, AllowDestructive: fl.destructive, Checks: selected,
			CanaryListen: fl.canaryListen, NoCanary: fl.noCanary, Progress: progress, TTY: tty, Version: Version}
	}
	// log every identity in before anything runs: the lockout probe of the
	// direct scan must not lock out the identities of the gateway scan
	direct, err := scan.NewSession(ctx, opts(fl.target))
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	var through *scan.Session
	if fl.gateway != "" {
		if through, err = scan.NewSession(ctx, opts(fl.gateway)); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("through apiguard: %w", err)}
		}
	}
	res, err := direct.Run(ctx)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	rep := res.Report
	incomplete := res.Incomplete
	if through != nil {
		if progress != nil {
			fmt.Fprintf(progress, "scan: again through apiguard at %s\n", fl.gateway)
		}
		gres, err := through.Run(ctx)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("through apiguard: %w", err)}
		}
		rep = scan.Compare(rep, gres.Report)
		incomplete = incomplete || gres.Incomplete
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, format, rep); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if fl.output != "" && fl.output != "-" {
		if err := os.WriteFile(fl.output, buf.Bytes(), 0o644); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: writing report: %w", err)}
		}
	} else if _, err := stdout.Write(buf.Bytes()); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: writing report: %w", err)}
	}
	c := rep.Counts()
	summary := fmt.Sprintf("scan: %d findings (critical %d, high %d, medium %d, low %d, info %d), %d requests in %s",
		len(rep.Findings), c[report.Critical], c[report.High], c[report.Medium], c[report.Low], c[report.Info], res.Requests, res.Duration.Round(100*time.Millisecond))
	if fl.output != "" && fl.output != "-" {
		summary += ", report in " + fl.output
	}
	if incomplete {
		summary += " (incomplete: the budget or time bound ended it early)"
	}
	fmt.Fprintln(stderr, summary)
	if failOn != "" {
		worst := 0
		for _, f := range scan.Remaining(rep) {
			if f.Severity.Rank() >= failOn.Rank() {
				worst++
			}
		}
		if worst > 0 {
			return &ExitError{Code: 1, Err: fmt.Errorf("scan: %d findings at or above %s", worst, failOn)}
		}
	}
	return nil
}

// selectChecks applies --check and --skip to checks.All().
func selectChecks(only, skip []string) ([]scan.Check, error) {
	all := checks.All()
	known := map[string]bool{}
	for _, c := range all {
		known[c.Name()] = true
	}
	for _, id := range append(append([]string(nil), only...), skip...) {
		if !known[id] {
			return nil, usageErr("unknown check %q (see --list-checks)", id)
		}
	}
	want := map[string]bool{}
	for _, id := range only {
		want[id] = true
	}
	skipped := map[string]bool{}
	for _, id := range skip {
		skipped[id] = true
	}
	var out []scan.Check
	for _, c := range all {
		if len(want) > 0 && !want[c.Name()] || skipped[c.Name()] {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, usageErr("no check left to run")
	}
	return out, nil
}
