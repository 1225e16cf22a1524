package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/examples/demobank"
)

func newDemobankCmd() *cobra.Command {
	var listen string
	var fixed bool
	cmd := &cobra.Command{
		Use:   "demobank",
		Short: "Run demobank, the deliberately vulnerable demo API (docs/demobank.md)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			bank, err := demobank.New(demobank.Options{Fixed: fixed, Logger: logger})
			if err != nil {
				return err
			}
			defer bank.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			mode := "VULNERABLE (do not expose it)"
			if fixed {
				mode = "fixed"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "demobank (%s) listening on http://%s\n", mode, ln.Addr())
			return serveUntilDone(ctx, &http.Server{Handler: bank, ReadHeaderTimeout: 5 * time.Second}, ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on")
	cmd.Flags().BoolVar(&fixed, "fixed", false, "switch every planted vulnerability off")
	return cmd
}

// serveUntilDone serves until ctx ends, then shuts down gracefully.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
