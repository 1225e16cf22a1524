// Package cli holds apiguard's commands, one file per subcommand.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	_ "github.com/apiguard/apiguard/internal/guard" // every guard registers itself
)

// Version is apiguard's version, set at build time with
// -ldflags "-X github.com/apiguard/apiguard/internal/cli.Version=v1.2.3".
var Version = "dev"

// ExitError carries a process exit code through cobra.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// NewRoot returns the apiguard command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "apiguard",
		Short: "apiguard protects HTTP APIs against the OWASP API Security Top 10",
		Long: `apiguard protects HTTP APIs against the OWASP API Security Top 10 (2023).

One binary: the gateway (serve), an active scanner (scan), a static audit of
OpenAPI files (audit), the inventory learned from traffic (discover), and an
admin API. Run "apiguard serve" to protect the bundled demo API.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newConfigCmd(), newVersionCmd(), newDemobankCmd())
	root.AddCommand(newKeysCmd())
	root.AddCommand(newAdminCmd())
	root.AddCommand(newAuditCmd())
	root.AddCommand(newScanCmd())
	root.AddCommand(newDiscoverCmd())
	return root
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "apiguard:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "apiguard:", err)
	return 1
}

// Run is Main with the process's arguments and standard streams.
func Run(ctx context.Context) int {
	return Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
