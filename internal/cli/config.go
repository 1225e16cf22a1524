package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/egress"
	"github.com/apiguard/apiguard/internal/gateway"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate a configuration or print its JSON Schema",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file: every error with its field path; exit 1 when invalid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err == nil {
				err = gateway.Check(cfg, gateway.Options{})
			}
			if err == nil && cfg.Egress.Listen != "" {
				// The egress destinations load their CA and spec files.
				var p *egress.Proxy
				if p, err = egress.New(cfg, nil); err == nil {
					_ = p.Shutdown(cmd.Context())
				}
			}
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d API(s)\n", args[0], len(cfg.APIs))
			return nil
		},
	})
	cmd.AddCommand(newLintCmd())
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config file (also in docs/config.schema.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.Schema())
			return err
		},
	})
	return cmd
}
