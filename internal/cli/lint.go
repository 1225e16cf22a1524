package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/lint"
)

// newLintCmd is `apiguard config lint FILE`: risky settings in a valid
// config, one line each, exit 1 at or above --fail-on.
func newLintCmd() *cobra.Command {
	var failOn string
	cmd := &cobra.Command{
		Use:   "lint FILE",
		Short: "Warn about risky settings: one line per finding; exit 1 when any is at or above --fail-on",
		Long: `Lint a config file for settings that load and run but weaken the protection:
plain HTTP on a public listener, CORS "*", monitor mode everywhere, an exposed
admin listener, insecure_skip_verify, short HMAC secrets, login operations
without a rate limit, trusted_proxies 0.0.0.0/0.

Each finding is one line: "severity rule field: message". The exit code is 1
when a finding is at or above --fail-on (info, warning or error; "none" never
fails), 0 otherwise. An invalid config is reported as by "config validate".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			threshold := lint.Severity(lint.Error + 1)
			if failOn != "none" {
				s, err := lint.ParseSeverity(failOn)
				if err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--fail-on: %w", err)}
				}
				threshold = s
			}
			cfg, err := config.Load(args[0])
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is invalid:\n", args[0])
				if errs, ok := err.(config.Errors); ok {
					for _, e := range errs {
						fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", e.Error())
					}
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %v\n", err)
				}
				return &ExitError{Code: 1}
			}
			findings := lint.Lint(cfg, nil)
			for _, f := range findings {
				fmt.Fprintln(cmd.OutOrStdout(), f.String())
			}
			if len(findings) > 0 && lint.Worst(findings) >= threshold {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&failOn, "fail-on", "warning", "lowest severity that makes the exit code 1: info, warning, error or none")
	return cmd
}
